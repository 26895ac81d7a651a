"""``envlearn transfer``: the matrix and heatmap from one command, resumable stage by stage."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def test_transfer_matrix_and_heatmap_from_one_command(tmp_path):
    recipe = tmp_path / "t.yaml"
    recipe.write_text(
        f"base: {REPO / 'recipes/toy/tiny_echo.yaml'}\n"
        f"out: {tmp_path / 'out'}\n"
        "sources: [toy]\n"
        "targets: [toy, http]\n"
        "overrides: [train.steps=2, train.checkpoint_every=2, eval.every=2, diagnostic.every=2,"
        " rollout.max_turns=2, tasks.limit=3, tensorboard=false, progress=false]\n"
        "eval: {samples_per_task: 1, max_tasks: 2, max_transcripts: 2}\n"
    )
    cmd = [sys.executable, "-m", "envlearn", "transfer", str(recipe)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    out = tmp_path / "out"
    rows = list(csv.DictReader((out / "transfer.csv").read_text().splitlines()))
    assert {(r["source"], r["target"]) for r in rows} == {
        ("initial", "toy"),
        ("initial", "http"),
        ("toy", "toy"),
        ("toy", "http"),
    }
    by = {(r["source"], r["target"]): r for r in rows}
    assert by[("toy", "http")]["domain"] == "http"
    for r in rows:
        assert float(r["env_ce"]) > 0 and 0.0 <= float(r["pass@1"]) <= 1.0
    # training on toy (ECHO) teaches toy's dynamics: its held-out env-CE falls below initial's
    assert float(by[("toy", "toy")]["env_ce"]) < float(by[("initial", "toy")]["env_ce"])
    png = (out / "transfer.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "transfer.json").read_text())["rows"]
    # resumable: a second run trains and scores nothing again
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert second.returncode == 0
    assert "already done" in second.stdout and "scoring" not in second.stdout


def test_a_bad_transfer_recipe_is_one_line(tmp_path):
    recipe = tmp_path / "t.yaml"
    recipe.write_text("base: nowhere.yaml\nsources: [toy]\ntargets: [toy]\n")
    res = subprocess.run(
        [sys.executable, "-m", "envlearn", "transfer", str(recipe)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"envlearn transfer: transfer recipe {str(recipe)!r}: base recipe 'nowhere.yaml' not found"
    ]
