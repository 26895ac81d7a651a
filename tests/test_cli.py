"""The CLI end to end on the toy suite: rollout → JSONL that `datasets` loads, train, eval,
report, adapters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envlearn.cli import main
from envlearn.rollout import load_rollouts
from envlearn.transcript import Source

pytestmark = pytest.mark.integration

TOY = str(Path(__file__).resolve().parents[1] / "recipes" / "toy" / "tiny_echo.yaml")

SMALL = [
    "tasks.suite=toy",
    "rollout.group_size=2",
    "rollout.max_action_tokens=6",
    "tensorboard=false",
    "progress=false",
]


def test_rollout_oracle_jsonl_loads_in_datasets(tmp_path):
    out = tmp_path / "r.jsonl"
    assert main(["rollout", *SMALL, "--oracle", "--limit", "3", "--out", str(out)]) == 0
    rollouts = load_rollouts(out)
    assert [r.reward for r in rollouts] == [1.0, 1.0, 1.0]
    tr = rollouts[0].samples[0]
    assert Source.ACTION in tr.sources and Source.OBSERVATION in tr.sources

    import datasets

    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    assert len(ds) == 3 and ds[0]["status"] == "ok"
    s0 = ds[0]["samples"][0]
    assert len(s0["token_ids"]) == len(s0["sources"]) == len(s0["channels"])


def test_rollout_with_the_model_then_train_eval_report(tmp_path, capsys):
    out = tmp_path / "model_rollouts.jsonl"
    assert main(["rollout", *SMALL, "--limit", "2", "--out", str(out)]) == 0
    assert len(load_rollouts(out)) == 4  # 2 tasks x group of 2
    run = tmp_path / "run"
    assert main(["train", TOY, *SMALL, f"run_dir={run}", "train.steps=2", "eval.every=2",
                 "eval.max_tasks=2", "eval.samples_per_task=1", "diagnostic.every=2"]) == 0  # fmt: skip
    assert (run / "model" / "config.json").exists()
    capsys.readouterr()
    assert main(["eval", *SMALL, f"run_dir={run}", "--checkpoint", str(run / "model"),
                 "eval.max_tasks=2", "eval.samples_per_task=1"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    result = json.loads(printed[printed.index("{") :])
    assert result["kind"] == "eval" and result["tasks"] == 2 and "env_ce/toy" in result
    assert main(["report", str(run), "--out", str(tmp_path / "rep")]) == 0
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "run" in html and (tmp_path / "rep" / "report.png").stat().st_size > 10_000


def test_adapters_and_unknown_command(capsys):
    assert main(["adapters"]) == 0
    out = capsys.readouterr().out
    assert "toy" in out and "task suites:" in out
    assert main(["no-such-command"]) == 2
    assert main(["--help"]) == 0
    assert "demo" in capsys.readouterr().out
