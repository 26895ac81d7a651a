"""Text-game transcripts through the core: rendered oracle transcripts put every channel's text,
and only it, under that channel's mask; notices are never trained; and a short ECHO run through
the ``envlearn train`` CLI trains on a text-game suite end to end."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from envlearn_textgame import TextGameAdapter

from envlearn.config import load_config
from envlearn.models import load_tokenizer
from envlearn.plugins import load_tasks
from envlearn.render import ChatRenderer
from envlearn.rollout import oracle_rollouts
from envlearn.transcript import Source

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _check_rendered(tasks, show) -> None:
    tok = load_tokenizer()
    renderer = ChatRenderer(tok)
    cfg = load_config(None, ["tasks.suite=textgame", "rollout.max_episode_tokens=4096"]).rollout
    seen: dict[str, list] = {}

    def factory(task):
        a = TextGameAdapter(show=show)
        step = a.step

        def recording_step(text):
            obs = step(text)
            seen.setdefault(task.id, []).append(obs)
            return obs

        a.step = recording_step
        return a

    rollouts = oracle_rollouts(tasks, renderer, factory, cfg)
    assert all(r.status == "ok" and r.reward == 1.0 for r in rollouts), [
        (r.task_id, r.status, r.reward) for r in rollouts
    ]
    for r in rollouts:
        assert len(r.samples) == 1, r.task_id
        tr = r.samples[0]
        env = tr.env_mask()

        def text(pred, tr=tr):
            return tok.decode(tr.select(pred), skip_special_tokens=False)

        observed = seen[r.task_id]
        for ch in ("narration", *show, "score"):
            got = text(lambda i, ch=ch, env=env, tr=tr: env[i] and tr.channels[i] == ch)
            want = "".join(o.content_text(ch) for o in observed)
            assert got == want and want, (r.task_id, ch)
        notices = text(lambda i, tr=tr: tr.sources[i] == Source.NOTICE and tr.turns[i] >= 1)
        assert notices == "".join(p.text for o in observed for p in o.parts if p.kind == "notice")
        assert "[game over: you won" in notices
        assert not any(env[i] for i in range(len(tr)) if tr.sources[i] == Source.NOTICE)


def test_rendered_builtin_oracle_transcripts_decode_exactly_per_channel():
    tasks = load_tasks("textgame")
    dungeon = [t for t in tasks if t.data["game"] == "dungeon"][:3]
    wordle = [t for t in tasks if t.data["game"] == "wordle"][:2]
    _check_rendered(dungeon, ("room", "inventory"))
    _check_rendered(wordle, ())
    _check_rendered([t for t in tasks if t.data["game"] == "switchboard"][:2], ())


def test_rendered_textworld_oracle_transcripts_decode_exactly_per_channel(tw_tasks):
    _check_rendered(tw_tasks, ("room", "inventory"))


@pytest.mark.slow
def test_short_echo_run_on_textgames_through_the_cli(tmp_path):
    run = tmp_path / "textgame_echo"
    overrides = [
        f"run_dir={run}",
        "rollout.group_size=2",
        "rollout.max_turns=2",
        "train.steps=2",
        "train.tasks_per_step=2",
        "eval.at_start=false",
        "eval.every=10",
        "diagnostic.every=2",
        "diagnostic.max_transcripts=4",
        "tensorboard=false",
        "progress=false",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "envlearn", "train", "recipes/textgame/tiny_echo.yaml", *overrides]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["kind"] == "train"]
    assert len(train) == 2 and all(r["failed"] == 0 and r["rollouts"] == 4 for r in train)
    assert all(r["env_lambda"] == 0.5 for r in train)
    diag = [r for r in rows if r["kind"] == "diag"][-1]
    for ch in ("narration", "inventory", "score"):
        assert math.isfinite(diag[f"env_ce/textgame/{ch}"]), ch
