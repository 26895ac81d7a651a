"""Trainer, rollout engine and CLI end to end on the tiny model and the toy adapter."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from envlearn.channels import BaseAdapter, ChannelSpec, EpisodeError, Observation, Task, content
from envlearn.config import ConfigError, load_config
from envlearn.evaluation import pass_at_k
from envlearn.hookspecs import hookimpl
from envlearn.plugins import get_plugin_manager, load_tasks, reset_plugin_manager
from envlearn.rollout import run_rollouts
from envlearn.trainer import Trainer, group_advantages_for
from envlearn.transcript import Source
from envlearn.wiring import build_components

pytestmark = pytest.mark.integration

BASE = [
    "tasks.suite=toy",
    "rollout.group_size=2",
    "rollout.max_action_tokens=6",
    "rollout.max_episode_tokens=400",
    "rollout.num_workers=2",
    "train.tasks_per_step=4",
    "eval.at_start=false",
    "eval.every=100",
    "eval.samples_per_task=1",
    "eval.max_tasks=2",
    "tensorboard=false",
    "progress=false",
]


def _rows(run_dir: Path, kind: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def _train(tmp_path: Path, name: str, *overrides: str) -> Path:
    run = tmp_path / name
    cfg = load_config(None, [*BASE, f"run_dir={run}", *overrides])
    Trainer(cfg).train()
    return run


@pytest.mark.slow
def test_heldout_env_ce_falls_under_echo_and_env_only_not_grpo(tmp_path):
    common = ("train.steps=5", "diagnostic.every=5", "optim.lr=0.01", "seed=3")
    drops, surprise = {}, {}
    for mode, extra in (
        ("grpo", ()),
        ("echo", ("objective.env_lambda=1.0",)),
        ("env_only", ()),
    ):
        run = _train(tmp_path, mode, f"objective.mode={mode}", *common, *extra)
        diag = _rows(run, "diag")
        first, last = diag[0]["env_ce/toy"], diag[-1]["env_ce/toy"]
        assert diag[0]["step"] == 0 and diag[-1]["step"] == 5
        assert all(math.isfinite(r["loss"]) for r in _rows(run, "train"))
        assert "env_ce/toy/feedback" in diag[-1]
        drops[mode] = first - last
        surprise[mode] = diag[0]["surprise/toy"] - diag[-1]["surprise/toy"]
        # every training rollout carries its per-step surprise (predict-before-act, issue 21)
        rows = [
            json.loads(x) for x in (run / "rollouts" / "step_00001.jsonl").read_text().splitlines()
        ]
        trained = [
            r
            for r in rows
            if r["status"] == "ok"
            and any(
                src == int(Source.OBSERVATION) and turn >= 1
                for smp in r["samples"]
                for src, turn in zip(smp["sources"], smp["turns"], strict=True)
            )
        ]
        assert trained and all(r["surprise"] for r in trained)
        assert "surprise/toy" in _rows(run, "train")[0]
    # the env loss teaches the model what the environment says; GRPO alone barely moves it
    assert drops["echo"] > 0.5, drops
    assert drops["env_only"] > 0.5, drops
    assert abs(drops["grpo"]) < 0.25 * drops["echo"], drops
    # so the held-out per-step surprise falls under ECHO and not under GRPO
    assert surprise["echo"] > 0.5, surprise
    assert abs(surprise["grpo"]) < 0.25 * surprise["echo"], surprise


def test_sft_lowers_action_ce_on_oracle_trajectories(tmp_path):
    run = _train(
        tmp_path,
        "sft",
        "objective.mode=sft",
        "objective.env_lambda=0",
        "train.steps=4",
        "optim.lr=0.01",
    )
    rows = _rows(run, "train")
    assert rows[-1]["action_ce"] < rows[0]["action_ce"] - 0.5
    assert (run / "model" / "config.json").exists()


def test_pass_at_k_estimator():
    assert pass_at_k(4, 0, 1) == 0.0
    assert pass_at_k(4, 4, 1) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2)


def test_kill_minus_9_then_resume_matches_uninterrupted(tmp_path):
    args = [*BASE, "train.steps=4", "train.checkpoint_every=1", "diagnostic.every=2", "seed=5"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "envlearn", "train"]
    ref = tmp_path / "ref"
    subprocess.run([*cmd, *args, f"run_dir={ref}"], check=True, env=env, capture_output=True)

    run = tmp_path / "killed"
    proc = subprocess.Popen(
        [*cmd, *args, f"run_dir={run}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    ckpt = run / "checkpoints" / "step_00002"
    while not ckpt.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.05)  # polling a file, not synchronising on time
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    done = subprocess.run(
        [*cmd, *args, f"run_dir={run}", "--resume"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed" in done.stdout
    want = {r["step"]: r["loss"] for r in _rows(ref, "train")}
    got = {r["step"]: r["loss"] for r in _rows(run, "train")}
    assert sorted(got) == [1, 2, 3, 4]
    assert got == want  # exact: same weights, optimizer, RNG and data position


# -- failing environments ----------------------------------------------------------------------


class Flaky(BaseAdapter):
    """Behaves like a tiny env, except for tasks that raise, hang or die."""

    name = "flaky"
    channels = (ChannelSpec(name="out"),)

    def __init__(self) -> None:
        self.release = threading.Event()

    def system_prompt(self, task: Task) -> str:
        return "say anything"

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        self.task = task
        if task.data["fault"] == "reset":
            raise EpisodeError("container failed to start")
        return Observation(parts=[content("out", "ready\n")])

    def step(self, action_text: str) -> Observation:
        fault = self.task.data["fault"]
        if fault == "raise":
            raise RuntimeError("adapter bug")
        if fault == "hang":
            self.release.wait(timeout=60)  # released by close(); the engine's timeout fires first
            return Observation(parts=[content("out", "late\n")])
        if fault == "die":
            raise BrokenPipeError("environment process died")
        return Observation(parts=[content("out", "fine\n")], done=True)

    def score(self) -> float:
        return 1.0 if self.task.id.endswith("0") else 0.0

    def close(self) -> None:
        self.release.set()


class _FlakyPlugin:
    @hookimpl
    def register_adapters(self, register):
        register("flaky", Flaky)

    @hookimpl
    def register_task_suites(self, register):
        faults = ["none", "none", "reset", "raise", "hang", "die", "none", "none"]
        register(
            "flaky",
            lambda: [
                Task(
                    id=f"t{i}{i % 2}",
                    adapter="flaky",
                    instruction="go",
                    data={"fault": f},
                    max_turns=2,
                )
                for i, f in enumerate(faults)
            ],
            adapter="flaky",
        )


@pytest.fixture
def flaky_plugin():
    reset_plugin_manager()
    pm = get_plugin_manager()
    plugin = _FlakyPlugin()
    pm.register(plugin, name="flaky-test")
    yield
    reset_plugin_manager()


def test_failed_rollouts_are_recorded_and_excluded(flaky_plugin, tmp_path):
    comp = build_components(None, [*BASE, "tasks.suite=flaky", "rollout.step_timeout_s=2"])
    tasks = load_tasks("flaky")
    t0 = time.monotonic()
    rollouts = run_rollouts(tasks, comp.policy, comp.renderer, comp.make_adapter, comp.cfg.rollout)
    assert time.monotonic() - t0 < 30
    by = {r.task_id: r for r in rollouts if r.group == 0}
    assert by["t20"].status == "failed" and "EpisodeError" in by["t20"].error
    assert by["t31"].status == "failed" and "adapter bug" in by["t31"].error
    assert by["t40"].status == "failed" and "exceeded" in by["t40"].error
    assert by["t51"].status == "failed" and "BrokenPipeError" in by["t51"].error
    for tid in ("t00", "t11", "t60", "t71"):
        assert by[tid].status == "ok" and by[tid].reward is not None
    assert all(r.reward is None for r in rollouts if r.status == "failed")
    adv = group_advantages_for(rollouts)
    assert len(adv) == len(rollouts)
    assert [a is not None for a in adv] == [r.status == "ok" for r in rollouts]

    # and training goes on
    run = _train(
        tmp_path,
        "flaky",
        "tasks.suite=flaky",
        "rollout.step_timeout_s=2",
        "train.steps=2",
        "train.tasks_per_step=8",
        "tasks.eval_split=train",
        "diagnostic.every=10",
    )
    rows = _rows(run, "train")
    assert len(rows) == 2 and all(r["failed"] == 8 for r in rows)  # 4 faulty tasks x 2 samples
    assert all(math.isfinite(r["loss"]) for r in rows)
    assert "failed_example" in rows[0]


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.stepz: unknown key"):
        load_config(None, ["train.stepz=3"])
    with pytest.raises(ConfigError, match=r"rollout\.group_size"):
        load_config(None, ["rollout.group_size=zero"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("objective: {mode: grpo, env_lambda: 0.3}\n")
    with pytest.raises(ConfigError, match="env_lambda"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_cli_train_reports_bad_config(tmp_path):
    from envlearn.cli import main

    assert main(["train", "train.nope=1"]) == 2


@pytest.mark.slow
def test_two_processes_train_in_lockstep(tmp_path):
    """Two CPU processes (torchrun; accelerate's own launcher starts only one on CPU without
    mpirun): rollouts split, gradients averaged, replicas identical at every checkpoint (the
    trainer checks and raises otherwise)."""
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = Path(sys.executable).with_name("torchrun")
    proc = subprocess.run(
        [
            str(launcher), "--standalone", "--nproc_per_node", "2",
            "-m", "envlearn", "train", *BASE, f"run_dir={run}", "train.steps=2",
            "train.checkpoint_every=1", "eval.every=2", "eval.max_tasks=4",
        ],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    train = _rows(run, "train")
    assert [r["processes"] for r in train] == [2, 2]
    assert [r["rollouts"] for r in train] == [8, 8]  # 4 tasks x 2 samples, from both processes
    ev = _rows(run, "eval")
    assert ev[-1]["tasks"] == 4  # eval tasks split over processes and gathered
    assert (run / "checkpoints" / "step_00002" / "model" / "config.json").exists()


def test_per_channel_env_weights_reach_the_loss(tmp_path):
    """objective.env_channel_weights scales each channel's tokens in L_env (λ_c)."""
    run = _train(
        tmp_path, "weights", "objective.mode=env_only", "train.steps=1",
        "objective.env_channel_weights={feedback: 0.5}", "diagnostic.every=10",
    )  # fmt: skip
    row = _rows(run, "train")[0]
    assert row["env_ce"] > 0 and row["env_loss"] == pytest.approx(0.5 * row["env_ce"], rel=1e-5)
    with pytest.raises(ConfigError, match="env_channel_weights must be >= 0"):
        load_config(None, ["train.env_channel_weights={stdout: -1}"])
