"""The task suites: built-in games (``textgame``) and TextWorld games (``textworld``).

Tasks are split into train and held-out by seed: held-out games come from seeds no train game
uses (and a held-out word is never a train word).  Every task carries its oracle, the game's
walkthrough as one ``game`` block per command; a won game ends the episode, so no ``TASK
COMPLETE`` is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from envlearn.channels import Task
from envlearn_textgame.adapter import command_block
from envlearn_textgame.builtin.dungeon import DungeonGame
from envlearn_textgame.builtin.switchboard import SwitchboardGame
from envlearn_textgame.builtin.wordle import MAX_GUESSES, WordleGame
from envlearn_textgame.tw import TextWorldCache, TextWorldSettings, shared_cache

__all__ = [
    "TEXTWORLD_TIERS",
    "builtin_tasks",
    "dungeon_task",
    "switchboard_task",
    "textworld_task",
    "textworld_tasks",
    "wordle_task",
]

Split = Literal["train", "heldout"]
SLACK_TURNS = 8  # turns allowed beyond the oracle's
DUNGEON_INSTRUCTION = (
    "Escape from the dungeon: find the keys, unlock your way out and walk through the exit."
)
SWITCHBOARD_INSTRUCTION = "Light every lamp on the panel."
WORDLE_INSTRUCTION = f"Find the secret five-letter word in at most {MAX_GUESSES} guesses."

TEXTWORLD_TIERS: dict[str, dict[str, int]] = {
    "easy": {"world_size": 3, "nb_objects": 5, "quest_length": 3},
    "medium": {"world_size": 5, "nb_objects": 8, "quest_length": 5},
}
"""Difficulty settings of the registered ``textworld`` suite."""


def _oracle(walkthrough: Sequence[str]) -> list[str]:
    return [command_block(c) for c in walkthrough]


def dungeon_task(seed: int, split: Split, *, rooms: int = 5, show: Iterable[str] = ()) -> Task:
    """A dungeon escape from ``seed``."""
    game = DungeonGame(seed, rooms=rooms)
    walk = game.walkthrough()
    return Task(
        id=f"dungeon-r{rooms}-s{seed}",
        adapter="textgame",
        instruction=DUNGEON_INSTRUCTION,
        split=split,
        max_turns=len(walk) + SLACK_TURNS,
        oracle=_oracle(walk),
        data={"game": "dungeon", "seed": seed, "rooms": rooms, "show": list(show)},
    )


def wordle_task(seed: int, split: Split) -> Task:
    """A word game from ``seed``."""
    game = WordleGame(seed)
    return Task(
        id=f"wordle-s{seed}",
        adapter="textgame",
        instruction=WORDLE_INSTRUCTION,
        split=split,
        max_turns=MAX_GUESSES + 2,
        oracle=_oracle(game.walkthrough()),
        data={"game": "wordle", "seed": seed},
    )


def switchboard_task(seed: int, split: Split, *, lamps: int = 6) -> Task:
    """A switchboard from ``seed``: the oracle flips each switch of the solution once."""
    game = SwitchboardGame(seed, lamps=lamps)
    walk = game.walkthrough()
    return Task(
        id=f"switchboard-l{lamps}-s{seed}",
        adapter="textgame",
        instruction=SWITCHBOARD_INSTRUCTION,
        split=split,
        max_turns=len(walk) + SLACK_TURNS,
        oracle=_oracle(walk),
        data={"game": "switchboard", "seed": seed, "lamps": lamps},
    )


def builtin_tasks(n_train: int = 10, n_heldout: int = 4) -> list[Task]:
    """Dungeons (4 to 6 rooms; inventory shown, and the room too in every other one), word games and switchboards (5 to 6 lamps),
    interleaved: train seeds from 0, held-out seeds from 1000 (held-out words never among the
    train words)."""
    train_words = {WordleGame(s).secret for s in range(n_train)}
    held_word_seeds: list[int] = []
    s = 1000
    while len(held_word_seeds) < n_heldout:
        if WordleGame(s).secret not in train_words:
            held_word_seeds.append(s)
        s += 1
    tasks: list[Task] = []
    shows = (("room", "inventory"), ("inventory",))
    for i in range(n_train):
        tasks.append(dungeon_task(i, "train", rooms=4 + i % 3, show=shows[i % 2]))
        tasks.append(wordle_task(i, "train"))
        tasks.append(switchboard_task(i, "train", lamps=5 + i % 2))
    for i, ws in enumerate(held_word_seeds):
        tasks.append(dungeon_task(1000 + i, "heldout", rooms=4 + i % 3, show=shows[i % 2]))
        tasks.append(wordle_task(ws, "heldout"))
        tasks.append(switchboard_task(1000 + i, "heldout", lamps=5 + i % 2))
    return tasks


def textworld_task(
    settings: TextWorldSettings,
    split: Split,
    *,
    show: Iterable[str] = ("inventory",),
    cache: TextWorldCache | None = None,
) -> Task:
    """A TextWorld game (generated now unless cached), its objective as the instruction."""
    files = (cache or shared_cache()).get(settings)
    data: dict[str, Any] = {
        "game": "textworld",
        "seed": settings.seed,
        "world_size": settings.world_size,
        "nb_objects": settings.nb_objects,
        "quest_length": settings.quest_length,
        "show": list(show),
    }
    if cache is not None:
        data["cache_dir"] = str(cache.root)
    return Task(
        id=(
            f"tw-w{settings.world_size}-o{settings.nb_objects}-q{settings.quest_length}"
            f"-s{settings.seed}"
        ),
        adapter="textgame",
        instruction=files.objective,
        split=split,
        max_turns=len(files.walkthrough) + SLACK_TURNS,
        oracle=_oracle(files.walkthrough),
        data=data,
    )


def textworld_tasks(
    tiers: dict[str, dict[str, int]] | None = None,
    *,
    train_seeds: Sequence[int] = (1, 2, 3, 4),
    heldout_seeds: Sequence[int] = (101, 102),
    cache: TextWorldCache | None = None,
) -> list[Task]:
    """TextWorld games for every tier and seed (train and held-out seeds must not overlap)."""
    overlap = sorted(set(train_seeds) & set(heldout_seeds))
    if overlap:
        raise ValueError(f"train and held-out seeds overlap: {overlap}; use distinct seeds")
    tasks = []
    for settings in (tiers or TEXTWORLD_TIERS).values():
        for split, seeds in (("train", train_seeds), ("heldout", heldout_seeds)):
            for seed in seeds:
                ts = TextWorldSettings(seed=seed, **settings)
                tasks.append(textworld_task(ts, split, cache=cache))  # type: ignore[arg-type]
    return tasks


def registered_textworld_tasks() -> list[Task]:
    """The ``textworld`` suite: easy (4 train, 2 held-out) and medium (2 train, 1 held-out)."""
    easy = textworld_tasks({"easy": TEXTWORLD_TIERS["easy"]})
    medium = textworld_tasks(
        {"medium": TEXTWORLD_TIERS["medium"]}, train_seeds=(1, 2), heldout_seeds=(101,)
    )
    return easy + medium
