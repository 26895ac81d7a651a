"""envlearn-textgame: text games as an envlearn adapter.

Registers the adapter ``textgame``, the suites ``textgame`` (built-in games: dungeon escapes,
a word game, switchboards with hidden wiring; nothing to install) and ``textworld`` (TextWorld games generated offline from seeds
and cached), through envlearn's pluggy hooks (entry point
``[project.entry-points.envlearn] textgame = "envlearn_textgame"``).
"""

from __future__ import annotations

from collections.abc import Callable

from envlearn.channels import Task
from envlearn.hookspecs import hookimpl
from envlearn_textgame.adapter import TextGameAdapter, command_block
from envlearn_textgame.game import Game, Turn

__all__ = ["Game", "TextGameAdapter", "Turn", "command_block"]


def _builtin() -> list[Task]:
    from envlearn_textgame.suites import builtin_tasks

    return builtin_tasks()


def _textworld() -> list[Task]:
    from envlearn_textgame.suites import registered_textworld_tasks

    return registered_textworld_tasks()


@hookimpl
def register_adapters(register: Callable[..., None]) -> None:
    """Register the ``textgame`` adapter."""
    register(
        "textgame",
        TextGameAdapter,
        description="text games, one command per turn (narration/room/inventory/score)",
    )


@hookimpl
def register_task_suites(register: Callable[..., None]) -> None:
    """Register the ``textgame`` and ``textworld`` suites (loaded lazily)."""
    register(
        "textgame",
        _builtin,
        adapter="textgame",
        description="42 built-in games: dungeon escapes, a word game, switchboards",
    )
    register(
        "textworld",
        _textworld,
        adapter="textgame",
        description="9 TextWorld games (easy and medium), generated from seeds and cached",
    )
