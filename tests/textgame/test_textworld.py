"""TextWorld games: generated from seeds into a cache keyed by settings, byte-identical from the
same seed, solved by their walkthroughs, not by random or no-op play; the adapter's channels,
notices and conformance on them."""

from __future__ import annotations

import random
import re
import threading
import time
from pathlib import Path

import pytest
from envlearn_textgame import command_block
from envlearn_textgame.suites import TEXTWORLD_TIERS
from envlearn_textgame.tw import (
    TextWorldCache,
    TextWorldSettings,
    clean_feedback,
    shared_cache,
)

from envlearn.plugins import load_tasks
from envlearn.resources import run_scope
from envlearn.testing import check_adapter
from tests.textgame.conftest import play, transcript

pytestmark = pytest.mark.integration


def test_walkthroughs_win_every_generated_game(tw_tasks):
    assert [t.split for t in tw_tasks] == ["train", "train", "heldout"]
    for task in tw_tasks:
        seen, score = play(task, task.oracle)
        assert score == 1.0 and seen[-1].done, task.id
        points, most = seen[-1].content_text("score").split("/")
        assert points == most and int(most) >= 1, task.id
        assert "[game over: you won" in seen[-1].text
        # the interpreter's RESTART/RESTORE question and the status line are cut
        assert "RESTART" not in seen[-1].text and "\n>" not in seen[-1].text


def test_random_and_noop_policies_mostly_lose(tw_tasks):
    rng = random.Random(3)
    words = ["look", "inventory", "go north", "go south", "go east", "go west", "take key",
             "open door", "open chest", "examine table", "eat apple"]  # fmt: skip
    wins = plays = 0
    for task in tw_tasks:
        pool = [command_block(w) for w in words] + list(task.oracle)
        for _ in range(3):
            _, score = play(task, [rng.choice(pool) for _ in range(task.max_turns)])
            wins += score == 1.0
            plays += 1
        _, score = play(task, [command_block("look")] * task.max_turns)
        assert score == 0.0
    assert wins / plays < 0.5, f"random policy won {wins} of {plays}"


def test_same_seed_gives_the_same_transcript(tw_tasks):
    task = tw_tasks[0]
    a, _ = play(task, task.oracle)
    b, _ = play(task, task.oracle)
    assert transcript(a) == transcript(b)
    assert transcript(play(tw_tasks[1], [])[0]) != transcript(play(task, [])[0])


def test_the_cache_reuses_games_and_a_regenerated_game_is_byte_identical(tw_tasks, tmp_path):
    settings = TextWorldSettings.from_data(tw_tasks[0].data)
    t0 = time.perf_counter()
    kept = TextWorldCache(tw_tasks[0].data["cache_dir"]).get(settings)
    assert not kept.generated and time.perf_counter() - t0 < 1.0
    # many threads ask a new cache for the game: generated once, from nothing, the same bytes
    cache = TextWorldCache(tmp_path / "c")
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(settings))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and len({id(g) for g in got}) == 1 and got[0].generated
    assert got[0].path.read_bytes() == kept.path.read_bytes()
    assert got[0].walkthrough == kept.walkthrough
    key = settings.key(cache.version)
    assert [p.name for p in (tmp_path / "c").iterdir()] == [key]
    assert sorted(p.name for p in (tmp_path / "c" / key).iterdir()) == [
        "game.json",
        "game.z8",
        "meta.json",
    ]
    # the key names the settings and the TextWorld version
    assert TextWorldSettings(seed=1, quest_length=4).key("1.7") != TextWorldSettings(seed=1).key(
        "1.7"
    )
    assert settings.key("1.7.0") != settings.key("1.8.0")


def test_one_shared_cache_per_run_and_directory(tmp_path):
    with run_scope():
        a = shared_cache(tmp_path)
        assert shared_cache(tmp_path) is a and shared_cache(tmp_path / "x") is not a
    with run_scope():
        assert shared_cache(tmp_path) is not a


def test_channels_notices_and_reward(tw_tasks):
    task = tw_tasks[0]
    seen, score = play(
        task,
        [command_block("xyzzy"), command_block("inventory"), "no block here",
         command_block("look\nlook"), command_block("take \x00 key"), command_block("look ü")],
    )  # fmt: skip
    opening = seen[0]
    assert "$$" not in opening.text and opening.content_text("narration").startswith("Welcome")
    assert opening.content_text("inventory") == "You are carrying nothing.\n"
    assert re.fullmatch(r"0/[1-9]\d*", opening.content_text("score"))
    unknown = seen[1]
    assert unknown.content_text("narration") == "That's not a verb I recognise.\n"
    assert any(p.kind == "notice" and p.text.startswith("[hint: ") for p in unknown.parts)
    assert seen[2].content_text("narration") == "You are carrying nothing.\n"
    assert seen[3].parts and all(p.kind == "notice" for p in seen[3].parts)
    assert "no code block" in seen[3].text
    assert "[only the first line was played (1 more ignored)" in seen[4].text
    for refused in seen[5:7]:
        assert all(p.kind == "notice" for p in refused.parts)
        assert "command refused: commands are plain words" in refused.text
    assert score == 0.0


def test_the_adapter_passes_the_conformance_checks_on_textworld_games(tw_tasks):
    report = check_adapter("textgame", tasks=tw_tasks)
    report.raise_for_failures()
    assert not report.skipped


def test_clean_feedback_cuts_banner_prompt_and_status():
    raw = "\n\n  ___ \n | $$ |\n\nWelcome!\n\n-= Hall =-\nA hall.\n\n>    -= Hall =-0/3"
    assert clean_feedback(raw, opening=True) == "Welcome!\n\n-= Hall =-\nA hall."
    assert clean_feedback("\nTaken.\n\n\n>   ") == "Taken."
    assert clean_feedback("Won.\n\nWould you like to RESTART, RESTORE a saved game?\n>") == "Won."


def test_bad_settings_fail_with_a_clear_error():
    with pytest.raises(ValueError, match="textworld quest_length must be a positive integer"):
        TextWorldSettings(seed=1, quest_length=0)
    with pytest.raises(ValueError, match="needs data\\['seed'\\]"):
        TextWorldSettings.from_data({"world_size": 3})


@pytest.mark.slow
def test_registered_suite_every_walkthrough_wins():
    tasks = load_tasks("textworld")
    assert len(tasks) == 9
    tiers = {(t.data["world_size"], t.data["quest_length"]) for t in tasks}
    assert tiers == {(v["world_size"], v["quest_length"]) for v in TEXTWORLD_TIERS.values()}
    assert {t.split for t in tasks} == {"train", "heldout"}
    for task in tasks:
        _, score = play(task, task.oracle)
        assert score == 1.0, task.id


def test_tasks_carry_their_cache_dir(tw_tasks, tw_cache_dir: Path):
    assert all(t.data["cache_dir"] == str(tw_cache_dir) for t in tw_tasks)
