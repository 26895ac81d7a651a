"""The terminal task suite: task directories on disk (the bundled suite and any other tree).

A task is a directory ``<task-id>/`` holding

* ``task.yaml``: ``instruction`` (str), ``split`` (train|heldout), ``category``, optional
  ``max_turns`` (default 8), ``timeout_s`` (per-command timeout, default 10), ``difficulty``,
  ``tags``, ``source`` (where an imported task came from), ``warnings`` (what an importer
  flagged, e.g. a Python version mismatch), ``clock`` (``fixed``, the default: a seeded clock
  and fixed file times; ``real``) and ``nested_userns`` (default false);
* ``setup.sh`` (optional): run once at reset inside the sandbox, cwd = the work dir (/work);
* ``verify.sh``: run by ``score()`` in a separate sandbox, cwd = /work; the last stdout line
  ``reward: X`` gives the reward, otherwise exit 0 → 1.0 and non-zero → 0.0;
* ``solution.sh`` (optional): the oracle, never shown to the model.

:func:`load_bundled_tasks` reads the tasks shipped in ``envlearn_terminal/tasks``; the
Terminal-Bench importer (:mod:`envlearn_terminal.tbench`) writes this layout.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from envlearn.channels import Task

__all__ = [
    "BUNDLED_TASKS_DIR",
    "CATEGORIES",
    "LOOK_AROUND",
    "TASK_ID_RE",
    "TaskFileError",
    "TaskSpec",
    "fenced_action",
    "load_bundled_tasks",
    "load_task_dir",
    "load_task_tree",
]

BUNDLED_TASKS_DIR = Path(__file__).resolve().parent / "tasks"
#: The categories of the bundled suite; ``other`` is for imported tasks that fit none of them.
CATEGORIES: tuple[str, ...] = (
    "filesystem",
    "text",
    "archives",
    "git",
    "python",
    "processes",
    "env",
)
Category = Literal["filesystem", "text", "archives", "git", "python", "processes", "env", "other"]
TASK_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class TaskFileError(ValueError):
    """A task directory is malformed; the message names the file, the key and the fix."""


class TaskSpec(BaseModel):
    """The schema of ``task.yaml``."""

    model_config = ConfigDict(extra="forbid")

    instruction: str
    split: Literal["train", "heldout"] = "train"
    category: Category
    max_turns: int = Field(default=8, ge=1, strict=True)
    timeout_s: float = Field(default=10.0, gt=0)
    difficulty: Literal["easy", "medium", "hard"] | None = None
    tags: list[str] = Field(default_factory=list)
    source: str | None = None
    warnings: list[str] = Field(default_factory=list)
    clock: Literal["fixed", "real"] = "fixed"
    nested_userns: bool = False

    @field_validator("instruction")
    @classmethod
    def _instruction_nonempty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must be a non-empty string telling the model what to do")
        return v


def _describe_error(err: dict[str, Any], data: dict[str, Any]) -> str:
    """One readable line for a pydantic error of TaskSpec."""
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind = err["type"]
    if kind == "missing":
        return f"key '{loc}' is required"
    if kind == "extra_forbidden":
        allowed = ", ".join(TaskSpec.model_fields)
        return f"key '{loc}' is not allowed (allowed keys: {allowed})"
    got = data.get(str(err["loc"][0]), None) if err["loc"] else None
    return f"key '{loc}': {err['msg']} (got {got!r})"


def _read_spec(task_yaml: Path) -> TaskSpec:
    try:
        raw = yaml.safe_load(task_yaml.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise TaskFileError(f"{task_yaml}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise TaskFileError(
            f"{task_yaml}: must be a YAML mapping with at least 'instruction' and 'category', "
            f"got {type(raw).__name__}"
        )
    try:
        return TaskSpec.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        raise TaskFileError(f"{task_yaml}: {_describe_error(first, raw)}") from None


def fenced_action(script: str) -> str:
    """``script`` as one action: a ```bash block, with a longer fence if it holds backticks."""
    longest = max((len(m) for m in re.findall(r"`+", script)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}bash\n{script.rstrip()}\n{fence}"


LOOK_AROUND = "```bash\nls -la\n```"


def load_task_dir(path: str | Path) -> Task:
    """Read one task directory into a :class:`Task` (id = directory name, adapter = terminal)."""
    d = Path(path).resolve()
    if not d.is_dir():
        raise TaskFileError(f"{d}: not a directory; a task is a directory holding task.yaml")
    if not TASK_ID_RE.match(d.name):
        raise TaskFileError(
            f"{d}: the directory name is the task id and must match {TASK_ID_RE.pattern} "
            "(letters, digits, '.', '_', '-'); rename the directory"
        )
    task_yaml = d / "task.yaml"
    if not task_yaml.is_file():
        raise TaskFileError(f"{task_yaml}: missing; every task directory needs a task.yaml")
    spec = _read_spec(task_yaml)
    if not (d / "verify.sh").is_file():
        raise TaskFileError(
            f"{d / 'verify.sh'}: missing; every task needs a verifier (exit 0 = solved, or a "
            "last stdout line 'reward: X')"
        )
    oracle: list[str] | None = None
    sol = d / "solution.sh"
    if sol.is_file():
        # look around, run the solution, then say so, as a careful agent would: the oracle
        # trajectory then holds real output (SFT data, the held-out env-CE diagnostic)
        oracle = [LOOK_AROUND, fenced_action(sol.read_text(encoding="utf-8")), "TASK COMPLETE"]
    return Task(
        id=d.name,
        adapter="terminal",
        instruction=spec.instruction.strip(),
        split=spec.split,
        max_turns=spec.max_turns,
        time_limit_s=None,
        oracle=oracle,
        data={
            "task_dir": str(d),
            "timeout_s": float(spec.timeout_s),
            "category": spec.category,
            "clock": spec.clock,
            "nested_userns": spec.nested_userns,
            **({"warnings": list(spec.warnings)} if spec.warnings else {}),
        },
    )


def load_task_tree(root: str | Path) -> list[Task]:
    """Every task directory directly under ``root`` (those holding a task.yaml), sorted by id."""
    r = Path(root)
    if not r.is_dir():
        raise TaskFileError(f"{r}: not a directory of task directories")
    return [load_task_dir(d) for d in sorted(r.iterdir()) if (d / "task.yaml").is_file()]


def load_bundled_tasks() -> list[Task]:
    """The tasks shipped with envlearn-terminal (the ``terminal`` task suite)."""
    tasks = load_task_tree(BUNDLED_TASKS_DIR)
    if not tasks:
        raise TaskFileError(f"{BUNDLED_TASKS_DIR}: no tasks found; the package is incomplete")
    return tasks
