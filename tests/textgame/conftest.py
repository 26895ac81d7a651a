"""Fixtures for the textgame tests: a few small TextWorld games generated once per session into a
private cache, and helpers to play episodes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from envlearn_textgame import TextGameAdapter
from envlearn_textgame.suites import textworld_tasks
from envlearn_textgame.tw import TextWorldCache

from envlearn.channels import Observation, Task

SMALL = {"easy": {"world_size": 3, "nb_objects": 5, "quest_length": 3}}


@pytest.fixture(scope="session")
def tw_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TextWorld cache private to this test session, shared by its xdist workers (the cache
    writes each game atomically, so workers generating the same game at once is harmless)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's directory, above each worker's own
    path = base / "textworld-cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def tw_tasks(tw_cache_dir: Path) -> list[Task]:
    """Three small TextWorld games (two train seeds, one held-out), generated once."""
    return textworld_tasks(
        SMALL, train_seeds=(1, 2), heldout_seeds=(101,), cache=TextWorldCache(tw_cache_dir)
    )


def play(task: Task, actions: Sequence[str], **options: object) -> tuple[list[Observation], float]:
    """Reset, play ``actions`` until done, score, close: every observation and the score."""
    adapter = TextGameAdapter(**options)  # type: ignore[arg-type]
    try:
        seen = [adapter.reset(task, seed=0)]
        for a in actions:
            if seen[-1].done:
                break
            seen.append(adapter.step(a))
        return seen, adapter.score()
    finally:
        adapter.close()


def transcript(observations: Sequence[Observation]) -> list[tuple[str, str, str]]:
    """Every part as (channel, kind, text): what 'byte-identical' compares."""
    return [(p.channel, p.kind, p.text) for o in observations for p in o.parts]
