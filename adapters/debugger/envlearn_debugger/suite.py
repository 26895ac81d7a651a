"""The bundled ``debugger`` suite, task folders, and the importer for bug benchmarks.

A task folder holds ``task.yaml`` (id, backend, split, instruction, which files are editable
and which are tests, what runs under the debugger, the oracle) and ``files/`` (the buggy
program and its tests, copied into the work dir).  ``envlearn debugger-import`` turns a bug
benchmark into such folders:

* ``SRC/buggy/``, ``SRC/fixed/``, ``SRC/tests/`` matched by file name (``buggy/median.py``,
  ``fixed/median.py``, ``tests/test_median.py`` or ``tests/median_test.py``; C:
  ``buggy/sum.c``, ``fixed/sum.c``, ``tests/sum.json``), or
* one folder per bug, each with its own ``buggy/``, ``fixed/`` and ``tests/``.

Every candidate is checked by running it: the tests must fail on the buggy program and pass on
the fixed one, and the generated oracle (break where the fix is, run to it, look, then edit)
must score 1.  What cannot be converted is refused with a reason per program.
"""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from envlearn.channels import Task
from envlearn_debugger.adapter import task_problem

__all__ = [
    "Candidate",
    "build_oracle",
    "cli_import",
    "find_candidates",
    "import_bugs",
    "load_bundled_tasks",
    "load_task_dir",
    "load_task_tree",
]

MAX_FILE_BYTES = 64 * 1024
_KEYS = {
    "id",
    "backend",
    "split",
    "category",
    "instruction",
    "editable",
    "tests",
    "sources",
    "debug",
    "max_turns",
    "timeout_s",
    "baseline",
    "per_test_s",
    "oracle",
    "origin",
}


def load_task_dir(d: Path) -> Task:
    """One task folder (``task.yaml`` + ``files/``) as a :class:`Task`."""
    spec_path = d / "task.yaml"
    try:
        spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{spec_path}: cannot read it: {e}") from e
    if not isinstance(spec, dict):
        raise ValueError(f"{spec_path}: expected a mapping of task settings")
    unknown = set(spec) - _KEYS
    if unknown:
        raise ValueError(f"{spec_path}: unknown keys {sorted(unknown)} (known: {sorted(_KEYS)})")
    files_dir = d / "files"
    if not files_dir.is_dir():
        raise ValueError(f"{d}: no files/ folder (the program and its tests go there)")
    files = {
        str(p.relative_to(files_dir)): p.read_text(encoding="utf-8")
        for p in sorted(files_dir.rglob("*"))
        if p.is_file()
    }
    data: dict[str, Any] = {
        k: spec[k]
        for k in (
            "backend",
            "editable",
            "tests",
            "sources",
            "debug",
            "timeout_s",
            "per_test_s",
            "baseline",
        )
        if k in spec
    }
    data["files"] = files
    data["category"] = spec.get("category", "")
    if "origin" in spec:
        data["origin"] = spec["origin"]
    task = Task(
        id=str(spec.get("id", d.name)),
        adapter="debugger",
        instruction=str(spec.get("instruction", "")).strip(),
        split=spec.get("split", "train"),
        max_turns=int(spec.get("max_turns", 6)),
        oracle=list(spec["oracle"]) if spec.get("oracle") else None,
        data=data,
    )
    problem = task_problem(task)
    if problem is not None:
        raise ValueError(f"{spec_path}: {problem}")
    return task


def load_task_tree(root: Path | str) -> list[Task]:
    """Every task folder under ``root`` (one level), sorted by id."""
    root = Path(root)
    dirs = sorted(p for p in root.iterdir() if (p / "task.yaml").is_file())
    return sorted((load_task_dir(p) for p in dirs), key=lambda t: t.id)


def load_bundled_tasks() -> list[Task]:
    """The bundled suite of buggy programs (train and held-out)."""
    return load_task_tree(Path(__file__).parent / "programs")


def write_task_dir(task: Task, dest: Path) -> Path:
    """Write a task as a folder ``dest/<id>`` (``task.yaml`` + ``files/``)."""
    d = dest / task.id
    (d / "files").mkdir(parents=True, exist_ok=True)
    for name, text in task.data["files"].items():
        p = d / "files" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    spec: dict[str, Any] = {"id": task.id, "split": task.split, "max_turns": task.max_turns}
    for k in ("backend", "category", "editable", "tests", "sources", "debug", "baseline", "origin"):
        if task.data.get(k) not in (None, ""):
            spec[k] = task.data[k]
    spec["instruction"] = task.instruction
    spec["oracle"] = task.oracle or []
    (d / "task.yaml").write_text(
        yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8"
    )
    return d


# ------------------------------------------------------------------------------------------
# the importer


@dataclass
class Candidate:
    """One bug found in a benchmark: its name, buggy and fixed files, and test files."""

    name: str
    buggy: dict[str, str]
    fixed: dict[str, str]
    tests: dict[str, str]
    problem: str | None = None


def _read_text(p: Path) -> str:
    if p.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{p.name} is larger than {MAX_FILE_BYTES} bytes")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{p.name} is not UTF-8 text") from e


def _tests_for(stem: str, suffix: str, tests_dir: Path) -> list[Path]:
    names = (
        [f"test_{stem}.py", f"{stem}_test.py", f"{stem}.py"]
        if suffix == ".py"
        else [f"{stem}.json", f"test_{stem}.json"]
    )
    return [tests_dir / n for n in names if (tests_dir / n).is_file()]


def _from_triple(root: Path, name_prefix: str = "") -> list[Candidate]:
    """Candidates of a ``buggy/ fixed/ tests/`` folder, matched by file name."""
    buggy_dir, fixed_dir, tests_dir = root / "buggy", root / "fixed", root / "tests"
    out: list[Candidate] = []
    for b in sorted(p for p in buggy_dir.iterdir() if p.is_file()):
        name = name_prefix or b.stem
        c = Candidate(name=name, buggy={}, fixed={}, tests={})
        out.append(c)
        try:
            if b.suffix not in (".py", ".c"):
                raise ValueError(f"{b.name}: only Python (.py) and C (.c) programs are supported")
            f = fixed_dir / b.name
            if not f.is_file():
                raise ValueError(f"no fixed/{b.name} to match buggy/{b.name}")
            tests = _tests_for(b.stem, b.suffix, tests_dir)
            if not tests:
                want = "test_NAME.py or NAME_test.py" if b.suffix == ".py" else "NAME.json"
                raise ValueError(f"no tests for {b.name} in tests/ (expected {want})")
            c.buggy[b.name] = _read_text(b)
            c.fixed[b.name] = _read_text(f)
            for t in tests[:1]:
                c.tests[t.name] = _read_text(t)
            if c.buggy[b.name] == c.fixed[b.name]:
                raise ValueError(f"buggy/{b.name} and fixed/{b.name} are identical")
            if t.name == b.name:
                raise ValueError(f"the test file has the program's name {b.name}: rename it")
        except (OSError, ValueError) as e:
            c.problem = str(e)
        if name_prefix:
            break
    return out


def find_candidates(src: Path) -> list[Candidate]:
    """The bugs of a benchmark folder, in either layout (see the module docstring)."""
    if (src / "buggy").is_dir():
        if not (src / "fixed").is_dir() or not (src / "tests").is_dir():
            return [Candidate(src.name, {}, {}, {}, "buggy/ needs fixed/ and tests/ beside it")]
        return _from_triple(src)
    out: list[Candidate] = []
    for d in sorted(p for p in src.iterdir() if p.is_dir()):
        if not all((d / s).is_dir() for s in ("buggy", "fixed", "tests")):
            out.append(Candidate(d.name, {}, {}, {}, "a bug folder needs buggy/, fixed/, tests/"))
            continue
        files = [p for p in (d / "buggy").iterdir() if p.is_file()]
        if len(files) != 1:
            out.append(
                Candidate(d.name, {}, {}, {}, f"buggy/ holds {len(files)} files; one is supported")
            )
            continue
        out.extend(_from_triple(d, name_prefix=d.name))
    return out


def _slug(name: str) -> str:
    s = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
    return s or "bug"


def build_oracle(
    file: str, buggy: str, fixed: str, backend: str, first_test: str | None
) -> list[str]:
    """An oracle that looks first (break at the first changed line, run there, show the
    locals), then edits (a line-range edit for one change, a unified diff for several), then
    runs the tests and completes."""
    a = buggy.splitlines(keepends=True)
    b = fixed.splitlines(keepends=True)
    ops = [
        op
        for op in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
        if op[0] != "equal"
    ]
    first = ops[0][1] + 1
    line = min(first, len(a))
    if backend == "python":
        look = f"```pdb\nbreak {file}:{line}\ncontinue\nargs\nlist\n```"
    else:
        look = f"```gdb\nbreak {file}:{line}\ncontinue\ninfo locals\n```"
    if len(ops) == 1 and ops[0][2] > ops[0][1]:
        _tag, i1, i2, j1, j2 = ops[0]
        new = "".join(b[j1:j2])
        if new and not new.endswith("\n"):
            new += "\n"
        fix = f"```edit\n{file} {i1 + 1}-{i2}\n{new}```"
    else:
        diff = "".join(difflib.unified_diff(a, b, f"a/{file}", f"b/{file}", n=2))
        if not diff.endswith("\n"):
            diff += "\n"
        fix = f"```diff\n{diff}```"
    return [look, fix, "```test\nrun\n```\nTASK COMPLETE"]


def _candidate_task(c: Candidate, split: str) -> Task:
    ((prog, buggy),) = c.buggy.items()
    backend = "python" if prog.endswith(".py") else "c"
    ((test_name, test_text),) = c.tests.items()
    if backend == "c":
        try:
            cases = json.loads(test_text)["cases"]
            assert isinstance(cases, list) and cases
        except (ValueError, KeyError, TypeError, AssertionError):
            raise ValueError(f"{test_name} must be JSON {{'cases': [...]}} with cases") from None
    debug: dict[str, Any] = (
        {"test": f"{test_name}::__first_failing__"} if backend == "python" else {"args": []}
    )
    return Task(
        id=f"imported-{_slug(c.name)}",
        adapter="debugger",
        instruction=f"The tests in {test_name} fail. Find the bug in {prog} with the debugger "
        "and fix it, without changing the tests.",
        split=split,  # type: ignore[arg-type]
        max_turns=6,
        data={
            "backend": backend,
            "files": {prog: buggy, test_name: test_text},
            "editable": [prog],
            "tests": [test_name],
            "debug": debug,
            "category": "imported",
            "origin": c.name,
        },
    )


def import_bugs(
    src: Path,
    dest: Path,
    *,
    split: str = "heldout",
    force: bool = False,
    on_refused: Callable[[str, str], None] | None = None,
    adapter_options: dict[str, Any] | None = None,
) -> list[Path]:
    """Convert the bugs under ``src`` into task folders under ``dest``; returns those written.

    Each is verified in the sandbox (tests fail on the buggy program, pass on the fixed one, the
    oracle scores 1) before it is written; every refusal goes to ``on_refused(name, reason)``."""
    from envlearn_debugger.adapter import DebuggerAdapter

    refuse = on_refused or (lambda name, why: None)
    written: list[Path] = []
    dest.mkdir(parents=True, exist_ok=True)
    adapter = DebuggerAdapter(**(adapter_options or {}))
    try:
        for c in find_candidates(src):
            if c.problem:
                refuse(c.name, c.problem)
                continue
            try:
                task = _candidate_task(c, split)
                if (dest / task.id).exists() and not force:
                    raise ValueError(f"{dest / task.id} exists (use --force to replace it)")
                task = _verify(adapter, task, c)
            except ValueError as e:
                refuse(c.name, str(e))
                continue
            if (dest / task.id).exists():
                shutil.rmtree(dest / task.id)
            written.append(write_task_dir(task, dest))
    finally:
        adapter.close()
    return written


def _verify(adapter: Any, task: Task, c: Candidate) -> Task:
    """Run the candidate: find its failing tests, check the fix passes, build and play the
    oracle; the finished task, or ValueError with the reason."""
    ((prog, buggy),) = c.buggy.items()
    fixed = c.fixed[prog]
    test_name = task.data["tests"][0]
    data = dict(task.data)
    if task.data["backend"] == "python":
        data["debug"] = {"script": test_name}  # only to measure the baseline
    probe = task.model_copy(update={"data": data})
    adapter.reset(probe)
    ep = adapter._res.episode
    baseline = dict(ep.baseline or {})
    failing = [t for t, ok in baseline.items() if not ok]
    if not failing:
        raise ValueError("no test fails on the buggy program")
    if any("::" not in t for t in failing):
        detail = adapter._run_tests(ep)[0].detail
        raise ValueError(f"the tests cannot run on the buggy program: {detail.strip()[-300:]}")
    (ep.box.work / prog).write_text(fixed, encoding="utf-8")
    after = {o.id: o for o in adapter._run_tests(ep)}
    bad = [t for t in baseline if not (t in after and after[t].passed)]
    if bad:
        why = after[bad[0]].detail.strip()[-300:] if bad[0] in after else "missing"
        raise ValueError(f"{len(bad)} test(s) fail on the fixed program too, e.g. {bad[0]}: {why}")
    if task.data["backend"] == "python":
        data["debug"] = {"test": failing[0]}
    else:
        case = failing[0].split("::", 1)[1]
        cases = json.loads(c.tests[test_name])["cases"]
        data["debug"] = {"args": next(x.get("args", []) for x in cases if x["name"] == case)}
    data["baseline"] = baseline
    oracle = build_oracle(prog, buggy, fixed, task.data["backend"], failing[0])
    final = task.model_copy(update={"data": data, "oracle": oracle})
    adapter.reset(final)
    for action in oracle:
        obs = adapter.step(action)
        if obs.done:
            break
    got = adapter.score()
    if got < 1.0:
        raise ValueError(f"the generated oracle scored {got:g}, not 1")
    return final


def cli_import(argv: list[str]) -> int:
    """``envlearn debugger-import SRC [--dest DIR]``: import a bug benchmark."""
    p = argparse.ArgumentParser(
        prog="envlearn debugger-import",
        description="Convert a bug benchmark (buggy/ fixed/ tests/ folders matched by file "
        "name, or one folder per bug holding those three) into debugger task folders. Each "
        "bug is verified in the sandbox; what cannot be converted is refused with a reason.",
    )
    p.add_argument("src", type=Path, help="the benchmark folder")
    p.add_argument(
        "--dest", type=Path, default=Path("debugger-tasks"), help="output (./debugger-tasks)"
    )
    p.add_argument("--split", choices=("train", "heldout"), default="heldout")
    p.add_argument("--force", action="store_true", help="replace tasks already in DEST")
    args = p.parse_args(argv)
    if not args.src.is_dir():
        print(f"envlearn debugger-import: {args.src} is not a directory", file=sys.stderr)
        return 2
    refused: list[tuple[str, str]] = []
    done = import_bugs(
        args.src,
        args.dest,
        split=args.split,
        force=args.force,
        on_refused=lambda name, why: refused.append((name, why)),
    )
    for d in done:
        print(f"imported  {d.name} -> {d}")
    for name, why in refused:
        print(f"refused   {name}: {why}")
    print(f"{len(done)} imported, {len(refused)} refused")
    if done:
        print(f"load them with envlearn_debugger.suite.load_task_tree({str(args.dest)!r})")
    return 0 if done else 1
