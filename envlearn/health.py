"""Run health: errors that stop a run with a clear message instead of training on nothing.

:class:`RunStopped` is what the CLI prints without a traceback (``envlearn train: ...``, exit
code 1).  :class:`FailureWatch` stops a run whose rollouts keep failing: when more than
``train.max_failed_fraction`` of a step's rollouts failed for ``train.max_failed_steps`` steps in
a row, it raises :class:`TooManyFailedRollouts` listing the first errors, grouped by message.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["CheckpointWriteError", "FailureWatch", "RunStopped", "TooManyFailedRollouts"]


class RunStopped(RuntimeError):
    """A run cannot go on; the message says why and what to do (the CLI prints it as is)."""


class TooManyFailedRollouts(RunStopped):
    """Most rollouts failed for several steps in a row: the environment is broken."""


class CheckpointWriteError(RunStopped):
    """A checkpoint could not be written (disk full, read-only run dir); the previous one is
    intact and the partial one removed."""


_STEP_RE = re.compile(r"^step \d+: ")


def _group_key(error: str) -> str:
    """An error message without what varies between rollouts (the turn it happened at)."""
    return _STEP_RE.sub("step: ", error)


class FailureWatch:
    """Counts consecutive steps whose failed fraction is above ``max_fraction``."""

    def __init__(self, max_fraction: float, max_steps: int, *, shown: int = 5) -> None:
        self.max_fraction = max_fraction
        self.max_steps = max_steps
        self.shown = shown
        self.streak: list[tuple[int, list[str]]] = []  # (rollouts, errors) per bad step

    def record(self, total: int, errors: Sequence[str | None]) -> None:
        """One step's rollout count and the errors of its failed rollouts."""
        if total and len(errors) / total > self.max_fraction:
            self.streak.append((total, [e or "(no error message)" for e in errors]))
        else:
            self.streak.clear()

    def check(self, step: int) -> None:
        """Raise :class:`TooManyFailedRollouts` once the streak is ``max_steps`` long."""
        if len(self.streak) >= self.max_steps:
            raise TooManyFailedRollouts(self.message(step))

    def message(self, step: int) -> str:
        """What went wrong, the counts per step, the first errors grouped by message, the fix."""
        steps = self.streak[-self.max_steps :]
        counts = ", ".join(f"{len(e)}/{n}" for n, e in steps)
        groups = Counter(_group_key(e) for _, errors in steps for e in errors)
        lines = [
            f"stopped at step {step}: more than {self.max_fraction:.0%} of the rollouts failed "
            f"in each of the last {len(steps)} steps ({counts} failed); fix what the errors "
            "below say (or raise train.max_failed_fraction / train.max_failed_steps)",
            "first errors, grouped by message:",
        ]
        for msg, n in list(groups.items())[: self.shown]:  # in order of first appearance
            one_line = " ".join(msg.split())
            cut = one_line if len(one_line) <= 300 else one_line[:299] + "…"
            lines.append(f"  {n} x {cut}")
        if len(groups) > self.shown:
            lines.append(f"  ... and {len(groups) - self.shown} other messages")
        return "\n".join(lines)
