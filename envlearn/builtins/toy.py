"""``toy``: guess-the-number, a dependency-free adapter for tests, demos and the plugin tutorial.

The model writes a number; the environment answers on channel ``feedback`` with ``"N is too
low.\\n"``, ``"N is too high.\\n"`` or ``"N is correct!\\n"``.  A reply with no number gets a
``notice`` (never an exception).  The episode ends on the correct guess; the verifier scores 1.0
for a win and 0.0 otherwise.  Fully deterministic: the target is part of the task.

Replies are read with the core grammar (:func:`envlearn.actions.parse_action`): the guess is the
first number of the first fenced block; a reply with no block at all is read whole (the game is
simple enough that a bare ``42`` is a guess); the ``TASK COMPLETE`` line ends the episode, after
the guess in the same reply.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from envlearn.actions import fenced_blocks, parse_action
from envlearn.channels import (
    BaseAdapter,
    ChannelSpec,
    Observation,
    Part,
    Task,
    content,
    notice,
)
from envlearn.hookspecs import hookimpl

NUMBER_RE = re.compile(r"-?\d+")


class GuessNumber(BaseAdapter):
    """Guess-the-number: the feedback says too low, too high or correct."""

    name: ClassVar[str] = "toy"
    channels: ClassVar[tuple[ChannelSpec, ...]] = (
        ChannelSpec(name="feedback", description="too low / too high / correct"),
        ChannelSpec(name="notice", kind="notice", description="format hints, episode over"),
    )
    deterministic: ClassVar[bool] = True

    def __init__(self) -> None:
        self._task: Task | None = None
        self._target = 0
        self._won = False
        self._done = False
        self.closed = False

    def system_prompt(self, task: Task) -> str:
        """The rules, in one sentence (unchanged since round 1: recipes compare results)."""
        return (
            "You are playing guess-the-number. Reply with a single integer; the game tells you "
            "whether it is too low, too high or correct."
        )

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        """Start a game of ``task`` (its data holds low, high and the target; no randomness)."""
        if self.closed:
            raise RuntimeError("toy adapter is closed; make a new one")
        lo, hi, target = task.data["low"], task.data["high"], task.data["target"]
        if not lo <= target <= hi:
            raise ValueError(f"task {task.id}: target {target} outside [{lo}, {hi}]")
        self._task, self._target, self._won, self._done = task, int(target), False, False
        return Observation(
            parts=[content("feedback", f"I am thinking of a number from {lo} to {hi}.\n")]
        )

    def step(self, action_text: str) -> Observation:
        """Read the reply's guess (see the module docstring) and answer it."""
        if self._task is None:
            raise RuntimeError("step() before reset(): call reset(task) first")
        if self._done:
            raise RuntimeError("step() after the episode ended: call reset(task) for a new one")
        action = parse_action(action_text)
        if action.body is not None:
            text = action.body
        elif action.problem is not None and fenced_blocks(action_text):
            return self._after(action.complete, notice(action.problem + "\n"))  # a broken block
        else:
            text = action_text  # no block: the whole reply is the guess
        m = NUMBER_RE.search(text)
        if m is None:
            return self._after(action.complete, notice("Reply with one integer, e.g. 42.\n"))
        guess = int(m.group())
        if guess == self._target:
            self._won = self._done = True
            return Observation(
                parts=[content("feedback", f"{guess} is correct!\n")], done=True, reward=1.0
            )
        side = "low" if guess < self._target else "high"
        return self._after(action.complete, content("feedback", f"{guess} is too {side}.\n"))

    def _after(self, complete: bool, part: Part) -> Observation:
        """The observation of a reply that did not win; ``TASK COMPLETE`` gives up (scored 0)."""
        if not complete:
            return Observation(parts=[part])
        self._done = True
        return Observation(
            parts=[part, notice("Game over: the number was not found.\n")], done=True
        )

    def score(self) -> float:
        """1.0 for a win, else 0.0."""
        return 1.0 if self._won else 0.0

    def close(self) -> None:
        """Nothing to release; later resets are refused."""
        self.closed = True


def _binary_search(lo: int, hi: int, target: int) -> list[str]:
    actions = []
    while True:
        mid = (lo + hi) // 2
        actions.append(str(mid))
        if mid == target:
            return actions
        if mid < target:
            lo = mid + 1
        else:
            hi = mid - 1


def toy_tasks() -> list[Task]:
    """16 tasks: targets spread over 1..16 (train) and 1..32 (heldout), binary-search oracles."""
    tasks = []
    specs: list[tuple[str, int, int, int, Any]] = []
    for i, target in enumerate([3, 7, 11, 14, 2, 9, 13, 5, 16, 1]):
        specs.append((f"guess-16-{i:02d}", 1, 16, target, "train"))
    for i, target in enumerate([6, 12, 21, 27, 30, 17]):
        specs.append((f"guess-32-{i:02d}", 1, 32, target, "heldout"))
    for tid, lo, hi, target, split in specs:
        tasks.append(
            Task(
                id=tid,
                adapter="toy",
                instruction=f"Guess my number between {lo} and {hi}.",
                split=split,
                max_turns=6,
                oracle=_binary_search(lo, hi, target),
                data={"low": lo, "high": hi, "target": target},
            )
        )
    return tasks


@hookimpl
def register_adapters(register: Callable[..., None]) -> None:
    register("toy", GuessNumber, description="guess-the-number (built-in, for tests and demos)")


@hookimpl
def register_task_suites(register: Callable[..., None]) -> None:
    register("toy", toy_tasks, adapter="toy", description="16 guess-the-number tasks")
