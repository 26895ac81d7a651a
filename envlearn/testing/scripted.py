"""A policy that replays fixed action texts (e.g. a task's oracle): a stand-in for a model in tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from envlearn.channels import Adapter, Task
from envlearn.episode import EpisodeRecord, play, replay

__all__ = ["Episode", "ScriptedPolicy", "ScriptedTokenPolicy"]

Episode = EpisodeRecord
"""What one scripted episode produced (``actions``, ``observations``, ``score``, ``done``,
``text``): an :class:`envlearn.episode.EpisodeRecord`."""


def _task_id(task: Task | str | None) -> str | None:
    return task.id if isinstance(task, Task) else task


class ScriptedPolicy:
    """Replays action texts turn by turn: one script for every task, or one per task id.

    ``ScriptedPolicy(["ls", "cat f"])`` plays the same script on any task;
    ``ScriptedPolicy({"t1": [...], "t2": [...]})`` or ``ScriptedPolicy.from_oracle(tasks)`` one per
    task.  ``play(adapter, task)`` runs a whole episode; ``as_token_ids(tokenizer)`` gives the same
    scripts as token ids, the form the trainer's policies produce.
    """

    def __init__(self, actions: Sequence[str] | Mapping[str, Sequence[str]]) -> None:
        if isinstance(actions, str):
            raise TypeError(
                "ScriptedPolicy takes a list of action texts (or {task_id: [actions]}), got one "
                f"string {actions[:40]!r}: wrap it in a list"
            )
        if isinstance(actions, Mapping):
            self._by_task: dict[str, list[str]] | None = {
                str(k): list(v) for k, v in actions.items()
            }
            self._shared: list[str] = []
        else:
            self._by_task = None
            self._shared = list(actions)

    @classmethod
    def from_oracle(cls, tasks: Task | Sequence[Task]) -> ScriptedPolicy:
        """One script per task: its ``oracle`` (raises if a task has none)."""
        tasks = [tasks] if isinstance(tasks, Task) else list(tasks)
        missing = [t.id for t in tasks if not t.oracle]
        if missing:
            raise ValueError(
                f"tasks {missing} have no oracle: give them Task(oracle=[...action texts...]) or "
                "build ScriptedPolicy({task_id: [actions]}) yourself"
            )
        return cls({t.id: list(t.oracle or []) for t in tasks})

    def actions_for(self, task: Task | str | None = None) -> list[str]:
        """The full script for ``task`` (a Task or its id; ignored for a shared script)."""
        if self._by_task is None:
            return list(self._shared)
        tid = _task_id(task)
        if tid is None or tid not in self._by_task:
            known = ", ".join(sorted(self._by_task)) or "none"
            raise KeyError(f"no script for task {tid!r} (scripted tasks: {known})")
        return list(self._by_task[tid])

    def act(self, task: Task | str | None, turn: int) -> str:
        """The action text for ``turn`` (0-based) of ``task``."""
        script = self.actions_for(task)
        if not 0 <= turn < len(script):
            raise IndexError(
                f"script for task {_task_id(task)!r} has {len(script)} actions; turn {turn} asked "
                "for more: the episode did not end when the script expected it to"
            )
        return script[turn]

    def play(
        self,
        adapter: Adapter,
        task: Task,
        *,
        seed: int | None = None,
        max_turns: int | None = None,
    ) -> Episode:
        """Run one episode through :func:`envlearn.episode.play`: reset, send the script until
        ``done``, the script's end or the turn budget (default ``task.max_turns``), then score."""
        return play(adapter, task, replay(self.actions_for(task)), seed=seed, max_turns=max_turns)

    def as_token_ids(self, tokenizer: Any, *, add_eos: bool = True) -> ScriptedTokenPolicy:
        """The same scripts as token ids (each action ends with the tokenizer's eos, as sampled)."""
        return ScriptedTokenPolicy(self, tokenizer, add_eos=add_eos)


class ScriptedTokenPolicy:
    """A :class:`ScriptedPolicy` seen as token ids: what a sampling policy would have produced."""

    def __init__(self, policy: ScriptedPolicy, tokenizer: Any, *, add_eos: bool = True) -> None:
        if add_eos and tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no eos token; pass add_eos=False or set one")
        self.policy = policy
        self.tokenizer = tokenizer
        self.add_eos = add_eos

    def encode(self, text: str) -> list[int]:
        """Token ids of one action text (no special tokens but the trailing eos)."""
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return ids + [int(self.tokenizer.eos_token_id)] if self.add_eos else ids

    def actions_for(self, task: Task | str | None = None) -> list[list[int]]:
        """The full script for ``task`` as token ids, one list per action."""
        return [self.encode(a) for a in self.policy.actions_for(task)]

    def act(self, task: Task | str | None, turn: int) -> list[int]:
        """Token ids of the action for ``turn`` (0-based) of ``task``."""
        return self.encode(self.policy.act(task, turn))
