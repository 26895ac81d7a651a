"""The built-in games: oracles win every game of the suite, random and no-op policies mostly
don't, the same seed gives the same transcript, and the worlds behave as their rules say."""

from __future__ import annotations

import functools
import itertools
import random

import pytest
from envlearn_textgame import TextGameAdapter, command_block
from envlearn_textgame.builtin.dungeon import DungeonGame
from envlearn_textgame.builtin.switchboard import SwitchboardGame, solve_wiring
from envlearn_textgame.builtin.wordle import (
    OPENING,
    WORDS,
    WordleGame,
    _best_guess,
    feedback,
    solve,
)
from envlearn_textgame.suites import builtin_tasks, dungeon_task, switchboard_task, wordle_task

from envlearn.plugins import load_tasks
from tests.textgame.conftest import play, transcript

pytestmark = pytest.mark.unit


def test_the_registered_suite_is_the_builtin_games_split_by_seed():
    tasks = load_tasks("textgame")
    assert [t.id for t in tasks] == [t.id for t in builtin_tasks()]
    train = [t for t in tasks if t.split == "train"]
    held = [t for t in tasks if t.split == "heldout"]
    assert len(train) == 30 and len(held) == 12
    assert {t.data["game"] for t in held} == {"dungeon", "wordle", "switchboard"}
    assert not {t.data["seed"] for t in train} & {t.data["seed"] for t in held}
    secrets = {s: {WordleGame(t.data["seed"]).secret for t in ts if t.data["game"] == "wordle"}
               for s, ts in (("train", train), ("heldout", held))}  # fmt: skip
    assert not secrets["train"] & secrets["heldout"]


def test_every_oracle_wins_its_game_within_max_turns():
    for task in load_tasks("textgame"):
        assert task.oracle and len(task.oracle) <= task.max_turns
        seen, score = play(task, task.oracle)
        assert score == 1.0, task.id
        assert seen[-1].done and len(seen) == len(task.oracle) + 1, task.id
        assert "[game over: you won" in seen[-1].text


def _random_commands(task, rng: random.Random) -> list[str]:
    """A random policy over the game's own vocabulary (the oracle's commands, directions, junk)."""
    if task.data["game"] == "wordle":
        return [command_block(f"guess {rng.choice(WORDS)}") for _ in range(task.max_turns)]
    if task.data["game"] == "switchboard":
        n = task.data["lamps"]
        return [command_block(f"flip {rng.randint(1, n)}") for _ in range(task.max_turns)]
    pool = sorted({c for c in task.oracle} | {command_block(f"go {d}") for d in
                  ("north", "south", "east", "west")} | {command_block("take candle")})  # fmt: skip
    return [rng.choice(pool) for _ in range(task.max_turns)]


def test_random_and_noop_policies_mostly_lose():
    tasks = load_tasks("textgame")
    rng = random.Random(7)
    wins = plays = 0
    for task in tasks:
        for _ in range(3):
            _, score = play(task, _random_commands(task, rng))
            wins += score == 1.0
            plays += 1
        for noop in ("look", "inventory"):
            _, score = play(task, [command_block(noop)] * task.max_turns)
            assert score < 1.0, (task.id, noop)  # switchboards start with some lamps lit
            if task.data["game"] != "switchboard":
                assert score == 0.0, (task.id, noop)
        seen, score = play(task, ["TASK COMPLETE"])
        assert score < 1.0 and seen[-1].done
    assert wins / plays < 0.2, f"random policy won {wins} of {plays}"


def test_same_seed_same_transcript_and_other_seeds_other_games():
    for task in load_tasks("textgame")[:6]:
        a, sa = play(task, task.oracle)
        b, sb = play(task, task.oracle)
        assert transcript(a) == transcript(b) and sa == sb
    d = [dungeon_task(s, "train") for s in range(6)]
    assert len({tuple(t.oracle) for t in d}) == 6
    assert len({transcript(play(t, [])[0])[0][2] for t in d}) > 1
    w = [wordle_task(s, "train") for s in range(6)]
    assert len({WordleGame(t.data["seed"]).secret for t in w}) > 3


# ------------------------------------------------------------------------------- wordle


def test_wordle_marks_count_repeated_letters_once():
    assert feedback("paper", "apple") == "YYGY."
    assert feedback("bobby", "abbey") == "Y.G.G"
    assert feedback("crane", "crane") == "GGGGG"
    assert feedback("eerie", "there") == "Y.Y.G"  # two e's of 'there' left: both marked


def test_wordle_oracle_solves_every_word_in_six_and_its_opening_is_the_best_split():
    assert OPENING == _best_guess(WORDS)
    for word in WORDS:
        guesses = solve(word)
        assert guesses[-1] == word and len(guesses) <= 6, word


def test_wordle_game_rules_through_the_adapter():
    task = wordle_task(3, "train")
    secret = WordleGame(3).secret
    wrong = next(w for w in WORDS if not set(w) & set(secret))
    seen, score = play(
        task,
        [command_block("guess xy"), command_block(wrong)] + [command_block(f"guess {wrong}")] * 5,
    )
    assert "is not a five-letter word" in seen[1].content_text("narration")
    assert "[hint: the game did not understand" in seen[1].text
    assert seen[2].content_text("narration") == f"{wrong.upper()} .....\n5 guesses left.\n"
    assert seen[2].content_text("score") == "0/5"
    assert seen[-1].done and "No guesses left. The word was " + secret in seen[-1].text
    assert "[game over: you lost, score 0/5]" in seen[-1].text and score == 0.0


# ------------------------------------------------------------------------------- switchboard


def test_switchboard_oracle_is_the_shortest_solution():
    for seed in range(60):
        g = SwitchboardGame(seed, lamps=5)
        full = (1 << g.n) - 1
        shortest = min(
            len(c)
            for r in range(g.n + 1)
            for c in itertools.combinations(range(g.n), r)
            if functools.reduce(lambda a, i: a ^ g.wiring[i], c, g.initial) == full
        )
        assert len(g.walkthrough()) == shortest >= 2, seed
        assert solve_wiring(g.wiring, g.initial, g.n) == [int(c.split()[1]) - 1 for c in
                                                          g.walkthrough()]  # fmt: skip


def test_switchboard_flips_follow_the_hidden_wiring():
    task = switchboard_task(4, "train", lamps=5)
    g = SwitchboardGame(4, lamps=5)
    seen, _ = play(task, [command_block("flip 3"), command_block("flip 3"), command_block("9"),
                          command_block("push it"), command_block("look")])  # fmt: skip
    lamps = [o.content_text("narration").splitlines()[-1] for o in seen]
    after = g.initial ^ g.wiring[2]
    assert lamps[1] == "Lamps: " + " ".join(
        f"{i + 1}:{'on' if after >> i & 1 else 'off'}" for i in range(5)
    )
    assert lamps[2] == lamps[0] == lamps[5]  # flipping twice undoes it; look shows the same
    assert seen[3].content_text("narration") == "There is no switch 9; they are numbered 1 to 5.\n"
    assert "[hint: the game did not understand" in seen[4].text
    assert seen[1].content_text("score") == f"{bin(after).count('1')}/5"


# ------------------------------------------------------------------------------- dungeon


def test_dungeon_locks_keys_and_score_follow_the_rules():
    g = DungeonGame(3)
    w = g.world
    walk = g.walkthrough()
    i_unlock = next(i for i, c in enumerate(walk) if c.startswith("unlock") and "door" in c)
    # walking straight through the locked door fails
    g.start()
    for c in walk[:i_unlock]:
        if not c.startswith("take"):
            g.step(c)
    t = g.step(f"go {w.door[1]}")
    assert t.narration == f"The {w.door_name} is locked." and t.score == 0
    t = g.step(f"unlock door with {w.gate_key}")
    assert t.narration == f"You are not carrying a {w.gate_key}."
    # the oracle up to the unlock: a key taken, then the door opens (2 points)
    g.start()
    for c in walk[: i_unlock + 1]:
        t = g.step(c)
    assert t.narration.startswith(f"You unlock the {w.door_name} with the {w.door_key}")
    assert t.score == 2 and not t.won
    assert g.step("take door").narration == "That is fixed in place."
    assert g.step("dance").understood is False
    assert g.step("n").understood and g.step("go up").understood is False


def test_dungeon_parser_accepts_synonyms():
    g = DungeonGame(5)
    key_room_cmds = g.walkthrough()
    key = g.world.door_key
    g.start()
    for c in key_room_cmds:
        if c.startswith("take"):
            t = g.step(f"pick up the {key.split()[0]} {key.split()[1]}")
            assert t.narration == f"Taken: the {key}." and "You are carrying a" in t.inventory
            break
        g.step(c.replace("go ", ""))
    assert g.step("i").narration == g.step("inventory").narration
    assert g.step("x key").narration.startswith(f"A small {key}")
    assert g.step("l").narration == g.step("look").narration


def test_room_and_inventory_channels_only_when_shown():
    task = dungeon_task(2, "train", show=("room",))
    seen, _ = play(task, task.oracle[:2])
    channels = {p.channel for o in seen for p in o.parts if p.kind == "content"}
    assert channels == {"narration", "room", "score"}
    seen, _ = play(task, task.oracle[:2], show=["inventory"])
    channels = {p.channel for o in seen for p in o.parts if p.kind == "content"}
    assert channels == {"narration", "inventory", "score"}
    seen, _ = play(task, task.oracle[:2], show=[])
    assert {p.channel for o in seen for p in o.parts if p.kind == "content"} == {
        "narration",
        "score",
    }


def test_bad_settings_fail_with_a_clear_error():
    with pytest.raises(ValueError, match="dungeon rooms must be between 3 and 12"):
        DungeonGame(1, rooms=40)
    with pytest.raises(ValueError, match="show must be a list drawn from"):
        TextGameAdapter(show=["map"])
    with pytest.raises(ValueError, match="max_chars must be an integer >= 100"):
        TextGameAdapter(max_chars=0)
