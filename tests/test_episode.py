"""The one text-level episode loop (envlearn.episode.play): it stops where it says, records what
it sent and got, never steps after done, and lets failures through.  Runtime: well under 1 s."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import envlearn.episode
from envlearn.builtins.toy import GuessNumber, toy_tasks
from envlearn.channels import EpisodeError, Observation, Task
from envlearn.episode import EpisodeRecord, play, replay
from envlearn.testing import ThreadBoundAdapter
from envlearn.testing.threads import run_on_new_thread

pytestmark = pytest.mark.unit

TASK = toy_tasks()[0]  # target 3 in 1..16, oracle 8, 4, 2, 3


def test_an_oracle_plays_until_done_and_is_scored() -> None:
    adapter = GuessNumber()
    record = play(adapter, TASK, replay(TASK.oracle or []), seed=5)
    assert record.actions == TASK.oracle == ["8", "4", "2", "3"]
    assert [o.text for o in record.observations] == [
        "I am thinking of a number from 1 to 16.\n",
        "8 is too high.\n",
        "4 is too high.\n",
        "2 is too low.\n",
        "3 is correct!\n",
    ]
    assert record.done and record.score == 1.0 and record.seed == 5
    assert record.last is record.turns[-1].observation and record.text.endswith("correct!\n")
    assert not adapter.closed  # the caller owns the adapter


def test_it_never_steps_after_done() -> None:
    # the toy raises on a step after done: a script longer than the game must stop at done
    record = play(GuessNumber(), TASK, replay([*(TASK.oracle or []), "9", "10"]))
    assert record.done and len(record.turns) == 4


def test_the_turn_budget_and_the_chooser_stop_it() -> None:
    wrong = replay(["16"] * 10)
    assert len(play(GuessNumber(), TASK, wrong).turns) == TASK.max_turns == 6
    record = play(GuessNumber(), TASK, wrong, max_turns=2)
    assert len(record.turns) == 2 and not record.done and record.score == 0.0
    stopped = play(GuessNumber(), TASK, replay(["16"]))  # the script ran out
    assert len(stopped.turns) == 1 and not stopped.done
    assert play(GuessNumber(), TASK, wrong, max_turns=0).turns == []
    with pytest.raises(ValueError, match="max_turns must be >= 0"):
        play(GuessNumber(), TASK, wrong, max_turns=-1)


def test_the_chooser_acts_on_the_history() -> None:
    """A binary search that reads each answer: the next action depends on the last observation."""

    def bisect(record: EpisodeRecord) -> str:
        lo, hi = record.task.data["low"], record.task.data["high"]
        for turn in record.turns:
            guess = int(turn.action)
            if "too low" in turn.observation.text:
                lo = guess + 1
            elif "too high" in turn.observation.text:
                hi = guess - 1
        return str((lo + hi) // 2)

    seen: list[str] = []

    def watching(record: EpisodeRecord) -> str:
        seen.append(record.last.text)
        return bisect(record)

    for task in toy_tasks():
        record = play(GuessNumber(), task, watching)
        assert record.done and record.score == 1.0, record.text
    assert seen[0] == "I am thinking of a number from 1 to 16.\n" and "8 is too high.\n" in seen


def test_score_false_leaves_it_unscored() -> None:
    record = play(GuessNumber(), TASK, replay(["8"]), score=False)
    assert record.score is None and len(record.observations) == 2


class FailsOnSecondStep(GuessNumber):
    def step(self, action_text: str) -> Observation:
        if self._target and action_text == "4":
            raise EpisodeError("the sandbox died")
        return super().step(action_text)


def test_failures_propagate_to_the_caller() -> None:
    adapter = FailsOnSecondStep()
    with pytest.raises(EpisodeError, match="sandbox died"):
        play(adapter, TASK, replay(TASK.oracle or []))
    assert not adapter.closed

    def broken(record: EpisodeRecord) -> str:
        raise KeyError("no action")

    with pytest.raises(KeyError):
        play(GuessNumber(), TASK, broken)


def test_it_runs_on_the_callers_thread_only() -> None:
    def episode() -> EpisodeRecord:
        bound = ThreadBoundAdapter(GuessNumber())
        record = play(bound, TASK, replay(TASK.oracle or []))
        bound.close()
        assert bound.foreign_calls == []
        assert [c.method for c in bound.calls] == ["reset", *["step"] * 4, "score", "close"]
        return record

    assert run_on_new_thread(episode, name="episode-7").score == 1.0


def test_it_is_core_code_importing_only_channels() -> None:
    tree = ast.parse(Path(envlearn.episode.__file__).read_text())
    modules = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    envlearn_modules = {m for m in modules if re.match(r"envlearn\b", m)}
    assert envlearn_modules == {"envlearn.channels"}


def test_task_is_data_for_the_loop() -> None:
    task = Task(id="t", adapter="toy", instruction="guess", max_turns=1, data=TASK.data)
    assert len(play(GuessNumber(), task, replay(["1", "2"])).turns) == 1
