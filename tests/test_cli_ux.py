"""The command line as a newcomer meets it (#23): what is missing, did-you-mean hints, the demo's
arguments checked before any work, Ctrl-C as one line and exit 130, a progress bar that keeps its
count and ETA at 80 columns.  Expected runtime: ~30 s on 2 loaded cores (one training subprocess).
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from envlearn.cli import NO_RECIPE, main
from envlearn.demo import _demo_suites
from envlearn.metrics import eta_text, interrupted_line, make_progress
from envlearn.suggest import closest, did_you_mean

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "recipes" / "toy" / "tiny_echo.yaml"


@pytest.mark.unit
def test_train_without_a_recipe_says_what_is_missing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train"]) == 2
    assert capsys.readouterr().err == NO_RECIPE + "\n"
    assert NO_RECIPE == (
        "envlearn train: no recipe given; pass a recipe YAML first, e.g. "
        "`envlearn train recipes/toy/tiny_echo.yaml train.steps=3` (or start from the defaults "
        "by naming the tasks: tasks.suite=NAME)"
    )
    assert main(["train", "train.steps=3"]) == 2  # overrides alone: still no recipe
    assert capsys.readouterr().err == NO_RECIPE + "\n"
    assert main(["train", "tasks.suite=toy", "train.stepz=3"]) == 2  # named tasks: defaults ok
    assert capsys.readouterr().err == (
        "envlearn train: invalid config (defaults + overrides):\n"
        "  train.stepz: unknown key; did you mean `train.steps`?\n"
    )
    assert not (tmp_path / "runs").exists()  # no default run started


@pytest.mark.unit
def test_unknown_keys_and_values_suggest_the_closest(capsys):
    assert main(["train", str(TOY), "train.step=3", "objective.mode=ecoh", "modle.dtype=x"]) == 2
    assert capsys.readouterr().err == (
        f"envlearn train: invalid config ({TOY} + overrides):\n"
        "  objective.mode: Input should be 'grpo', 'echo', 'env_only' or 'sft' (got 'ecoh'); "
        "did you mean `echo`?\n"
        "  train.step: unknown key; did you mean `train.steps`?\n"
        "  modle: unknown key; did you mean `model`?\n"
    )
    assert main(["train", str(TOY), "nothing_like_it=1"]) == 2
    assert capsys.readouterr().err.endswith(
        "  nothing_like_it: unknown key (see envlearn/config.py for the keys)\n"
    )


@pytest.mark.unit
def test_unknown_command_suggests_the_closest(capsys):
    assert main(["trian"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "envlearn: unknown command 'trian'; did you mean `train`?"
    )
    assert main(["zzz"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == "envlearn: unknown command 'zzz'"


@pytest.mark.unit
def test_closest():
    assert closest("train.step", ["train.steps", "train.tasks_per_step"]) == "train.steps"
    assert closest("ECHO", ["grpo", "echo"]) == "echo"
    assert closest("xyz", ["grpo", "echo"]) is None
    assert did_you_mean("ecoh", ["grpo", "echo"]) == "; did you mean `echo`?"
    assert did_you_mean("xyz", ["grpo"]) == ""


@pytest.mark.unit
def test_demo_checks_every_argument_before_any_work(capsys, tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--methods", "grpo,ecoh", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        "envlearn demo: error: --methods: unknown method 'ecoh'; did you mean `echo`? "
        "(choose from grpo, echo, env_only)\n"
    )
    assert not out.exists()  # nothing ran

    argv = ["demo", "--out", str(out), "--methods", "grpo,ecoh,echo,echo", "--seeds", "0"]
    argv += ["--sft-steps", "0", "train.step=3", "objective.env_lambda=-1"]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [
        "envlearn demo: error: --methods: unknown method 'ecoh'; did you mean `echo`? "
        "(choose from grpo, echo, env_only)",
        "envlearn demo: error: --methods: echo given twice",
        "envlearn demo: error: --seeds: must be at least 1 (got 0)",
        "envlearn demo: error: --sft-steps: must be at least 1 (got 0)",
        "envlearn demo: error: objective.env_lambda: Input should be greater than or equal to 0 "
        "(got -1)",
        "envlearn demo: error: train.step: unknown key; did you mean `train.steps`?",
    ]
    assert main(["demo", "--out", str(out), "--suite", "termnal", "junk"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "envlearn demo: error: --suite: no demo recipes for 'termnal'; did you mean `terminal`? "
        f"(suites with recipes/<suite>/tiny_sft.yaml: {', '.join(_demo_suites())})",
        "envlearn demo: error: override 'junk' is not KEY=VALUE (e.g. train.steps=20)",
    ]
    assert main(["demo", "--seeds", "x"]) == 2
    assert capsys.readouterr().err == (
        "envlearn demo: error: argument --seeds: invalid int value: 'x' "
        "(see envlearn demo --help)\n"
    )
    assert not out.exists()


@pytest.mark.unit
def test_demo_ctrl_c_is_one_line_and_130(capsys, tmp_path, monkeypatch):
    import envlearn.demo as demo

    class Stopped:
        step = 7

    def interrupted_stage(cfg, label, console, active=None):
        active["trainer"] = Stopped()
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "run_stage", interrupted_stage)
    assert main(["demo", "--out", str(tmp_path / "d"), "--quick"]) == 130
    assert capsys.readouterr().err == (
        "interrupted at step 7; run the same command again to resume\n"
    )


@pytest.mark.integration
def test_train_phases_eta_and_ctrl_c_via_sigint(tmp_path):
    """What a user sees: the phases, the ETA; then Ctrl-C: one line and exit 130."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "envlearn", "train", str(TOY), f"run_dir={run}"]
    cmd += ["train.steps=50", "progress=false", "tensorboard=false"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # training is under way once step 2 is reported
        seen.append(line.rstrip("\n"))
        if " step 2/50 " in line:
            break
    proc.send_signal(signal.SIGINT)
    # the long silent phases say what they do; each step line ends with an ETA
    assert seen[:3] == [
        "run: evaluating the starting model: 6 heldout tasks × 2 samples …",
        "run: held-out env-CE diagnostic of the starting model …",
        "run: running the oracles of 6 heldout tasks for the held-out env-CE diagnostic …",
    ]
    assert re.fullmatch(r"run step 1/50 reward .* eta \d+(s|m\d\ds|h\d\dm)", seen[3]), seen[3]
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    m = re.fullmatch(
        r"interrupted at step (\d+); run the same command with --resume to continue\n", err
    )
    assert m, err
    assert int(m.group(1)) >= 2
    assert interrupted_line(3, resume_flag=True) == (
        "interrupted at step 3; run the same command with --resume to continue"
    )


@pytest.mark.unit
def test_progress_keeps_bar_count_and_eta_at_80_columns():
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=True, color_system=None)
    progress = make_progress(console, enabled=True)
    info = "reward 0.0625  loss 0.781  env-CE 7.81  held-out env-CE 7.62  pass@1 0  tok/s 2573"
    with progress:
        task = progress.add_task("grpo_seed0", total=30, completed=0, info="")
        progress.update(task, completed=7, info=info)
        progress.refresh()
    last = buf.getvalue().split("\r\x1b[2K")[-1].splitlines()[0]
    assert len(last) <= 80
    assert last.startswith("grpo_seed0 ━━")  # the name, then the bar
    assert " 7/30 0:00:00 eta " in last and last.endswith("reward 0.0625  loss 0.…")


@pytest.mark.unit
def test_eta_text():
    assert eta_text(3, 27, 30.0) == "eta 4m30s"
    assert eta_text(10, 5, 20.0) == "eta 10s"
    assert eta_text(1, 100, 120.0) == "eta 3h20m"
    assert eta_text(0, 5, 0.0) == "eta ?"
    assert eta_text(5, 0, 9.0) == "eta 0s"


@pytest.mark.unit
def test_unknown_adapter_and_suite_names_suggest_the_closest(capsys, tmp_path):
    from envlearn.plugins import PluginError, load_tasks, make_adapter

    with pytest.raises(PluginError, match=r"^unknown adapter 'tyo'; did you mean `toy`\? \("):
        make_adapter("tyo")
    with pytest.raises(PluginError, match=r"^unknown task suite 'tyo'; did you mean `toy`\? \("):
        load_tasks("tyo")
    assert main(["check", "tyo"]) == 2
    assert capsys.readouterr().err.startswith(
        "envlearn check: unknown adapter 'tyo'; did you mean `toy`? (registered: "
    )
    assert main(["train", str(TOY), "tasks.suite=tyo", f"run_dir={tmp_path / 'r'}"]) == 2
    assert capsys.readouterr().err.startswith(
        "envlearn train: tasks.suite='tyo' is not registered; did you mean `toy`? (known: "
    )


@pytest.mark.unit
def test_ctrl_c_in_any_command_is_one_line_and_130(capsys, monkeypatch):
    import envlearn.cli as cli

    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cli_adapters", interrupted)
    assert main(["adapters"]) == 130
    assert capsys.readouterr().err == "envlearn adapters: interrupted\n"


@pytest.mark.unit
def test_setup_filter_quiets_setuptools_editable_warning_only():
    """run.sh's PYTHONWARNINGS filter silences setuptools' "Editable installation." block (a
    UserWarning subclass, re-raised by pip as BuildBackendWarning) and nothing else."""
    spec = re.search(r'PYTHONWARNINGS="([^"]+)"', (ROOT / "run.sh").read_text())
    assert spec and spec.group(1) == "ignore:Editable installation:UserWarning"
    code = (
        "import warnings\n"
        "class BuildBackendWarning(UserWarning): pass\n"
        "warnings.warn('Editable installation.\\n!!\\n  ****\\n  Please be careful', "
        "BuildBackendWarning)\n"
        "warnings.warn('another warning', UserWarning)\n"
    )
    env = dict(os.environ, PYTHONWARNINGS=spec.group(1))
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert "Editable installation" not in done.stderr
    assert "UserWarning: another warning" in done.stderr
