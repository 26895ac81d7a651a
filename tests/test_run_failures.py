"""Runs that cannot work fail loudly, through the real CLI, with one clear message: an adapter
that cannot be built, rollouts that keep failing, a missing model path, a suite without the
split the run needs, a disk that fills up during a checkpoint."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from envlearn.channels import Task
from envlearn.cli import main
from envlearn.health import FailureWatch, TooManyFailedRollouts
from envlearn.hookspecs import hookimpl
from envlearn.plugins import get_plugin_manager, reset_plugin_manager

pytestmark = pytest.mark.integration

SMALL = {
    "tasks": {"suite": "toy", "train_split": "train", "eval_split": "heldout"},
    "rollout": {
        "group_size": 2,
        "max_action_tokens": 6,
        "max_episode_tokens": 400,
        "num_workers": 2,
        "step_timeout_s": 5,
    },
    "train": {"steps": 1, "tasks_per_step": 2, "checkpoint_every": 1},
    "eval": {"at_start": False, "every": 100, "samples_per_task": 1, "max_tasks": 2},
    "diagnostic": {"every": 100, "max_transcripts": 2},
    "tensorboard": False,
    "progress": False,
}


def recipe(tmp_path: Path, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(SMALL))
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    """Exit code and the stderr lines of ``envlearn ARGV`` (stdout is dropped)."""
    capsys.readouterr()
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err.splitlines()


# ---------------------------------------------------------------------- the adapter


def test_an_adapter_that_cannot_be_built_stops_the_run_at_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    code, err = run_cli(
        capsys, "train", str(recipe(tmp_path)), f"run_dir={run}", "tasks.adapter_options={bogus: 1}"
    )
    assert code == 2
    assert err == [
        "envlearn train: adapter 'toy' cannot be built with tasks.adapter_options={'bogus': 1}: "
        "TypeError: GuessNumber.__init__() got an unexpected keyword argument 'bogus'; fix "
        "tasks.adapter_options (the adapter's README lists its options)"
    ]
    assert not (run / "metrics.jsonl").exists()  # nothing was trained


# ---------------------------------------------------------------------- rollouts that all fail


def _dead_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there any more
    return port


class _DeadApis:
    """A suite of http tasks whose own APIs (``data.base_url``) were never started."""

    def __init__(self, ports: list[int], splits: tuple[str, ...] = ("train", "heldout")) -> None:
        self.ports = ports
        self.splits = splits

    @hookimpl
    def register_task_suites(self, register: Callable[..., None]) -> None:
        tasks = [
            Task(
                id=f"api-{split}-{i}",
                adapter="http",
                instruction="Create a user.",
                split=split,
                max_turns=2,
                data={"base_url": f"http://127.0.0.1:{port}"},
            )
            for split in self.splits
            for i, port in enumerate(self.ports)
        ]
        register("dead-apis", lambda: tasks, adapter="http", description="APIs not started")


@pytest.fixture
def plugin() -> Iterator[Callable[[object], None]]:
    reset_plugin_manager()

    def add(p: object) -> None:
        get_plugin_manager().register(p, name="run-failures-test")

    yield add
    reset_plugin_manager()


def test_a_run_whose_rollouts_keep_failing_stops_with_the_errors_grouped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plugin: Callable[[object], None]
) -> None:
    a, b = _dead_port(), _dead_port()
    plugin(_DeadApis([a, b]))
    run = tmp_path / "run"
    code, err = run_cli(
        capsys,
        "train",
        str(recipe(tmp_path)),
        f"run_dir={run}",
        "tasks.suite=dead-apis",
        "train.steps=20",
        "train.max_failed_steps=2",
    )
    assert code == 1

    def refused(port: int) -> str:
        return (
            f"reset: EpisodeError: the task's service at http://127.0.0.1:{port} is not "
            "listening (ConnectionRefusedError: [Errno 111] Connection refused); start it "
            "before the run"
        )

    assert err[:2] == [
        "envlearn train: stopped at step 2: more than 50% of the rollouts failed in each of "
        "the last 2 steps (4/4, 4/4 failed); fix what the errors below say (or raise "
        "train.max_failed_fraction / train.max_failed_steps)",
        "first errors, grouped by message:",
    ]
    # one line per distinct message, with its count (the step's task order decides which first)
    assert sorted(err[2:]) == sorted([f"  4 x {refused(a)}", f"  4 x {refused(b)}"])
    rows = (run / "metrics.jsonl").read_text().splitlines()
    assert sum('"kind": "train"' in r for r in rows) == 2  # stopped after two steps, not twenty


def test_the_failure_watch_counts_only_consecutive_bad_steps() -> None:
    w = FailureWatch(0.5, 3)
    for errors in (["x"] * 3, ["x"] * 3, ["x"] * 2):  # 2/4 is not above 50%: the streak resets
        w.record(4, errors)
        w.check(1)
    for step, errors in enumerate((["step 1: E: a"], ["step 2: E: a"], ["reset: E: b"]), 1):
        w.record(1, errors)
        if step < 3:
            w.check(step)
    with pytest.raises(TooManyFailedRollouts) as e:
        w.check(3)
    assert str(e.value).splitlines()[1:] == [
        "first errors, grouped by message:",
        "  2 x step: E: a",  # the turn number is not part of the message
        "  1 x reset: E: b",
    ]


# ---------------------------------------------------------------------- configs that cannot work


@pytest.mark.parametrize(
    ("override", "line"),
    [
        (
            "model.init_from=/no/such/run/model",
            "model.init_from='/no/such/run/model' does not exist; point it at a saved model "
            "directory (e.g. a finished run's RUN_DIR/model) or a Hugging Face Hub id such as "
            "Qwen/Qwen3-0.6B",
        ),
        (
            "model.name_or_path=./runs/missing/model",
            "model.name_or_path='./runs/missing/model' does not exist; point it at a saved model "
            "directory (e.g. a finished run's RUN_DIR/model) or a Hugging Face Hub id such as "
            "Qwen/Qwen3-0.6B",
        ),
        (  # shaped like a hub id, refused by the hub's own validation: one line too
            "model.name_or_path=bad--name",
            "model.name_or_path='bad--name' could not be loaded: Cannot have -- or .. in "
            "repo_id: 'bad--name'. (check the name, or point it at a local model directory)",
        ),
    ],
)
def test_a_missing_model_path_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, line: str
) -> None:
    code, err = run_cli(
        capsys, "train", str(recipe(tmp_path)), f"run_dir={tmp_path / 'r'}", override
    )
    assert (code, err) == (2, [f"envlearn train: {line}"])


def test_a_directory_that_is_not_a_model_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "not_a_model"
    empty.mkdir()
    code, err = run_cli(
        capsys,
        "eval",
        str(recipe(tmp_path)),
        f"run_dir={tmp_path / 'r'}",
        "--checkpoint",
        str(empty),
    )
    assert (code, err) == (
        2,
        [
            f"envlearn eval: model.init_from='{empty}' is a directory without config.json, not "
            "a saved model; point it at a model directory (a run's RUN_DIR/model)"
        ],
    )


def test_a_suite_without_heldout_tasks_fails_at_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plugin: Callable[[object], None]
) -> None:
    plugin(_DeadApis([_dead_port()], splits=("train",)))
    code, err = run_cli(
        capsys, "train", str(recipe(tmp_path)), f"run_dir={tmp_path / 'r'}", "tasks.suite=dead-apis"
    )
    assert (code, err) == (
        2,
        [
            "envlearn train: task suite 'dead-apis' has no 'heldout' tasks, which this run uses "
            "(tasks.eval_split=heldout); set tasks.eval_split=train, or add heldout tasks to the "
            "suite"
        ],
    )


# ---------------------------------------------------------------------- a full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs: room for the run and one checkpoint, then filled up by the test."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {e}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(disk: Path, leave: int) -> None:
    """Write a filler file until only about ``leave`` bytes are free."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(disk / "filler", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def _digest(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def test_a_full_disk_during_a_checkpoint_is_one_line_and_keeps_the_previous_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_disk: Path
) -> None:
    run = small_disk / "run"
    rec = str(recipe(tmp_path))
    code, _ = run_cli(capsys, "train", rec, f"run_dir={run}")
    assert code == 0
    first = run / "checkpoints" / "step_00001"
    before, model_before = _digest(first), _digest(run / "model")
    _fill(small_disk, leave=1 << 20)  # 1 MiB: the step's logs fit, a 5 MB checkpoint does not
    code, err = run_cli(capsys, "train", rec, f"run_dir={run}", "train.steps=2", "--resume")
    assert code == 1
    assert len(err) == 1
    assert re.fullmatch(
        rf"envlearn train: could not write step_00002: disk full \(\d+ KiB free on "
        rf"{re.escape(str(run))}\); the previous checkpoint step_00001 is intact and the partial "
        r"one was removed; free some space or move run_dir to a larger disk, then rerun with "
        r"--resume",
        err[0],
    ), err
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00001"]  # no .tmp
    assert _digest(first) == before and _digest(run / "model") == model_before
    # and with space again, --resume finishes the run from the intact checkpoint
    (small_disk / "filler").unlink()
    code, _ = run_cli(capsys, "train", rec, f"run_dir={run}", "train.steps=2", "--resume")
    assert code == 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00001", "step_00002"]
