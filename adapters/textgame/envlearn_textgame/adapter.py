"""``textgame``: the model plays a text game, one command per turn.

A task names its game in ``data``: ``game`` (``dungeon``, ``wordle``, ``switchboard`` or
``textworld``), its ``seed`` and settings (``rooms``/``junk`` for the dungeon; ``lamps`` for the
switchboard; ``world_size``, ``nb_objects``,
``quest_length`` for TextWorld, and ``cache_dir`` for games kept outside the default cache),
and ``show``, the extra channels it asks for (``room``,
``inventory``).  A game is a pure function of its settings, so the same task and the same
actions give byte-identical observations (the reset ``seed`` is unused: the game's own seed is
part of the task, so every rollout of a group plays the same game).

Observation channels, in order: ``narration`` (what the game printed), ``room`` and
``inventory`` when the task shows them (each after a ``[room]``/``[inventory]`` notice),
``score`` (``2/5``, between ``[score: `` and ``]`` notices).  Harness messages (format problems,
refused commands, a hint after a command the game did not understand, game over, the turn
limit, truncation) are ``notice`` parts.  The reward is 1 for a won game, else half the fraction
of points scored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from envlearn.actions import format_help, parse_action
from envlearn.channels import BaseAdapter, ChannelSpec, Observation, Part, Task, content, notice
from envlearn_textgame.builtin.dungeon import VERBS as DUNGEON_VERBS
from envlearn_textgame.builtin.dungeon import DungeonGame
from envlearn_textgame.builtin.switchboard import SwitchboardGame
from envlearn_textgame.builtin.wordle import WordleGame
from envlearn_textgame.game import Game, Turn
from envlearn_textgame.tw import TextWorldGame, TextWorldSettings, shared_cache

__all__ = [
    "GAMES",
    "SHOWABLE",
    "TextGameAdapter",
    "build_game",
    "clean_command",
    "command_block",
    "win_reward",
]

GAMES = ("dungeon", "wordle", "switchboard", "textworld")
SHOWABLE = ("room", "inventory")
LANGUAGES = frozenset({"game"})
MAX_COMMAND_CHARS = 120
_COMMAND_RE = re.compile(r"^[A-Za-z0-9 ,.'?!-]+$")

TW_VERBS = (
    "look, inventory, go <direction>, take <thing>, drop <thing>, open <thing>, "
    "close <thing>, unlock <thing> with <key>, put <thing> on <thing>, "
    "insert <thing> into <thing>, examine <thing>, eat <thing>"
)


def command_block(command: str) -> str:
    """An action in the adapter's format: ``command`` in a fenced ``game`` block."""
    return f"```game\n{command}\n```"


def _example(game: str) -> str:
    return command_block({"wordle": "guess crane", "switchboard": "flip 2"}.get(game, "go north"))


def win_reward(turn: Turn) -> float:
    """1 for a won game, else half the fraction of points scored (in [0, 0.5])."""
    if turn.won:
        return 1.0
    if turn.max_score <= 0:
        return 0.0
    return 0.5 * min(max(turn.score / turn.max_score, 0.0), 1.0)


def clean_command(body: str) -> tuple[str | None, list[str]]:
    """The command in a block's ``body`` (its first non-empty line, spaces collapsed) and the
    notices to show; ``None`` when nothing may be sent to the game."""
    lines = [" ".join(line.split()) for line in body.split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        return None, ["[your game block is empty, so nothing was played]\n"]
    command, notes = lines[0], []
    if len(lines) > 1:
        notes.append(
            f"[only the first line was played ({len(lines) - 1} more ignored): "
            "one command per reply]\n"
        )
    if len(command) > MAX_COMMAND_CHARS:
        return None, [
            f"[command refused: {len(command)} characters, the limit is {MAX_COMMAND_CHARS}]\n"
        ]
    if not _COMMAND_RE.match(command):
        return None, [
            "[command refused: commands are plain words (letters, digits, spaces and , . ' ? ! -)]\n"
        ]
    return command, notes


def build_game(task: Task) -> Game:
    """The game a task names, built from its ``data`` (a clear error when the data is wrong)."""
    data = task.data
    kind = data.get("game")
    if kind not in GAMES:
        raise ValueError(
            f"task {task.id}: data['game'] is {kind!r}; set it to one of: {', '.join(GAMES)}"
        )
    seed = data.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(
            f"task {task.id}: data['seed'] must be a non-negative integer, got {seed!r}"
        )
    if kind == "dungeon":
        return DungeonGame(seed, rooms=data.get("rooms", 5), junk=data.get("junk", 2))
    if kind == "wordle":
        return WordleGame(seed)
    if kind == "switchboard":
        return SwitchboardGame(seed, lamps=data.get("lamps", 6))
    cache = shared_cache(data.get("cache_dir"))
    return TextWorldGame(cache.get(TextWorldSettings.from_data(data)))


def _show(task: Task, override: Sequence[str] | None) -> tuple[str, ...]:
    show = override if override is not None else task.data.get("show", ())
    bad = [s for s in show if s not in SHOWABLE]
    if bad or isinstance(show, str):
        raise ValueError(
            f"task {task.id}: show must be a list drawn from {list(SHOWABLE)}, got {show!r}"
        )
    return tuple(s for s in SHOWABLE if s in show)


class TextGameAdapter(BaseAdapter):
    """One text game per episode; one command per step."""

    name: ClassVar[str] = "textgame"
    channels: ClassVar[tuple[ChannelSpec, ...]] = (
        ChannelSpec(name="narration", description="what the game printed"),
        ChannelSpec(name="room", description="the current room's description (when shown)"),
        ChannelSpec(name="inventory", description="what the player carries (when shown)"),
        ChannelSpec(name="score", description="points so far, e.g. '2/5'"),
        ChannelSpec(
            name="notice",
            kind="notice",
            description="format problems, refused commands, hints, game over, turn limit",
        ),
    )
    deterministic: ClassVar[bool] = True

    def __init__(self, *, show: Sequence[str] | None = None, max_chars: int = 4000) -> None:
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 100:
            raise ValueError(
                f"textgame adapter option max_chars must be an integer >= 100, got {max_chars!r}"
            )
        if show is not None and (isinstance(show, str) or any(s not in SHOWABLE for s in show)):
            raise ValueError(
                f"textgame adapter option show must be a list drawn from {list(SHOWABLE)}, "
                f"got {show!r}"
            )
        self.show_override = None if show is None else tuple(show)
        self.max_chars = max_chars
        self._task: Task | None = None
        self._game: Game | None = None
        self._show: tuple[str, ...] = ()
        self._turn: Turn | None = None
        self._turns = 0
        self._done = False
        self.closed = False

    # ------------------------------------------------------------------ lifecycle

    def system_prompt(self, task: Task) -> str:
        """What the game is, how commands look, and the action format."""
        kind = task.data.get("game")
        if kind == "wordle":
            about = (
                "You are playing a word game. Each reply makes one guess: a five-letter word, "
                "written as `guess WORD`."
            )
        elif kind == "switchboard":
            about = (
                "You are at a panel of lamps and switches. Each reply flips one switch, written "
                "as `flip N`; `look` shows the lamps."
            )
        else:
            verbs = DUNGEON_VERBS if kind == "dungeon" else TW_VERBS
            about = (
                "You are playing a text adventure. Each reply sends one command to the game, "
                f"in plain words. Commands look like: {verbs}."
            )
        return (
            f"{about} The game answers with what happens and your score.\n"
            + format_help(_example(str(kind)))
            + "The episode also ends when the game is won or lost.\n"
        )

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        """Start the task's game from the beginning (``seed`` is unused: see the module doc)."""
        if self.closed:
            raise RuntimeError("textgame adapter is closed; make a new one")
        show = _show(task, self.show_override)
        game = build_game(task)
        self._close_game()
        self._task, self._game, self._show = task, game, show
        self._turns = 0
        self._done = False
        self._turn = game.start()
        return Observation(
            parts=self._parts(self._turn),
            done=False,
            info={"game": task.data["game"], "score": self._turn.score},
        )

    def step(self, action_text: str) -> Observation:
        """Play the reply's command (if any); never raises on the model's text."""
        if self.closed:
            raise RuntimeError("textgame adapter is closed; make a new one")
        if self._task is None or self._game is None or self._turn is None:
            raise RuntimeError("step() before reset(): call reset(task) first")
        if self._done:
            raise RuntimeError("step() after the episode ended: call reset(task) for a new one")
        self._turns += 1
        action = parse_action(action_text, languages=LANGUAGES, example=_example(""))
        parts: list[Part] = []
        info: dict[str, Any] = {"turn": self._turns}
        before = self._turn
        if action.kind == "invalid":
            parts.append(notice(f"[{action.problem}]\n"))
            info["invalid"] = True
        elif action.body is not None:
            command, notes = clean_command(action.body)
            if command is None:
                info["invalid"] = True
            else:
                info["command"] = command
                self._turn = self._game.step(command)
                parts += self._parts(self._turn)
            parts += [notice(n) for n in notes]
            if action.extra_blocks:
                parts.append(
                    notice(
                        f"[only the first game block was played; {action.extra_blocks} more "
                        "ignored]\n"
                    )
                )
        turn = self._turn
        done = turn.over
        if turn.over:
            parts.append(
                notice(
                    f"[game over: you {'won' if turn.won else 'lost'}, "
                    f"score {turn.score}/{turn.max_score}]\n"
                )
            )
        elif action.complete:
            done = True
            parts.append(notice("[TASK COMPLETE: episode over, the game was not won]\n"))
        elif self._turns >= self._task.max_turns:
            done = True
            parts.append(notice(f"[turn limit ({self._task.max_turns}) reached: episode over]\n"))
        self._done = done
        info.update(score=turn.score, won=turn.won, lost=turn.lost)
        return Observation(
            parts=parts, done=done, reward=win_reward(turn) - win_reward(before), info=info
        )

    def score(self) -> float:
        """1 if the game was won, else half the fraction of points (works after close too)."""
        if self._turn is None:
            raise RuntimeError("score() before reset(): call reset(task) first")
        return win_reward(self._turn)

    def close(self) -> None:
        """Close the game; safe to call twice."""
        self._close_game()
        self.closed = True

    # ------------------------------------------------------------------ for tests and tools

    @property
    def game(self) -> Game | None:
        """The current episode's game."""
        return self._game

    @property
    def last_turn(self) -> Turn | None:
        """The game's last answer."""
        return self._turn

    # ------------------------------------------------------------------ internals

    def _close_game(self) -> None:
        game, self._game = self._game, None
        if game is not None:
            game.close()

    def _parts(self, turn: Turn) -> list[Part]:
        parts: list[Part] = []
        parts += self._bounded("narration", turn.narration)
        for channel in self._show:
            text = turn.room if channel == "room" else turn.inventory
            if text:
                parts.append(notice(f"[{channel}]\n"))
                parts += self._bounded(channel, text)
        parts += [
            notice("[score: "),
            content("score", f"{turn.score}/{turn.max_score}"),
            notice("]\n"),
        ]
        if not turn.understood:
            parts.append(notice(self._hint()))
        return parts

    def _bounded(self, channel: str, text: str) -> list[Part]:
        if not text:
            return []
        if len(text) <= self.max_chars:
            return [content(channel, text + "\n")]
        return [
            content(channel, text[: self.max_chars]),
            notice(
                f"\n[{channel} cut: showing the first {self.max_chars} of {len(text)} characters]\n"
            ),
        ]

    def _hint(self) -> str:
        assert self._task is not None
        kind = self._task.data.get("game")
        if kind == "wordle":
            return "[hint: the game did not understand that; guess like this: guess crane]\n"
        if kind == "switchboard":
            return "[hint: the game did not understand that; flip a switch like this: flip 2]\n"
        verbs = DUNGEON_VERBS if kind == "dungeon" else TW_VERBS
        return f"[hint: the game did not understand that command; commands look like: {verbs}]\n"
