"""Procedural terminal task families, split by seed (suites ``terminal-families[-id|-ood]``).

Each family (:mod:`envlearn_terminal.families.generators`) turns a seed into a task directory
in the bundled suite's format (``task.yaml``, ``setup.sh``, ``verify.sh``, ``solution.sh``).
Splits:

* **train**: the in-distribution families at seeds ``seed * 100_000 + i``;
* **held-out, in-distribution**: the same families at seeds ``1_000_000 + seed * 100_000 + i``
  (disjoint from every train seed);
* **held-out, out-of-distribution**: whole families never trained on (:data:`OOD_FAMILIES`).

The registered suites take their size from the environment (their loaders take no arguments):
``ENVLEARN_FAMILIES_TRAIN`` train tasks per family (default 24), ``ENVLEARN_FAMILIES_HELDOUT``
held-out tasks per family (default 6), ``ENVLEARN_FAMILIES_SEED`` (default 0).  Task
directories are written once under ``ENVLEARN_FAMILIES_DIR`` (default
``~/.cache/envlearn/terminal-families``), keyed by family, seed and generator version; the same
seed always gives the same bytes.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import yaml

from envlearn.channels import Task
from envlearn_terminal.families.generators import FAMILIES, Family, Generated

__all__ = [
    "FAMILIES",
    "HELDOUT_SEED_BASE",
    "ID_FAMILIES",
    "OOD_FAMILIES",
    "Family",
    "Generated",
    "family_tasks",
    "families_suite",
    "generate",
    "register_suites",
    "task_files",
    "write_task_dir",
]

#: Bump when a generator's output changes (the cache key).
VERSION = 1
#: Whole families kept out of training: the out-of-distribution held-out split.
OOD_FAMILIES: tuple[str, ...] = ("line-range", "move-files", "word-freq", "json-field")
ID_FAMILIES: tuple[str, ...] = tuple(f for f in FAMILIES if f not in OOD_FAMILIES)
HELDOUT_SEED_BASE = 1_000_000
SEED_STRIDE = 100_000
MAX_TURNS = 4


def generate(family: str, seed: int) -> Generated:
    """The task of ``family`` at ``seed`` (a pure function of both)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown task family {family!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[family].generate(random.Random(f"envlearn-families/{family}/{seed}"))


def task_files(family: str, seed: int, split: str) -> dict[str, str]:
    """The files of the task directory: name → exact text."""
    g = generate(family, seed)
    spec = {
        "instruction": g.instruction,
        "split": split,
        "category": FAMILIES[family].category,
        "max_turns": MAX_TURNS,
        "timeout_s": 10,
        "difficulty": "easy",
        "tags": [f"family:{family}", f"seed:{seed}"],
        "source": f"envlearn_terminal.families v{VERSION}",
    }
    return {
        "task.yaml": yaml.safe_dump(spec, sort_keys=False, width=100),
        "setup.sh": g.setup,
        "verify.sh": g.verify,
        "solution.sh": g.solution,
    }


def cache_root() -> Path:
    """Where generated task directories live."""
    raw = os.environ.get("ENVLEARN_FAMILIES_DIR")
    base = Path(raw) if raw else Path.home() / ".cache" / "envlearn" / "terminal-families"
    return base / f"v{VERSION}"


def _same(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except OSError:
        return False


def write_task_dir(family: str, seed: int, split: str, root: Path | None = None) -> Path:
    """Write the task directory ``<root>/<split>/<family>-<seed>`` unless it already holds
    exactly these files (an older generator's output is replaced); its path."""
    root = (root or cache_root()) / split
    d = root / f"{family}-{seed}"
    files = task_files(family, seed, split)
    if all(_same(d / name, text) for name, text in files.items()):
        return d
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{d.name}.", dir=root))
    try:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
            if name.endswith(".sh"):
                (tmp / name).chmod(0o755)
        if d.exists():  # written by an older generator: replace it
            old = Path(tempfile.mkdtemp(prefix=f".{d.name}.old.", dir=root))
            d.rename(old / "d")
            shutil.rmtree(old, ignore_errors=True)
        try:
            tmp.rename(d)  # atomic; another process may have won the race: same bytes
        except OSError:
            if not all(_same(d / name, text) for name, text in files.items()):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return d


def family_tasks(
    families: tuple[str, ...] | list[str], seeds: range | list[int], split: str
) -> list[Task]:
    """The tasks of ``families`` × ``seeds``, interleaved by family (so a prefix mixes them)."""
    from envlearn_terminal.suite import LOOK_AROUND, fenced_action, load_task_dir

    tasks = []
    for s in seeds:
        for f in families:
            d = write_task_dir(f, s, split)
            task = load_task_dir(d)
            # act, then look, then say so: the solution right after the instruction (what a
            # small model must learn to condition on), then a listing that shows its effect
            solution = (d / "solution.sh").read_text(encoding="utf-8")
            oracle = [fenced_action(solution), LOOK_AROUND, "TASK COMPLETE"]
            tasks.append(task.model_copy(update={"oracle": oracle}))
    return tasks


def _env_int(name: str, default: int, lo: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        v = lo - 1
    if v < lo:
        raise ValueError(f"{name}={raw!r}: must be an integer >= {lo} (unset it for {default})")
    return v


def families_suite(
    which: str = "all",
    *,
    train_per_family: int | None = None,
    heldout_per_family: int | None = None,
    seed: int | None = None,
) -> list[Task]:
    """Train tasks of the in-distribution families plus held-out tasks: ``which`` = ``all``
    (in- and out-of-distribution), ``id`` or ``ood``.  Sizes default to the environment."""
    n_train = train_per_family or _env_int("ENVLEARN_FAMILIES_TRAIN", 24, 1)
    n_held = heldout_per_family or _env_int("ENVLEARN_FAMILIES_HELDOUT", 6, 1)
    s = seed if seed is not None else _env_int("ENVLEARN_FAMILIES_SEED", 0, 0)
    if which not in ("all", "id", "ood"):
        raise ValueError(f"which={which!r}: choose all, id or ood")
    if max(n_train, n_held) > SEED_STRIDE:
        raise ValueError(f"at most {SEED_STRIDE} tasks per family and split")
    base = s * SEED_STRIDE
    tasks = family_tasks(ID_FAMILIES, range(base, base + n_train), "train")
    held = range(HELDOUT_SEED_BASE + base, HELDOUT_SEED_BASE + base + n_held)
    if which in ("all", "id"):
        tasks += family_tasks(ID_FAMILIES, held, "heldout")
    if which in ("all", "ood"):
        tasks += family_tasks(OOD_FAMILIES, held, "heldout")
    return tasks


def register_suites(register: Callable[..., None]) -> None:
    """Register ``terminal-families`` (held-out: in- and out-of-distribution),
    ``terminal-families-id`` and ``terminal-families-ood`` (held-out: one kind only)."""
    what = {
        "all": "held-out = new seeds of the train families + whole new families",
        "id": "held-out = new seeds of the train families",
        "ood": "held-out = whole families never trained on",
    }
    for which, name in (
        ("all", "terminal-families"),
        ("id", "terminal-families-id"),
        ("ood", "terminal-families-ood"),
    ):
        register(
            name,
            partial(families_suite, which),
            adapter="terminal",
            description=f"procedural shell task families split by seed; {what[which]}",
        )
