"""The one text-level episode loop: reset, then act on the history until done or out of turns.

:func:`play` is how every caller that drives an adapter with action *texts* runs an episode:
the conformance checks, the scripted policies of :mod:`envlearn.testing` and the engine's oracle
rollouts.  It owns no thread, deadline or tokenizer: it calls the adapter on the caller's thread
(the engine calls it on the episode's dedicated thread) and lets exceptions through, so each
caller keeps its own error policy.  Stepping after ``done`` is never done here; a caller that
wants to test it does so on the adapter afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from envlearn.channels import Observation, Task

__all__ = ["ChooseAction", "EpisodeRecord", "Playable", "Turn", "play", "replay"]


class Playable(Protocol):
    """What :func:`play` calls: the episode half of :class:`envlearn.channels.Adapter` (any
    adapter, or a wrapper around one that checks or records its calls)."""

    def reset(self, task: Task, *, seed: int | None = None) -> Observation: ...

    def step(self, action_text: str) -> Observation: ...

    def score(self) -> float: ...


@dataclass(frozen=True)
class Turn:
    """One step: the action text sent and the observation it got back."""

    action: str
    observation: Observation


@dataclass
class EpisodeRecord:
    """What one episode produced: the reset observation, every (action, observation) pair and
    the verifier's score (``None`` when the episode was not scored)."""

    task: Task
    seed: int | None
    first: Observation
    turns: list[Turn] = field(default_factory=list)
    score: float | None = None

    @property
    def actions(self) -> list[str]:
        """The action texts sent, in order."""
        return [t.action for t in self.turns]

    @property
    def observations(self) -> list[Observation]:
        """The reset observation, then one per step."""
        return [self.first, *(t.observation for t in self.turns)]

    @property
    def last(self) -> Observation:
        """The latest observation (the reset one before any step)."""
        return self.turns[-1].observation if self.turns else self.first

    @property
    def done(self) -> bool:
        """Whether the environment ended the episode (rather than the chooser or the budget)."""
        return self.last.done

    @property
    def text(self) -> str:
        """Every observation's text, in order: handy in assertion messages."""
        return "".join(o.text for o in self.observations)


ChooseAction = Callable[[EpisodeRecord], str | None]
"""Given the episode so far (``record.last`` is the observation to answer), the next action
text, or ``None`` to stop before the environment says ``done`` (a script ran out)."""


def play(
    adapter: Playable,
    task: Task,
    choose_action: ChooseAction,
    *,
    seed: int | None = None,
    max_turns: int | None = None,
    score: bool = True,
) -> EpisodeRecord:
    """Run one episode on ``adapter``: ``reset(task, seed)``, then ``step(choose_action(record))``
    until the observation says ``done``, the chooser returns ``None`` or ``max_turns`` steps
    (default ``task.max_turns``) were taken; then ``score()`` (unless ``score=False``).

    Exceptions from the adapter or the chooser propagate; the adapter is not closed.
    """
    budget = task.max_turns if max_turns is None else max_turns
    if budget < 0:
        raise ValueError(f"max_turns must be >= 0, got {budget}")
    record = EpisodeRecord(task=task, seed=seed, first=adapter.reset(task, seed=seed))
    while not record.done and len(record.turns) < budget:
        action = choose_action(record)
        if action is None:
            break
        record.turns.append(Turn(action, adapter.step(action)))
    if score:
        record.score = float(adapter.score())
    return record


def replay(actions: Sequence[str]) -> ChooseAction:
    """A chooser that sends ``actions`` in order, then stops (a script, e.g. a task's oracle)."""
    script = tuple(actions)

    def choose(record: EpisodeRecord) -> str | None:
        n = len(record.turns)
        return script[n] if n < len(script) else None

    return choose
