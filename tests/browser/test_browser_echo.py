"""A short ECHO run with the tiny model on the ``browser`` suite, end to end through the CLI:
rollouts drive Chromium, the held-out env-CE diagnostic reports per browser channel."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECIPE = """\
run_dir: {run}
seed: 0
model: {{name_or_path: tiny}}
tasks: {{suite: browser}}
rollout: {{group_size: 2, max_turns: 2, max_action_tokens: 24, max_episode_tokens: 4096, num_workers: 2}}
objective: {{mode: echo, env_lambda: 0.5}}
train: {{steps: 2, tasks_per_step: 2}}
eval: {{at_start: false, every: 10}}
diagnostic: {{every: 2, max_transcripts: 4}}
tensorboard: false
progress: false
"""


def test_short_echo_run_on_the_browser_suite(tmp_path: Path) -> None:
    run = tmp_path / "browser_echo"
    recipe = tmp_path / "browser_echo.yaml"
    recipe.write_text(RECIPE.format(run=run))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "envlearn"]
    proc = subprocess.run(
        [*cli, "train", str(recipe)], capture_output=True, text=True, timeout=600, env=env
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    diag = [r for r in rows if r["kind"] == "diag"]
    channels = {"env_ce/browser/url", "env_ce/browser/title", "env_ce/browser/page"}
    assert channels <= set(diag[-1]), sorted(diag[-1])
    assert all(math.isfinite(diag[-1][k]) and diag[-1][k] > 0 for k in channels)
    train = [r for r in rows if r["kind"] == "train"]
    assert len(train) == 2 and all(r["failed"] == 0 for r in train)
    rollouts = [
        json.loads(line)
        for f in sorted((run / "rollouts").glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    assert rollouts and all(r["adapter"] == "browser" and r["status"] == "ok" for r in rollouts)
