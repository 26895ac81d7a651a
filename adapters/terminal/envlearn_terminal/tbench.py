"""Import Terminal-Bench (1) tasks into terminal task directories (``envlearn terminal-import``).

A Terminal-Bench task directory holds ``task.yaml``, a ``Dockerfile`` (and the stock
``docker-compose.yaml``), ``run-tests.sh``, ``tests/`` and ``solution.sh``.  A task converts when
it needs no container image of its own: a stock base image (Debian, Ubuntu, Python, the
``t-bench`` images), Dockerfile lines that only place files under its ``WORKDIR`` (moved to
``/work``), and a ``run-tests.sh`` that only sets up and runs pytest, as the stock one does
(installing uv and pytest, the ``if [ "$PWD" = "/" ]`` working-directory guard).  The tests then
run offline with Debian's ``python3-pytest``.  Every other task is refused with the reason.

A task built on a Python image of another version than the sandbox's ``python3`` (Debian 12:
3.11) is imported with a warning (in its ``task.yaml`` and the import report): results can differ
(``sum`` of floats changed in 3.12, for one).
"""

from __future__ import annotations

import argparse
import ast
import base64
import functools
import io
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from envlearn_terminal.suite import TASK_ID_RE, TaskFileError, load_task_dir

__all__ = [
    "ImportRefused",
    "cli_import",
    "convert_terminal_bench_task",
    "import_terminal_bench",
    "image_python_version",
    "sandbox_python_version",
]


class ImportRefused(Exception):
    """A Terminal-Bench task cannot run in the plain sandbox; ``str(e)`` says why."""


WORK = "/work"
#: Base images that bring nothing a Debian sandbox lacks for the tasks we accept.
STOCK_IMAGE_RE = re.compile(
    r"^(?:(?:docker\.io/)?(?:library/)?(?:ubuntu|debian|python)(?::[\w.-]+)?"
    r"|ghcr\.io/laude-institute/t-bench/(?:ubuntu|debian|python)[\w.-]*(?::[\w.-]+)?)$"
)
HARMLESS_ENV = {
    "DEBIAN_FRONTEND",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
    "LANG",
    "LC_ALL",
    "TZ",
    "TERM",
}
#: Dockerfile RUN commands that only touch files (translated into setup.sh).
FILE_OPS = {
    "mkdir",
    "touch",
    "chmod",
    "echo",
    "printf",
    "cp",
    "mv",
    "ln",
    "rm",
    "cat",
    "cd",
    "true",
}
INSTALLERS = re.compile(
    r"\b(apt-get|apt|apk|yum|dnf|pip3?|uv|conda|mamba|npm|npx|yarn|pnpm|curl|wget|gem|cargo|"
    r"go\s+install|git\s+clone|make\s+install)\b"
)
IGNORED_DOCKER = {"ARG", "LABEL", "MAINTAINER", "CMD", "ENTRYPOINT", "STOPSIGNAL", "USER", "SHELL"}
SERVICE_DOCKER = {"EXPOSE", "VOLUME", "HEALTHCHECK", "ONBUILD"}
#: Files of a Terminal-Bench task that are harness, not environment.
HARNESS_FILES = {
    "task.yaml",
    "solution.sh",
    "solution.yaml",
    "run-tests.sh",
    "tests",
    "Dockerfile",
    "docker-compose.yaml",
    "docker-compose.yml",
    ".dockerignore",
}
#: The only things run-tests.sh may do besides running pytest: set up pytest itself.
RUN_TESTS_BOILERPLATE = [
    re.compile(p)
    for p in (
        r"^#",
        r"^set\s+-[euxo\s\w]*$",
        r"^(source|\.)\s+\S*setup-uv-pytest\.sh$",
        r"^(bash|sh)\s+\S*run-uv-pytest\.sh$",
        r"^apt-get\s+update(\s+-\w+)*$",
        r"^apt-get\s+install\s+(-y\s+)?(--no-install-recommends\s+)?(-y\s+)?curl$",
        r"^rm\s+-rf\s+/var/lib/apt/lists/\*$",
        r"^curl\s.*astral\.sh/uv/.*\|\s*sh$",
        r"^(source|\.)\s+\S*\.local/bin/env\S*$",
        r"^uv\s+(venv|init)\b.*$",
        r"^(source|\.)\s+\S*/bin/activate$",
        r"^(uv\s+)?pip3?\s+install\s+(-q\s+)?[\"']?pytest([=<>~!]=?[\w.]+)?[\"']?$",
        r"^uv\s+add\s+[\"']?pytest([=<>~!]=?[\w.]+)?[\"']?$",
        r"^mkdir\s+-p\s+/logs\S*$",
        r"^echo\s+[01]\s*>\s*/logs/\S+$",
        r"^(if\s+\[\s+\$\?\s+-(eq|ne)\s+0\s+\];\s+then|then|else|fi|rc=\$\?)$",
        r"^TEST_DIR=.*$",
        r"^cd\s+\"?\$\{?TEST_DIR\}?\"?$",
    )
]
#: The stock guard: ``if [ "$PWD" = "/" ]; then echo "Error: No working directory set..."; exit 1;
#: fi`` (the sandbox's cwd is /work, never /, so it never fires).
GUARD_IF = re.compile(r'^if\s+\[\s+"\$PWD"\s+=\s+"/"\s+\];\s*then$')
GUARD_BODY = re.compile(r'^(echo\s+"[^"`$]*"|echo\s+[01]\s*>\s*/logs/\S+|exit\s+[0-9]+)$')
PYTEST_LINE = re.compile(
    r"^(\w+=\S*\s+)*(uv\s+run\s+)?(python3?\s+(-I\s+)?-m\s+)?pytest\b(?P<args>.*)$"
)
MAX_EMBED_BYTES = 1 << 20


def _rewrite_paths(text: str, workdir: str | None) -> str:
    """Replace the container's WORKDIR (e.g. /app) by /work wherever it appears as a path."""
    if not workdir or workdir in ("/", WORK):
        return text
    pat = re.compile(r"(?<![\w./-])" + re.escape(workdir.rstrip("/")) + r"(?=$|[/\s\"'`;:)\]},])")
    return pat.sub(WORK, text)


def _read_tb_instruction(raw: dict[str, Any]) -> str:
    if isinstance(raw.get("instruction"), str) and raw["instruction"].strip():
        return raw["instruction"]
    descs = raw.get("descriptions")
    if isinstance(descs, list) and descs:
        for d in descs:
            if isinstance(d, dict) and d.get("key") == "base" and d.get("description"):
                return str(d["description"])
        first = descs[0]
        if isinstance(first, dict) and first.get("description"):
            return str(first["description"])
    raise ImportRefused("task.yaml has neither 'instruction' nor 'descriptions[].description'")


def _map_category(tb_category: str, tags: Iterable[str]) -> str:
    """The bundled category closest to a Terminal-Bench category and tags (else ``other``)."""
    words = set(re.split(r"[^a-z0-9-]+", " ".join([tb_category, *tags]).lower()))
    table = [
        ({"git", "version-control"}, "git"),
        ({"archive", "archives", "compression", "tar", "zip"}, "archives"),
        ({"file-operations", "file-system", "filesystem", "files"}, "filesystem"),
        ({"text", "text-processing", "data-processing", "parsing", "csv", "json"}, "text"),
        ({"environment", "env", "config", "configuration", "dotenv"}, "env"),
        (
            {"processes", "process", "system-administration", "sysadmin", "shell", "bash"},
            "processes",
        ),
        ({"software-engineering", "debugging", "python", "coding", "programming"}, "python"),
    ]
    for keys, cat in table:
        if keys & words:
            return cat
    return "other"


def _dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, argument) pairs with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for line in text.splitlines():
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if s.startswith("#"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        parts = buf.split(None, 1)
        out.append((parts[0].upper(), parts[1] if len(parts) > 1 else ""))
        buf = ""
    if buf.strip():
        parts = buf.split(None, 1)
        out.append((parts[0].upper(), parts[1] if len(parts) > 1 else ""))
    return out


def _check_compose(task_dir: Path) -> None:
    for name in ("docker-compose.yaml", "docker-compose.yml"):
        f = task_dir / name
        if f.is_file():
            break
    else:
        return
    try:
        raw = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ImportRefused(f"{name} is not valid YAML: {e}") from None
    services = raw.get("services") or {}
    if not isinstance(services, dict) or len(services) != 1:
        names = ", ".join(services) if isinstance(services, dict) else "?"
        raise ImportRefused(f"{name} defines {len(services)} services ({names}); only one fits")
    ((svc_name, svc),) = services.items()
    svc = svc or {}
    for key in ("ports", "networks", "depends_on", "privileged", "cap_add", "devices", "links"):
        if key in svc:
            raise ImportRefused(f"{name}: service {svc_name!r} sets '{key}', which needs docker")
    image = str(svc.get("image", ""))
    if image and "T_BENCH_TASK_DOCKER_CLIENT_IMAGE_NAME" not in image:
        raise ImportRefused(f"{name}: service {svc_name!r} runs its own image {image!r}")
    for vol in svc.get("volumes") or []:
        if "T_BENCH" not in str(vol):
            raise ImportRefused(f"{name}: service {svc_name!r} mounts {vol!r} from the host")
    for extra in ("volumes", "networks", "configs", "secrets"):
        if raw.get(extra):
            raise ImportRefused(f"{name} declares top-level '{extra}'")


def _embed_files(task_dir: Path, src: str, target: str, into_dir: bool) -> str:
    """A setup.sh snippet recreating ``task_dir/src`` under /work from base64 (Docker COPY).

    A directory's contents are copied into ``target``; a file goes to ``target`` itself, or
    into it when ``into_dir``.
    """
    if "://" in src:
        raise ImportRefused(f"COPY/ADD {src!r} fetches from outside the task directory")
    root = task_dir.resolve()
    p = (task_dir / src).resolve()
    if not p.exists() or (p != root and root not in p.parents):
        raise ImportRefused(f"COPY/ADD source {src!r} is missing or outside the task directory")
    q = shlex.quote
    if p.is_file():
        data = p.read_bytes()
        dest = f"{target.rstrip('/')}/{p.name}" if into_dir else target
        if len(data) > MAX_EMBED_BYTES:
            raise ImportRefused(f"COPY/ADD {src!r} is {len(data)} bytes (limit 1 MiB)")
        b64 = base64.b64encode(data).decode()
        return (
            f"mkdir -p {q(str(Path(dest).parent))}\n"
            f"base64 -d > {q(dest)} <<'__ENVLEARN_EOF__'\n{b64}\n__ENVLEARN_EOF__"
        )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for child in sorted(p.rglob("*")):
            rel = child.relative_to(p)
            if p == root and rel.parts[0] in HARNESS_FILES:
                continue  # `COPY . /app` must not hand the model the tests or the solution
            if child.is_file():
                tf.add(child, arcname=str(rel), recursive=False)
    data = buf.getvalue()
    if len(data) > MAX_EMBED_BYTES:
        raise ImportRefused(f"COPY/ADD {src!r} is {len(data)} bytes compressed (limit 1 MiB)")
    b64 = base64.b64encode(data).decode()
    return (
        f"mkdir -p {q(target)}\n"
        f"base64 -d <<'__ENVLEARN_EOF__' | tar -xzf - -C {q(target)}\n{b64}\n__ENVLEARN_EOF__"
    )


def _check_run(cmd: str, workdir: str | None) -> str:
    """A Dockerfile RUN command that may become part of setup.sh, or a refusal."""
    m = INSTALLERS.search(cmd)
    if m:
        raise ImportRefused(f"Dockerfile RUN installs software ({m.group(1)}): {cmd[:80]!r}")
    rewritten = _rewrite_paths(cmd, workdir)
    for piece in re.split(r"&&|\|\||;|\|", rewritten):
        words = piece.strip().split()
        if words and words[0] not in FILE_OPS:
            raise ImportRefused(f"Dockerfile RUN runs {words[0]!r}, not a plain file operation")
        for w in words[1:]:
            w = w.lstrip("0123456789&<>").strip("\"'")
            if w.startswith("/") and not (w == WORK or w.startswith(WORK + "/")):
                if not w.startswith("/tmp") and w != "/dev/null":
                    raise ImportRefused(f"Dockerfile RUN writes outside the work dir: {w!r}")
    return rewritten


_PY_IMAGE_RE = re.compile(
    r"(?:^|/)python(?::|-)(?P<major>[23])(?:\.|-)(?P<minor>[0-9]{1,2})(?![0-9])", re.IGNORECASE
)


def image_python_version(image: str) -> str | None:
    """The Python version a base image is built for (``python:3.13-slim``,
    ``t-bench/python-3-13:...`` → ``"3.13"``), or None for a non-Python image."""
    m = _PY_IMAGE_RE.search(image)
    return f"{m.group('major')}.{m.group('minor')}" if m else None


@functools.cache
def sandbox_python_version() -> str | None:
    """The version (``"3.11"``) of the ``python3`` the sandbox runs (``/usr/bin/python3``)."""
    try:
        out = subprocess.run(
            ["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def _image_of(task_dir: Path) -> str | None:
    f = task_dir / "Dockerfile"
    if not f.is_file():
        return None
    froms = [a for i, a in _dockerfile_instructions(f.read_text(encoding="utf-8")) if i == "FROM"]
    return froms[0].split()[0] if froms else None


def _python_warning(task_dir: Path) -> str | None:
    image = _image_of(task_dir)
    want = image_python_version(image or "")
    have = sandbox_python_version()
    if want is None or have is None or want == have:
        return None
    return (
        f"built on {image} (Python {want}), but the sandbox runs Python {have}: results can "
        "differ (e.g. sum() of floats is exact since 3.12; new syntax and modules)"
    )


def _parse_dockerfile(task_dir: Path) -> tuple[str | None, list[str]]:
    """(WORKDIR, setup.sh lines) for an accepted Dockerfile; raise ImportRefused otherwise."""
    f = task_dir / "Dockerfile"
    if not f.is_file():
        return None, []
    instrs = _dockerfile_instructions(f.read_text(encoding="utf-8"))
    froms = [a for i, a in instrs if i == "FROM"]
    if len(froms) != 1:
        raise ImportRefused(
            f"Dockerfile has {len(froms)} FROM lines (multi-stage builds need docker)"
        )
    image = froms[0].split()[0]
    if not STOCK_IMAGE_RE.match(image):
        raise ImportRefused(f"Dockerfile builds on {image!r}, not a stock base image")
    workdir: str | None = None
    setup: list[str] = []
    for instr, arg in instrs:
        if instr == "FROM" or instr in IGNORED_DOCKER:
            continue
        if instr == "WORKDIR":
            wd = arg.strip().strip("\"'")
            if not wd.startswith("/"):
                raise ImportRefused(f"Dockerfile WORKDIR {wd!r} is not an absolute path")
            workdir = wd.rstrip("/") or "/"
        elif instr == "ENV":
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)[=\s]", arg + " ")
            bad = [n for n in names if n not in HARMLESS_ENV]
            if bad:
                raise ImportRefused(
                    f"Dockerfile sets environment variable(s) {', '.join(bad)} that the "
                    "sandbox session cannot provide"
                )
        elif instr == "RUN":
            setup.append(_check_run(arg, workdir))
        elif instr in ("COPY", "ADD"):
            args = shlex.split(arg)
            if any(a.startswith("--from") for a in args):
                raise ImportRefused("Dockerfile copies from another build stage")
            args = [a for a in args if not a.startswith("--")]
            if len(args) < 2:
                raise ImportRefused(f"cannot read Dockerfile line {instr} {arg}")
            *srcs, dest = args
            into_dir = dest.endswith("/") or len(srcs) > 1
            if not dest.startswith("/"):
                dest = (workdir or "").rstrip("/") + "/" + dest
            dest_w = _rewrite_paths(dest, workdir).rstrip("/") or "/"
            if not (dest_w == WORK or dest_w.startswith(WORK + "/")):
                raise ImportRefused(f"Dockerfile copies files to {dest!r}, outside the work dir")
            for s in srcs:
                setup.append(_embed_files(task_dir, s, dest_w, into_dir))
        elif instr in SERVICE_DOCKER:
            raise ImportRefused(f"Dockerfile uses {instr}, which needs a container or service")
        else:
            raise ImportRefused(f"Dockerfile instruction {instr} is not supported")
    return workdir, setup


def _pytest_args(task_dir: Path) -> list[str]:
    """The pytest targets of run-tests.sh (default: tests/); refuse anything but pytest set-up."""
    f = task_dir / "run-tests.sh"
    if not f.is_file():
        return []
    targets: list[str] = []
    in_guard = False
    for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#!"):
            continue
        if in_guard:
            if s == "fi":
                in_guard = False
            elif not GUARD_BODY.match(s):
                raise ImportRefused(
                    f"run-tests.sh line {n}: the working-directory guard does more than print "
                    f"and exit: {s[:80]!r}"
                )
            continue
        if GUARD_IF.match(s):
            in_guard = True
            continue
        m = PYTEST_LINE.match(s)
        if m:
            for a in shlex.split(m.group("args")):
                if a.startswith("-"):
                    continue
                if "tests" in a or "TEST_DIR" in a:
                    targets.append(re.sub(r"^\$\{?TEST_DIR\}?/?|^/?tests/?", "", a))
            continue
        if any(p.match(s) for p in RUN_TESTS_BOILERPLATE):
            continue
        pip = re.match(r"^(uv\s+)?pip3?\s+install\s+(.*)$", s)
        if pip:
            raise ImportRefused(f"run-tests.sh installs packages ({pip.group(2)}); no network here")
        raise ImportRefused(f"run-tests.sh line {n} does more than run pytest: {s[:80]!r}")
    if in_guard:
        raise ImportRefused("run-tests.sh: the working-directory guard has no closing 'fi'")
    return [t for t in targets if t]


def _check_test_imports(tests_dir: Path, provided: set[str]) -> None:
    """Refuse tests that import third-party modules the offline sandbox lacks."""
    allowed = set(sys.stdlib_module_names) | {"pytest", "_pytest", "__future__"} | provided
    allowed |= {p.stem for p in tests_dir.rglob("*.py")} | {
        p.name for p in tests_dir.iterdir() if p.is_dir()
    }
    for py in sorted(tests_dir.rglob("*.py")):
        try:
            tree = ast.parse(py.read_text(encoding="utf-8"))
        except SyntaxError as e:
            raise ImportRefused(
                f"tests/{py.relative_to(tests_dir)} is not valid Python: {e}"
            ) from None
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in allowed:
                    raise ImportRefused(
                        f"tests import {top!r}, which is neither in Python's standard library "
                        "nor part of the task (no network to install it)"
                    )


def _solution_text(task_dir: Path) -> str | None:
    sh = task_dir / "solution.sh"
    if sh.is_file():
        return sh.read_text(encoding="utf-8")
    y = task_dir / "solution.yaml"
    if y.is_file():
        try:
            steps = yaml.safe_load(y.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ImportRefused(f"solution.yaml is not valid YAML: {e}") from None
        if not isinstance(steps, list):
            raise ImportRefused("solution.yaml is not a list of {command: ...} steps")
        cmds = [str(s["command"]) for s in steps if isinstance(s, dict) and "command" in s]
        return "#!/bin/bash\n" + "\n".join(c.rstrip("\n") for c in cmds) + "\n"
    return None


def _verify_script(tb_id: str, targets: list[str]) -> str:
    args = " ".join(f'"$TEST_DIR/{t}"' for t in targets) or '"$TEST_DIR"'
    return f"""#!/bin/bash
# Converted from the Terminal-Bench task '{tb_id}' by `envlearn terminal-import`:
# runs the task's own pytest suite offline with Debian's python3-pytest.
TASK_DIR="${{TASK_DIR:-$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)}}"
export TEST_DIR="$TASK_DIR/tests"
cd /work || exit 1
PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -q -p no:cacheprovider -c /dev/null \\
  --rootdir="$TEST_DIR" {args}
"""


def _provided_modules(task_dir: Path) -> set[str]:
    out: set[str] = set()
    for p in task_dir.rglob("*.py"):
        rel = p.relative_to(task_dir)
        if rel.parts[0] in HARNESS_FILES:
            continue
        out.add(p.stem)
        out.update(rel.parts[:-1])
    return out


def convert_terminal_bench_task(
    task_dir: Path, dest: Path, *, split: str = "heldout", force: bool = False
) -> Path:
    """Convert one Terminal-Bench task directory into ``dest/<id>/``; raise ImportRefused.

    What the importer flags (a Python version mismatch) goes into the new ``task.yaml``'s
    ``warnings``."""
    task_dir = Path(task_dir)
    tb_id = task_dir.name
    if not (task_dir / "task.yaml").is_file() and (task_dir / "task.toml").is_file():
        raise ImportRefused(
            "this is the Terminal-Bench 2 / Harbor layout (task.toml, instruction.md); only "
            "the Terminal-Bench 1 layout (task.yaml, run-tests.sh, tests/) is supported"
        )
    if not TASK_ID_RE.match(tb_id):
        raise ImportRefused(f"task id {tb_id!r} is not a valid directory name for a task")
    try:
        raw = yaml.safe_load((task_dir / "task.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ImportRefused(f"cannot read task.yaml: {e}") from None
    if not isinstance(raw, dict):
        raise ImportRefused("task.yaml is not a mapping")
    instruction = _read_tb_instruction(raw)
    _check_compose(task_dir)
    workdir, setup_lines = _parse_dockerfile(task_dir)
    targets = _pytest_args(task_dir)
    tests_dir = task_dir / "tests"
    if not tests_dir.is_dir() or not any(tests_dir.rglob("test*.py")):
        raise ImportRefused("no tests/test*.py: there is nothing to verify the task with")
    _check_test_imports(tests_dir, _provided_modules(task_dir))
    solution = _solution_text(task_dir)
    if solution is not None:
        solution = _rewrite_paths(solution, workdir)
    warnings = [w for w in (_python_warning(task_dir),) if w]

    out = Path(dest) / tb_id
    if out.exists():
        if not force:
            raise ImportRefused(f"{out} already exists (pass --force to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    try:
        tags = [str(t) for t in raw.get("tags") or []]
        difficulty = (
            raw.get("difficulty") if raw.get("difficulty") in ("easy", "medium", "hard") else None
        )
        spec: dict[str, Any] = {
            "instruction": _rewrite_paths(instruction, workdir).strip() + "\n",
            "split": split,
            "category": _map_category(str(raw.get("category", "")), tags),
            "max_turns": 16,
            "timeout_s": 30.0,
            "tags": tags,
            "source": f"terminal-bench:{tb_id}",
        }
        if warnings:
            spec["warnings"] = warnings
        if difficulty:
            spec["difficulty"] = difficulty
        (out / "task.yaml").write_text(
            yaml.dump(spec, Dumper=_TaskYamlDumper, sort_keys=False, allow_unicode=True, width=100),
            encoding="utf-8",
        )
        if setup_lines:
            (out / "setup.sh").write_text(
                "#!/bin/bash\n# From the task's Dockerfile (COPY/RUN), paths moved to /work.\n"
                "set -euo pipefail\n" + "\n".join(setup_lines) + "\n",
                encoding="utf-8",
            )
        (out / "verify.sh").write_text(_verify_script(tb_id, targets), encoding="utf-8")
        if solution is not None:
            (out / "solution.sh").write_text(solution, encoding="utf-8")
        skip = {"setup-uv-pytest.sh", "run-uv-pytest.sh"}
        for f in sorted(tests_dir.rglob("*")):
            rel = f.relative_to(tests_dir)
            if f.is_dir() or rel.name in skip or "__pycache__" in rel.parts:
                continue
            target = out / "tests" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            data = f.read_bytes()
            try:
                data = _rewrite_paths(data.decode("utf-8"), workdir).encode("utf-8")
            except UnicodeDecodeError:
                pass
            target.write_bytes(data)
        for f in out.rglob("*.sh"):
            f.chmod(0o755)
        load_task_dir(out)  # the result must be a valid task
    except Exception:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return out


class _TaskYamlDumper(yaml.SafeDumper):
    """Writes multi-line strings (instructions) as literal ``|`` blocks."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_TaskYamlDumper.add_representer(str, _str_representer)


def _is_task_dir(d: Path) -> bool:
    return (d / "task.yaml").is_file() or (d / "task.toml").is_file()


def _find_tb_tasks(src: Path) -> list[Path]:
    if _is_task_dir(src):
        return [src]
    found = sorted(d for d in src.iterdir() if d.is_dir() and _is_task_dir(d))
    if not found and (src / "tasks").is_dir():
        return _find_tb_tasks(src / "tasks")
    return found


def import_terminal_bench(
    src: Path,
    dest: Path,
    *,
    split: str = "heldout",
    force: bool = False,
    on_refused: Callable[[str, str], None] | None = None,
    on_warning: Callable[[str, str], None] | None = None,
) -> list[Path]:
    """Convert the Terminal-Bench task(s) under ``src`` into ``dest``; return the new task dirs.

    ``src`` is one task directory or a directory of them (or a checkout with ``tasks/``).  Tasks
    that need their own container image, a service, the network or third-party packages are
    refused: ``on_refused(task_id, reason)`` is called for each; ``on_warning(task_id, text)``
    for each warning of an imported task (also kept in its ``task.yaml``).
    """
    src, dest = Path(src), Path(dest)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: not a directory of Terminal-Bench tasks")
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    imported: list[Path] = []
    for task_dir in _find_tb_tasks(src):
        try:
            out = convert_terminal_bench_task(task_dir, dest, split=split, force=force)
        except (ImportRefused, TaskFileError, OSError) as e:
            if on_refused is not None:
                on_refused(task_dir.name, str(e))
            continue
        imported.append(out)
        if on_warning is not None:
            for w in load_task_dir(out).data.get("warnings", []):
                on_warning(out.name, w)
    return imported


def cli_import(argv: list[str]) -> int:
    """``envlearn terminal-import SRC [--dest DIR]``: import Terminal-Bench tasks."""
    p = argparse.ArgumentParser(
        prog="envlearn terminal-import",
        description="Convert Terminal-Bench task directories into envlearn terminal tasks "
        "(only those that need no container image of their own).",
    )
    p.add_argument("src", type=Path, help="a Terminal-Bench task directory, or a directory of them")
    p.add_argument(
        "--dest",
        type=Path,
        default=Path("terminal-bench-tasks"),
        help="where to write the converted tasks (default: ./terminal-bench-tasks)",
    )
    p.add_argument(
        "--split",
        choices=("train", "heldout"),
        default="heldout",
        help="split given to the imported tasks (default: heldout)",
    )
    p.add_argument("--force", action="store_true", help="replace tasks already in DEST")
    args = p.parse_args(argv)
    if not args.src.is_dir():
        print(f"envlearn terminal-import: {args.src} is not a directory", file=sys.stderr)
        return 2
    refused: list[tuple[str, str]] = []
    warned: list[tuple[str, str]] = []
    done = import_terminal_bench(
        args.src,
        args.dest,
        split=args.split,
        force=args.force,
        on_refused=lambda tid, why: refused.append((tid, why)),
        on_warning=lambda tid, w: warned.append((tid, w)),
    )
    for d in done:
        print(f"imported  {d.name} -> {d}")
    for tid, w in warned:
        print(f"warning   {tid}: {w}")
    for tid, why in refused:
        print(f"refused   {tid}: {why}")
    print(f"{len(done)} imported, {len(refused)} refused")
    if done:
        print(f"load them with envlearn_terminal.suite.load_task_tree({str(args.dest)!r})")
    if warned:
        print(f"{len(warned)} warning(s): see 'warnings' in those tasks' task.yaml")
    return 0 if done else 1
