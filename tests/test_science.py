"""``envlearn science``: the four findings' arithmetic, argument checks, and (slow) the whole
command end to end on a few tasks of the terminal families.

* unit: ``summarize_science`` on hand-written metrics gives the hand-computed findings;
  ``method_overrides`` covers the λ sweep and the schedule; bad arguments give one line each.
* slow: ``envlearn science --quick --seeds 1`` on 1 train + 1 held-out task per family writes
  science.json / science.md / science.png and the run report, and a rerun skips every stage.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envlearn.science import method_overrides, science_table, summarize_science


def _run_dir(root: Path, name: str, p1: list[tuple[int, float]], ce: list[tuple[int, float]]):
    d = root / name
    d.mkdir(parents=True)
    rows = [{"step": s, "kind": "eval", "pass@1": v} for s, v in p1]
    rows += [{"step": s, "kind": "diag", "env_ce/terminal": v} for s, v in ce]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


@pytest.mark.unit
def test_method_overrides_sweep_and_schedule() -> None:
    m = method_overrides([0.01, 0.03, 0.1])
    assert list(m) == ["grpo", "echo_l0.01", "echo_l0.03", "echo_l0.1", "echo_sched", "env_only"]
    assert m["echo_l0.03"] == ("tiny_echo", ["objective.env_lambda=0.03"])
    assert m["echo_sched"][1] == [
        "objective.env_lambda=0.1",
        "objective.env_lambda_schedule.kind=linear",
        "objective.env_lambda_schedule.end=0.01",
    ]
    assert "echo_sched" not in method_overrides([0.1])


@pytest.mark.unit
def test_findings_arithmetic(tmp_path: Path) -> None:
    runs = {
        "grpo": [_run_dir(tmp_path, "grpo_seed0", [(0, 0.2), (5, 0.4), (10, 0.3)],
                          [(0, 2.0), (10, 1.9)])],
        "echo_l0.1": [_run_dir(tmp_path, "echo_seed0", [(0, 0.2), (5, 0.3), (10, 0.5)],
                               [(0, 2.0), (10, 1.0)])],
        "env_only": [_run_dir(tmp_path, "env_seed0", [(0, 0.2), (10, 0.1)],
                              [(0, 2.0), (10, 0.8)])],
    }  # fmt: skip
    scores = {
        "base": {"pass@1": 0.0, "env_ce": 9.0},
        "base_id": {"pass@1": 0.0, "env_ce": 9.5},
        "sft": {"pass@1": 0.1, "env_ce": 3.0},
        "grpo_seed0": {"pass@1": 0.1, "env_ce": 2.9},
        "echo_l0.1_seed0": {"pass@1": 0.15, "env_ce": 2.0},
        "env_only_seed0": {"pass@1": 0.05, "env_ce": 1.5},
    }
    s = summarize_science(runs, scores)
    f = s["findings"]
    assert f["sft_only"]["id_pass1"] == pytest.approx(0.2)
    a = f["a_env_ce"]["echo_l0.1"]
    assert a["id_change"] == pytest.approx(-1.0) and a["ood_change"] == pytest.approx(-1.0)
    assert a["id_ratio_to_grpo"] == pytest.approx(1.0 / 1.9)
    assert a["ood_ratio_to_grpo"] == pytest.approx(2.0 / 2.9)
    assert f["b_steps_to_grpo_best"]["echo_l0.1"] == [
        {"grpo_best": 0.4, "grpo_step": 5, "echo_step": 10}
    ]
    assert f["c_env_only_change"]["id"] == pytest.approx(-0.1)
    assert f["c_env_only_change"]["ood"] == pytest.approx(-0.05)
    d = f["d_gain_over_sft_gain"]["echo_l0.1"]
    assert d["id"]["fraction"] == pytest.approx(0.3 / 0.2)
    assert d["ood"]["fraction"] == pytest.approx(0.05 / 0.1)
    table = science_table(s)
    assert "| SFT only | 20.0% | 10.0% |" in table
    assert "echo_l0.1 at 10" in table
    assert not math.isnan(s["methods"]["grpo"]["id_pass1_best"]["mean"])


def _science(args: list[str], env: dict[str, str] | None = None, timeout: int = 900):
    return subprocess.run(
        [sys.executable, "-m", "envlearn", "science", *args], capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )  # fmt: skip


@pytest.mark.integration
def test_bad_arguments_one_line_each(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    r = _science(["--seeds", "0", "--lambdas", "0.1,-1", "--out", str(tmp_path / "f"), "oops"])
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "envlearn science: error: --lambdas: '-1' is not a positive number (e.g. 0.01,0.03,0.1)",
        "envlearn science: error: --seeds: must be at least 1 (got 0)",
        f"envlearn science: error: --out: {tmp_path / 'f'} is a file, not a directory",
        "envlearn science: error: override 'oops' is not KEY=VALUE (e.g. train.steps=20)",
    ]


@pytest.mark.integration
@pytest.mark.slow
def test_quick_science_end_to_end(tmp_path: Path) -> None:
    env = {
        "ENVLEARN_FAMILIES_TRAIN": "1",
        "ENVLEARN_FAMILIES_HELDOUT": "1",
        "ENVLEARN_FAMILIES_DIR": str(tmp_path / "families"),
    }
    out = tmp_path / "sci"
    r = _science(["--quick", "--seeds", "1", "--lambdas", "0.03,0.1", "--out", str(out)], env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    s = json.loads((out / "science.json").read_text())
    assert set(s["methods"]) == {"grpo", "echo_l0.03", "echo_l0.1", "echo_sched", "env_only"}
    for name in ("science.md", "science.png", "report/report.html"):
        assert (out / name).is_file(), name
    assert s["settings"]["rl_steps"] == 2 and s["settings"]["seeds"] == 1
    ood = s["methods"]["grpo"]["ood_env_ce_final"]["mean"]
    assert 0 < ood < 20  # a real cross-entropy of held-out observations, in nats/token
    again = _science(["--quick", "--seeds", "1", "--lambdas", "0.03,0.1", "--out", str(out)], env)
    assert again.returncode == 0
    assert again.stdout.count("already done") == 6  # SFT + 5 RL stages skipped
