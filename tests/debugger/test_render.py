"""Debugger transcripts through the core: per-token sources put each channel under its own
mask, exactly; and a short ECHO run with the tiny model trains on the debugger suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envlearn.config import load_config
from envlearn.models import load_tokenizer
from envlearn.plugins import load_tasks, make_adapter
from envlearn.render import ChatRenderer
from envlearn.rollout import oracle_rollouts
from envlearn.transcript import Source

pytestmark = pytest.mark.integration

RENDERED = ("py-script-last-element", "c-sum-off-by-one", "c-null-deref-segfault")
CHANNELS = ("debugger", "program_stdout", "program_stderr", "test_report", "locals", "registers")


def test_rendered_oracle_transcripts_decode_exactly_per_channel(sandbox_ok):
    tok = load_tokenizer()
    renderer = ChatRenderer(tok)
    tasks = [t for t in load_tasks("debugger") if t.id in RENDERED]
    assert len(tasks) == len(RENDERED)
    cfg = load_config(
        None,
        [
            "tasks.suite=debugger",
            "rollout.max_observation_tokens=4096",
            "rollout.max_episode_tokens=16384",
        ],
    ).rollout
    seen: dict[str, list] = {}  # the observations of steps, in order
    first: dict[str, object] = {}  # the observation of reset

    def factory(task):
        a = make_adapter("debugger")
        reset, step = a.reset, a.step

        def recording_reset(t, *, seed=None):
            obs = reset(t, seed=seed)
            first[t.id] = obs
            return obs

        def recording_step(text):
            obs = step(text)
            seen.setdefault(task.id, []).append(obs)
            return obs

        a.reset, a.step = recording_reset, recording_step
        return a

    rollouts = oracle_rollouts(tasks, renderer, factory, cfg)
    assert all(r.status == "ok" and r.reward == 1.0 for r in rollouts), rollouts
    covered: set[str] = set()
    for r in rollouts:
        tr = r.samples[0]
        env = tr.env_mask()
        observations = seen[r.task_id]

        def text(pred, tr=tr):
            return tok.decode(tr.select(pred), skip_special_tokens=False)

        for ch in CHANNELS:
            got = text(lambda i, ch=ch, env=env, tr=tr: env[i] and tr.channels[i] == ch)
            want = "".join(o.content_text(ch) for o in observations)
            assert got == want, (r.task_id, ch)
            if want:
                covered.add(ch)
        # the reset observation sits in turn 0 (shown, not trained), exactly as the adapter said it
        shown = (Source.OBSERVATION, Source.NOTICE)
        assert text(lambda i, tr=tr, shown=shown: tr.turns[i] == 0 and tr.sources[i] in shown) == (
            first[r.task_id].text
        )
        # harness notices after the first action are exactly the adapter's, and never trained
        notices = text(lambda i, tr=tr: tr.sources[i] == Source.NOTICE and tr.turns[i] >= 1)
        assert notices == "".join(
            p.text for o in observations for p in o.parts if p.kind == "notice"
        )
        assert not any(env[i] for i in range(len(tr)) if tr.sources[i] == Source.NOTICE)
        assert "PASSED" in text(
            lambda i, env=env, tr=tr: env[i] and tr.channels[i] == "test_report"
        )
    assert {"debugger", "program_stdout", "test_report", "locals"} <= covered


@pytest.mark.slow
def test_short_echo_run_on_the_debugger_suite_through_the_cli(sandbox_ok, tmp_path):
    run = tmp_path / "debugger_echo"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    recipe = tmp_path / "tiny_echo.yaml"
    recipe.write_text(
        "# ECHO on the debugger suite with the shipped tiny model (a smoke run)\n"
        f"run_dir: {run}\nseed: 0\nmodel: {{name_or_path: tiny}}\n"
        "tasks: {suite: debugger, limit: 2}\n"
        "objective: {mode: echo, env_lambda: 0.5}\n"
    )
    overrides = [
        "rollout.group_size=2",
        "rollout.max_turns=2",
        "rollout.max_action_tokens=24",
        "rollout.max_observation_tokens=512",
        "rollout.max_episode_tokens=3072",
        "rollout.num_workers=2",
        "train.steps=2",
        "train.tasks_per_step=2",
        "eval.at_start=false",
        "eval.every=10",
        "diagnostic.every=2",
        "diagnostic.max_transcripts=4",
        "tensorboard=false",
        "progress=false",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "envlearn", "train", str(recipe), *overrides],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["kind"] == "train"]
    assert len(train) == 2 and all(r["failed"] == 0 for r in train), train
    diag = [r for r in rows if r["kind"] == "diag"]
    assert diag and {"env_ce/debugger/debugger", "env_ce/debugger/test_report"} <= set(diag[-1])
