"""envlearn-skeleton: a tiny key-value shell as an envlearn adapter plugin.

Keep the shape, replace the environment with yours: an adapter class (``SkeletonAdapter``), a task
loader whose tasks carry oracles (``skeleton_tasks``), and two hook implementations that register
them.  ``envlearn check skeleton`` tells you what still breaks the adapter contract.

The environment: a key-value store driven by one command per reply (``set KEY VALUE``,
``get KEY``, ``del KEY``, ``keys``) in a fenced block, and ``TASK COMPLETE`` to finish.  Replies
are read with envlearn's one action grammar (:func:`envlearn.actions.parse_action`), so the
model sees the same format in every domain.  What the store prints is ``content`` (ECHO trains
the model to predict it); what the harness adds (format hints, truncation markers) is a
``notice`` (never trained).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import ClassVar, Literal

from envlearn import BaseAdapter, ChannelSpec, Observation, Task, content, hookimpl, notice
from envlearn.actions import format_help, parse_action

MAX_OUTPUT_CHARS = 2_000
"""Longer outputs are cut, and a notice says how much was dropped."""

COMMANDS = "set KEY VALUE | get KEY | del KEY | keys"
EXAMPLE = "```kv\nset color blue\n```"
"""One action, as the model should write it (shown in the prompt and in format hints)."""


def kv(command: str) -> str:
    """``command`` as an action: a ```kv block."""
    return f"```kv\n{command}\n```"


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n] + "..."


class SkeletonAdapter(BaseAdapter):
    """A key-value store the model drives with one shell-like command per reply."""

    name: ClassVar[str] = "skeleton"
    channels: ClassVar[tuple[ChannelSpec, ...]] = (
        ChannelSpec(name="output", description="what the store printed"),
        ChannelSpec(name="error", description="the store's own error messages"),
        ChannelSpec(name="notice", kind="notice", description="format hints, truncation"),
    )
    deterministic: ClassVar[bool] = True  # same task + seed + actions -> same observations

    def __init__(self) -> None:
        # Everything an episode touches lives on the instance: episodes run in parallel.
        self._store: dict[str, str] = {}
        self._task: Task | None = None
        self._done = False

    def system_prompt(self, task: Task) -> str:
        """What the environment is and how to write an action."""
        return (
            f"You are using a key-value store. Each action is one command: {COMMANDS}.\n"
            + format_help(EXAMPLE)
        )

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        """Start an episode: the task's initial keys plus some seeded clutter."""
        rng = random.Random(seed)  # every random choice comes from the seed
        self._store = {str(k): str(v) for k, v in task.data.get("initial", {}).items()}
        for i in range(rng.randint(0, 3)):
            self._store[f"tmp{i}"] = str(rng.randint(0, 999))
        self._task, self._done = task, False
        return Observation(parts=[content("output", f"store ready: {len(self._store)} keys\n")])

    def step(self, action_text: str) -> Observation:
        """Run the reply's command; a reply that is no command gets a notice, never an
        exception.  ``TASK COMPLETE`` ends the episode, after the command in the same reply."""
        if self._task is None:
            raise RuntimeError("step() before reset(): call reset(task) first")
        if self._done:
            raise RuntimeError("step() after the episode ended: call reset(task) for a new one")
        action = parse_action(action_text, languages={"kv"}, example=EXAMPLE)
        if action.kind == "invalid":
            return Observation(parts=[notice(f"{action.problem}\n")])
        obs = self._run(action.body) if action.body is not None else Observation()
        if not action.complete:
            return obs
        self._done = True
        return Observation(
            parts=[*obs.parts, notice("[episode complete]\n")], done=True, reward=self.score()
        )

    def _run(self, body: str) -> Observation:
        """One command (the first non-blank line of the block)."""
        line = next((ln.strip() for ln in body.splitlines() if ln.strip()), "")
        cmd, _, rest = line.partition(" ")
        key, _, value = rest.strip().partition(" ")
        if cmd == "set" and key and value:
            self._store[key] = value
            return self._output("OK\n")
        if cmd == "get" and key and not value:
            if key not in self._store:
                return Observation(parts=[content("error", f"ERR no such key: {_clip(key)}\n")])
            return self._output(self._store[key] + "\n")
        if cmd == "del" and key and not value:
            if self._store.pop(key, None) is None:
                return Observation(parts=[content("error", f"ERR no such key: {_clip(key)}\n")])
            return self._output("OK\n")
        if cmd == "keys" and not key:
            return self._output(" ".join(sorted(self._store)) + "\n")
        return Observation(
            parts=[notice(f"Not a command: {_clip(line)!r}. Use one of: {COMMANDS}\n")]
        )

    def _output(self, text: str) -> Observation:
        if len(text) <= MAX_OUTPUT_CHARS:
            return Observation(parts=[content("output", text)])
        dropped = len(text) - MAX_OUTPUT_CHARS
        return Observation(
            parts=[
                content("output", text[:MAX_OUTPUT_CHARS]),
                notice(f"\n[truncated {dropped} chars]\n"),
            ]
        )

    def score(self) -> float:
        """The verifier: the fraction of the task's goal the store satisfies, in [0, 1]."""
        if self._task is None:
            return 0.0
        goal: dict[str, str | None] = self._task.data["goal"]
        met = sum(
            (k not in self._store) if v is None else (self._store.get(k) == v)
            for k, v in goal.items()
        )
        return met / len(goal)

    def close(self) -> None:
        """Release what the episode holds (processes, files, sockets); safe to call twice."""
        self._store = {}


def skeleton_tasks() -> list[Task]:
    """Five tasks; each oracle sets and deletes exactly the goal's keys, its last reply also
    saying ``TASK COMPLETE`` (the command runs, then the episode ends)."""
    Split = Literal["train", "heldout"]
    specs: list[tuple[str, dict[str, str], dict[str, str | None], Split, str]] = [
        ("kv-set-one", {}, {"color": "blue"}, "train", "Make the key color hold blue."),
        ("kv-fix", {"color": "red"}, {"color": "green"}, "train", "Change color to green."),
        ("kv-two", {"a": "1"}, {"a": "2", "b": "3"}, "train", "Make a hold 2 and b hold 3."),
        (
            "kv-move",
            {"old": "x"},
            {"new": "x", "old": None},
            "train",
            "Move the value of key old to key new; old must be gone.",
        ),
        ("kv-three", {}, {"x": "1", "y": "2", "z": "3"}, "heldout", "Set x=1, y=2 and z=3."),
    ]
    tasks = []
    for task_id, initial, goal, split, instruction in specs:
        oracle = [kv(f"set {k} {v}") for k, v in goal.items() if v is not None]
        oracle += [kv(f"del {k}") for k, v in goal.items() if v is None]
        oracle[-1] += "\nTASK COMPLETE"
        tasks.append(
            Task(
                id=task_id,
                adapter="skeleton",
                instruction=instruction,
                split=split,
                max_turns=6,
                oracle=oracle,
                data={"initial": initial, "goal": goal},
            )
        )
    return tasks


@hookimpl
def register_adapters(register: Callable[..., None]) -> None:
    """Make the adapter known to envlearn by name."""
    register("skeleton", SkeletonAdapter, description="a tiny key-value shell")


@hookimpl
def register_task_suites(register: Callable[..., None]) -> None:
    """Make the tasks known to envlearn (loaded lazily, when a suite is used)."""
    register("skeleton", skeleton_tasks, adapter="skeleton", description="5 key-value tasks")
