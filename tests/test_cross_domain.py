"""Cross-domain mixtures: one run over terminal + HTTP (+ toy), per-domain metrics and report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envlearn.config import ConfigError, load_config
from envlearn.trainer import Trainer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "cross_domain" / "tiny_mixture_echo.yaml"


def _rows(run: Path, kind: str) -> list[dict]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["kind"] == kind]


def test_suite_and_mixture_are_exclusive():
    with pytest.raises(ConfigError, match="not both"):
        load_config(RECIPE, ["tasks.suite=toy"])
    with pytest.raises(ConfigError, match="names a suite twice"):
        load_config(None, ["tasks.mixture=[{suite: toy}, {suite: toy}]"])


def test_each_step_shares_its_tasks_by_weight(tmp_path):
    cfg = load_config(
        RECIPE, [f"run_dir={tmp_path / 'r'}", "train.tasks_per_step=8", "tensorboard=false"]
    )
    trainer = Trainer(cfg)
    for step in range(3):
        adapters = [t.adapter for t in trainer._step_tasks(step)]
        # weights 2 : 1 : 1 of 8 tasks
        assert sorted(adapters) == ["http"] * 2 + ["terminal"] * 4 + ["toy"] * 2


def test_a_mixture_run_trains_and_reports_every_domain(tmp_path):
    run = tmp_path / "mix"
    cfg = load_config(
        RECIPE,
        [
            f"run_dir={run}",
            "train.steps=2",
            "eval.every=2",
            "diagnostic.every=2",
            "eval.max_tasks=2",
            "tensorboard=false",
            "progress=false",
        ],
    )
    Trainer(cfg).train()
    train, evals, diag = _rows(run, "train"), _rows(run, "eval"), _rows(run, "diag")
    assert len(train) == 2
    for dom in ("terminal", "http", "toy"):
        assert f"reward_mean/{dom}" in train[-1]
        assert f"pass@1/{dom}" in evals[-1] and evals[-1][f"tasks/{dom}"] >= 1
        assert diag[-1][f"env_ce/{dom}"] > 0 and f"surprise/{dom}" in diag[-1]
    assert "env_ce/terminal/stdout" in diag[-1] and "env_ce/http/http_body" in diag[-1]
    # rollouts of different domains share the step's batch
    rows = [json.loads(x) for x in (run / "rollouts" / "step_00001.jsonl").read_text().splitlines()]
    assert {r["adapter"] for r in rows} == {"terminal", "http", "toy"}
    # and the report shows the per-domain series
    from envlearn.cli import main

    assert main(["report", str(run)]) == 0
    html = (run / "report.html").read_text()
    for key in ("env_ce/terminal", "env_ce/http", "pass@1/http", "surprise/toy"):
        assert key in html, key
