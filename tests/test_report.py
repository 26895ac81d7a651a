"""``envlearn report``: fake run dirs -> verdict, headline figure, PNG + HTML; summaries; errors.
Expected runtime: ~15 s on 2 cores (matplotlib renders a few figures)."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest

from envlearn.report import (
    ReportError,
    cli_report,
    constant_series,
    effective_model,
    format_summary,
    group_runs,
    headline_lines,
    headline_panels,
    load_run,
    lower_is_better,
    metric_info,
    plot_panels,
    report_figure,
    summarize,
    verdict,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_run(path: Path, records: list[dict[str, Any]], config: str | None = "seed: 0\n") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "metrics.jsonl", "w") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")  # json writes NaN as the NaN literal
    if config is not None:
        (path / "config.yaml").write_text(config)
    return path


def train(step: int, **metrics: Any) -> dict[str, Any]:
    return {"step": step, "time_s": 2.5 * step, "kind": "train", **metrics}


def diag(step: int, **ce: float) -> dict[str, Any]:
    return {"step": step, "time_s": 2.5 * step + 1, "kind": "diag", "transcripts": 6, **ce}


def full_run(path: Path) -> Path:
    """Train, eval and diag lines; the last loss is NaN; final values chosen to print exactly."""
    recs = [
        train(1, loss=0.75, reward_mean=0.25, env_ce=2.5, tokens_per_s=100.0, my_metric=3.0),
        train(2, loss=0.5, reward_mean=0.5, env_ce=2.25, tokens_per_s=110.0, note="text"),
        {"step": 2, "time_s": 5.5, "kind": "eval", "pass@1": 0.375, "pass@k": 0.625, "k": 4},
        {
            "step": 2,
            "time_s": 6.0,
            "kind": "diag",
            "env_ce/terminal/stdout": 1.875,
            "env_ce/terminal/stderr": 2.125,
            "env_ce/terminal": 1.9,
        },
        train(3, loss=0.3125, reward_mean=0.8125, env_ce=2.0, tokens_per_s=120.0),
        {"step": 4, "time_s": 10.0, "kind": "eval", "pass@1": 0.5625, "pass@k": 0.6875, "k": 4},
        train(4, loss=math.nan, reward_mean=0.6875, env_ce=1.75, tokens_per_s=None),
    ]
    return write_run(path, recs, config="mode: echo\nlambda_env: 0.5\n")


def no_eval_run(path: Path) -> Path:
    """A run still early: train lines only, no eval or diag yet."""
    return write_run(
        path, [train(1, loss=0.9, reward_mean=0.1), train(2, loss=0.8125, reward_mean=0.1875)]
    )


def method_run(path: Path, ce_end: float, stdout_end: float, grad: float) -> Path:
    """A demo-like RL run: held-out env-CE from 9.5 to ``ce_end`` (two channels), pass@1 stuck at
    0, constant lr/kl/rollouts, a varying grad norm and step time."""
    recs: list[dict[str, Any]] = [
        {"step": 0, "time_s": 0.5, "kind": "eval", "split": "heldout", "pass@1": 0.0, "tasks": 4},
        diag(0, **{"env_ce/terminal": 9.5, "env_ce/terminal/stdout": 9.0}),
        diag(0, **{"env_ce/terminal/exit_code": 10.0}),
    ]
    for step in (1, 2, 3, 4):
        recs.append(
            train(
                step,
                reward_mean=0.25 * (step % 2),
                loss=1.0 / step,
                lr=0.003,
                kl=0.0,
                rollouts=16,
                grad_norm=grad * step,
                step_s=2.0 + step % 3,
                tokens_per_s=100.0 * step,
            )
        )
    recs.append(
        diag(
            4,
            **{
                "env_ce/terminal": ce_end,
                "env_ce/terminal/stdout": stdout_end,
                "env_ce/terminal/exit_code": 10.0,
            },
        )
    )
    recs.append(
        {"step": 4, "time_s": 11.0, "kind": "eval", "split": "heldout", "pass@1": 0.0, "tasks": 4}
    )
    return write_run(path, recs, config="objective: {mode: x}\n")


def demo_runs(root: Path) -> list[Path]:
    """Three seeds of ECHO and GRPO; final held-out env-CE ECHO 3.9/4.0/4.1, GRPO 9.3/9.4/9.5."""
    dirs = []
    for method, ends in (("grpo", (9.3, 9.4, 9.5)), ("echo", (3.9, 4.0, 4.1))):
        for seed, end in enumerate(ends):
            dirs.append(method_run(root / f"{method}_seed{seed}", end, end - 0.5, seed + 1.0))
    return dirs


@pytest.mark.unit
def test_verdict_compares_methods_with_seed_spread(tmp_path):
    runs = [load_run(d) for d in demo_runs(tmp_path)]
    assert [(g.name, len(g.runs)) for g in group_runs(runs)] == [("GRPO", 3), ("ECHO", 3)]
    assert verdict(runs) == (
        "held-out env-CE (nats/token, lower is better) at step 4: "
        "ECHO 4 ± 0.1 vs GRPO 9.4 ± 0.1 (0.43×; mean ± sd over 3 seeds)"
    )
    assert headline_lines(runs)[1:] == [
        "held-out env-CE on exit_code (nats/token, lower is better): "
        "constant 10 (every run), not plotted",
        "held-out env-CE on stdout (nats/token, lower is better) at step 4: "
        "ECHO 3.5 ± 0.1 vs GRPO 8.9 ± 0.1 (0.39×; mean ± sd over 3 seeds)",
        "held-out pass@1 (fraction of tasks solved, higher is better): "
        "constant 0 (every run), not plotted",
        "train reward (mean reward per rollout, higher is better) at step 4: "
        "ECHO 0 ± 0 vs GRPO 0 ± 0 (mean ± sd over 3 seeds)",
    ]


@pytest.mark.unit
def test_single_run_verdict_is_start_to_end(tmp_path):
    run = load_run(method_run(tmp_path / "toy_echo", 3.8, 3.0, 1.0))
    assert verdict([run]) == (
        "held-out env-CE (nats/token, lower is better): toy_echo 9.5 at step 0 → 3.8 at step 4 "
        "(0.40×)"
    )
    sft = load_run(write_run(tmp_path / "sft", [train(1, loss=2.0), train(2, loss=1.5)]))
    assert headline_panels([sft]) == [("train", "loss")]  # SFT: no reward, no eval yet
    assert (
        verdict([sft])
        == "loss (nats/token, lower is better): SFT 2 at step 1 → 1.5 at step 2 (0.75×)"
    )


@pytest.mark.unit
def test_headline_first_constants_listed_not_plotted(tmp_path):
    runs = [load_run(d) for d in demo_runs(tmp_path)]
    panels = plot_panels(runs)
    assert panels[:3] == [
        ("diag", "env_ce/terminal"),
        ("diag", "env_ce/terminal/stdout"),
        ("train", "reward_mean"),
    ]
    constants = constant_series(runs)
    for name, text in [
        ("train/lr", "0.003 (every run)"),
        ("train/kl", "0 (every run)"),
        ("train/rollouts", "16 (every run)"),
        ("eval/pass@1", "0 (every run)"),
        ("diag/env_ce/terminal/exit_code", "10 (every run)"),
        ("diag/transcripts", "6 (every run)"),
    ]:
        assert constants[name] == text
        assert tuple(name.split("/", 1)) not in panels  # listed, not plotted

    fig = report_figure(runs)
    texts = [t.get_text() for sub in fig.subfigs for t in sub.texts]
    assert texts[:2] == headline_lines(runs)[:2]  # the verdict on top, then the headline lines
    assert any("train/lr = 0.003 (every run)" in t for t in texts)
    axes = [ax for sub in fig.subfigs for ax in sub.axes if ax.get_visible()]
    titles = [ax.get_title() for ax in axes]
    assert titles[:3] == [
        "held-out env-CE, all channels  (↓ better)",
        "held-out env-CE on stdout  (↓ better)",
        "train reward  (↑ better)",
    ]
    assert not any(t.startswith(("lr", "kl", "rollouts")) for t in titles)
    units = {ax.get_title(): ax.get_ylabel() for ax in axes}
    assert units["grad_norm"] == "gradient L2 norm"
    assert units["step_s  (↓ better)"] == "seconds per step"
    assert units["tokens_per_s  (↑ better)"] == "tokens / s"
    assert all(ax.get_ylabel() and ax.get_xlabel() == "training step" for ax in axes)


@pytest.mark.unit
def test_overlapping_lines_stay_distinguishable(tmp_path):
    a = write_run(tmp_path / "a", [train(s, reward_mean=0.5, loss=1.0 / s) for s in (1, 2, 3)])
    b = write_run(tmp_path / "b", [train(s, reward_mean=0.5, loss=1.0 / s) for s in (1, 2, 3)])
    c = write_run(tmp_path / "c", [train(s, reward_mean=0.5, loss=2.0 / s) for s in (1, 2, 3)])
    runs = [load_run(d) for d in (a, b, c)]
    fig = report_figure(runs)
    ax = next(ax for sub in fig.subfigs for ax in sub.axes if ax.get_title().startswith("loss"))
    lines = ax.get_lines()
    assert len(lines) == 3
    styles = [(ln.get_linestyle(), ln.get_marker(), ln.get_markersize()) for ln in lines]
    assert len({s[0] for s in styles}) == 3 and len({s[1] for s in styles}) == 3
    assert styles[0][2] > styles[1][2] > styles[2][2]  # hollow markers nest where lines coincide
    assert all(ln.get_markerfacecolor() == "none" for ln in lines)
    assert list(lines[0].get_ydata()) == list(lines[1].get_ydata())  # a and b coincide...
    # ...and still both drawn: b's dashed line over a's solid one, a's bigger marker around b's


@pytest.mark.unit
def test_best_only_where_a_metric_has_a_direction(tmp_path):
    s = summarize(method_run(tmp_path / "r", 4.0, 3.5, 1.0))
    m = s["metrics"]
    assert (m["train/step_s"]["best"], m["train/step_s"]["best_step"]) == (2.0, 3)  # lower
    assert (m["train/tokens_per_s"]["best"], m["train/tokens_per_s"]["best_step"]) == (400.0, 4)
    assert (m["diag/env_ce/terminal"]["best"], m["diag/env_ce/terminal"]["best_step"]) == (4.0, 4)
    for name in ("train/grad_norm", "train/rollouts", "diag/transcripts", "train/lr"):
        assert m[name]["direction"] is None and m[name]["best_step"] is None, name
    pass1 = m["eval/pass@1"]  # has a direction, but 0 throughout: no "best @ step"
    assert (pass1["direction"], pass1["best"], pass1["best_step"]) == ("higher", None, None)
    assert metric_info("train", "grad_norm").direction is None
    assert metric_info("train", "n_env_tokens").direction is None
    assert metric_info("eval", "failed").direction == "lower"
    assert metric_info("diag", "env_ce/http/http_body").unit == "nats/token"
    text = format_summary(s)
    assert "best 2 @ 3" in text
    grad_line = next(line for line in text.splitlines() if "train/grad_norm" in line)
    assert "best" not in grad_line

    out = tmp_path / "out"
    assert cli_report([str(tmp_path / "r"), "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    grad_row = next(row for row in page.splitlines() if "<td>train/grad_norm</td>" in row)
    assert "best" not in grad_row and "<td>—</td>" in grad_row
    step_row = next(row for row in page.splitlines() if "<td>train/step_s</td>" in row)
    assert "best 2 @ 3" in step_row and "<td>↓</td>" in step_row


def write_checkpoint(path: Path, layers: int, hidden: int) -> Path:
    """A model dir as ``save_pretrained`` writes it: config.json + a safetensors header."""
    path.mkdir(parents=True)
    cfg = {
        "model_type": "qwen3",
        "num_hidden_layers": layers,
        "hidden_size": hidden,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 4 * hidden,
        "vocab_size": 4096,
    }
    (path / "config.json").write_text(json.dumps(cfg))
    header = json.dumps(
        {
            "embed.weight": {"dtype": "F32", "shape": [4096, hidden], "data_offsets": [0, 0]},
            "norm.weight": {"dtype": "F32", "shape": [hidden], "data_offsets": [0, 0]},
            "__metadata__": {"format": "pt"},
        }
    ).encode()
    (path / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    return path


@pytest.mark.unit
def test_config_of_an_init_from_run_shows_the_effective_model(tmp_path):
    ckpt = write_checkpoint(tmp_path / "sft" / "model", layers=4, hidden=128)
    config = (
        "model:\n  name_or_path: tiny\n  init_from: " + str(ckpt) + "\n"
        "  tiny: {hidden_size: 64, num_hidden_layers: 2}\n"
        "objective: {mode: echo}\n"
    )
    run = write_run(tmp_path / "echo_seed0", [train(1, loss=1.0)], config=config)
    desc, source = effective_model(load_run(run))
    assert desc == (
        "qwen3, 4 layers × 128 hidden, 4 heads (2 KV), MLP 512, vocab 4096, 0.52M parameters"
    )
    assert source == str(ckpt / "config.json")
    out = tmp_path / "out"
    assert cli_report([str(run), "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert f"Effective model (read from {ckpt / 'config.json'}): <b>{desc}</b>" in page
    assert "hidden_size: 64" not in page and "effective_model: qwen3, 4 layers" in page

    # no init_from: the config is the model; nothing to add
    plain = write_run(tmp_path / "plain", [train(1, loss=1.0)], "model: {name_or_path: tiny}\n")
    assert effective_model(load_run(plain)) is None
    # init_from gone (moved): say so instead of showing the tiny default as if it were trained
    gone = write_run(tmp_path / "gone", [train(1, loss=1.0)], "model: {init_from: /nowhere}\n")
    assert "NOT what was trained" in effective_model(load_run(gone))[0]


@pytest.mark.unit
def test_duplicate_series_listed_once(tmp_path):
    recs = [
        diag(0, **{"env_ce/toy": 8.0, "env_ce/toy/feedback": 8.0}),
        diag(2, **{"env_ce/toy": 7.0, "env_ce/toy/feedback": 7.0}),
    ]
    run = load_run(write_run(tmp_path / "toy", recs))
    assert ("diag", "env_ce/toy/feedback") not in plot_panels([run])
    fig = report_figure([run])
    texts = [t.get_text() for sub in fig.subfigs for t in sub.texts]
    assert any("diag/env_ce/toy/feedback = diag/env_ce/toy (same values)" in t for t in texts)
    titles = [ax.get_title() for sub in fig.subfigs for ax in sub.axes if ax.get_visible()]
    assert titles == ["held-out env-CE (one channel: feedback)  (↓ better)"]


@pytest.mark.unit
def test_report_writes_png_and_self_contained_html(tmp_path, capsys):
    from matplotlib.image import imread

    a = full_run(tmp_path / "runs" / "echo_lam05")
    b = no_eval_run(tmp_path / "runs" / "grpo_early")
    out = tmp_path / "out"
    assert cli_report([str(a), str(b), "--out", str(out)]) == 0

    for name in ("report.png", "report_walltime.png"):
        png = out / name
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000
        height, width = imread(png).shape[:2]
        assert height > 300 and width > 300

    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert 'src="http' not in page and "<link" not in page  # nothing fetched from outside
    runs = [load_run(a, "echo_lam05"), load_run(b, "grpo_early")]
    assert f'<p class="verdict">{verdict(runs)}</p>' in page
    assert verdict(runs) == (
        "held-out env-CE (nats/token, lower is better): one value so far 1.9 "
        "(in echo_lam05; logged once), not plotted"
    )
    for run in ("echo_lam05", "grpo_early"):
        assert f"<th>{run}</th>" in page
    # final values of each run (the last logged value, NaN shown as nan)
    for final in ("0.6875", "0.5625", "1.75", "1.875", "2.125", "1.9", "nan", "0.8125"):
        assert f"<td>{final}" in page, final
    assert "best 0.3125 @ 3" in page  # loss: the lowest finite value
    assert "no eval, diag lines yet" in page  # the early run
    assert "lambda_env: 0.5" in page  # its config

    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == verdict(runs)
    assert "  echo_lam05: step 4, 10 s (" in printed[-3] and "report.html" in printed[-1]


@pytest.mark.unit
def test_report_default_out_dir(tmp_path, monkeypatch):
    a = full_run(tmp_path / "a")
    assert cli_report([str(a)]) == 0
    assert (a / "report.html").is_file() and (a / "report.png").is_file()
    b = no_eval_run(tmp_path / "b")
    monkeypatch.chdir(tmp_path)
    assert cli_report([str(a), str(b)]) == 0
    assert (tmp_path / "runs" / "report" / "report.html").is_file()


@pytest.mark.unit
def test_report_missing_or_empty_metrics_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "never_ran"
    missing.mkdir()
    assert cli_report([str(missing), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"envlearn report: error: {missing / 'metrics.jsonl'}: no such file; a run dir must hold "
        "metrics.jsonl as written by `envlearn train`\n"
    )
    assert not (tmp_path / "o" / "report.html").exists()

    empty = write_run(tmp_path / "empty", [])
    with pytest.raises(ReportError, match=r"empty.*metrics\.jsonl: no metrics yet"):
        summarize(empty)
    with pytest.raises(ReportError, match="not a directory"):
        summarize(tmp_path / "nowhere")


@pytest.mark.unit
def test_bad_lines_name_file_and_line_but_a_partial_last_line_is_skipped(tmp_path):
    run = write_run(tmp_path / "live", [train(1, loss=1.0), train(2, loss=0.5)])
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "kind": "tra')  # being written right now
    assert summarize(run)["last_step"] == 2

    broken = write_run(tmp_path / "broken", [train(1, loss=1.0)])
    lines = (broken / "metrics.jsonl").read_text()
    (broken / "metrics.jsonl").write_text("{oops\n" + lines)
    with pytest.raises(ReportError, match=r"metrics\.jsonl:1: not valid JSON"):
        summarize(broken)
    nostep = write_run(tmp_path / "nostep", [{"kind": "train", "loss": 1.0}, train(2, loss=1.0)])
    with pytest.raises(ReportError, match=r"metrics\.jsonl:1: missing or non-integer 'step'"):
        summarize(nostep)


@pytest.mark.unit
def test_summarize_final_and_best(tmp_path):
    s = summarize(full_run(tmp_path / "r"))
    assert (s["run"], s["last_step"], s["wall_s"], s["lines"]) == ("r", 4, 10.0, 7)
    m = s["metrics"]
    loss = m["train/loss"]
    assert math.isnan(loss["final"]) and loss["nan_count"] == 1
    assert (loss["best"], loss["best_step"]) == (0.3125, 3)  # lower is better
    reward = m["train/reward_mean"]
    assert (reward["final"], reward["best"], reward["best_step"]) == (0.6875, 0.8125, 3)
    assert (m["eval/pass@1"]["final"], m["eval/pass@1"]["best"]) == (0.5625, 0.5625)
    assert m["diag/env_ce/terminal/stdout"]["final"] == 1.875
    assert m["train/tokens_per_s"]["final"] == 120.0  # null is skipped, not a value
    assert m["train/my_metric"]["best"] is None  # unknown metric: no direction, no best
    assert "train/note" not in m and "eval/k" not in m  # strings and pass@k's k are not metrics
    text = format_summary(s)
    assert "train/loss" in text and "best 0.3125 @ 3" in text


@pytest.mark.unit
def test_runs_with_the_same_dir_name_get_distinct_names(tmp_path):
    a = no_eval_run(tmp_path / "grpo" / "seed1")
    b = no_eval_run(tmp_path / "echo" / "seed1")
    out = tmp_path / "out"
    assert cli_report([str(a), str(b), "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "<th>grpo/seed1</th>" in page and "<th>echo/seed1</th>" in page
    runs = [load_run(a, "grpo/seed1"), load_run(b, "echo/seed1")]
    assert [g.name for g in group_runs(runs)] == ["GRPO", "ECHO"]  # "/seed1" is the seed


@pytest.mark.unit
def test_lower_is_better():
    assert lower_is_better("loss") and lower_is_better("env_ce/terminal/stdout")
    assert lower_is_better("step_s") and not lower_is_better("reward_mean")
    assert not lower_is_better("pass@1") and not lower_is_better("tokens_per_s")
    assert not lower_is_better("kl") and not lower_is_better("grad_norm")  # no direction


@pytest.mark.unit
def test_seeds_are_a_mean_with_a_band_over_steps_and_one_line_each_over_wall_time(tmp_path):
    runs = [load_run(d) for d in demo_runs(tmp_path)]
    fig = report_figure(runs, "step")
    ax = next(ax for sub in fig.subfigs for ax in sub.axes if ax.get_title() == "grad_norm")
    grpo, echo = ax.get_lines()  # one line per method: the mean over 3 seeds
    assert list(grpo.get_ydata()) == [2.0, 4.0, 6.0, 8.0]  # grad = (seed + 1) * step
    assert len(ax.collections) == 2  # and a min–max band each
    legend = [t.get_text() for t in fig.subfigs[0].legends[0].get_texts()]
    assert legend == [
        "GRPO (3 seeds: mean, band = min–max)",
        "ECHO (3 seeds: mean, band = min–max)",
    ]
    fig = report_figure(runs, "time")
    ax = next(ax for sub in fig.subfigs for ax in sub.axes if ax.get_title() == "grad_norm")
    assert len(ax.get_lines()) == 6 and not ax.collections  # seeds at their own pace
    assert ax.get_xlabel() == "wall time (s)"
