"""The fixed, seeded clock (``clock="fixed"``, the default) and fixed file times.

Everything through the real adapter: ``date`` and Python see the episode's clock (a function of
the task, the seed and the command count), setup-created files and files made by earlier
commands carry fixed times, explicit times are kept, sleeping and timeouts still work, and the
same episode replayed later, or from a host whose own clock is 100 days off, observes the same
bytes; with ``clock="real"`` it does not (so the comparison can fail).

Runtime on a 2-core machine ≈ 8 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from envlearn_terminal import TerminalAdapter
from envlearn_terminal.clock import EpisodeClock, episode_epoch
from envlearn_terminal.sandbox import libfaketime_path

from envlearn.channels import Task

from .conftest import run

pytestmark = pytest.mark.integration

DAY = 86_400


def ints(text: str) -> list[int]:
    return [int(x.split()[0]) for x in text.split("\n") if x.strip()]


def test_episode_epoch_is_seeded_and_in_2024() -> None:
    a, b = episode_epoch("t", 0), episode_epoch("t", 1)
    assert a == episode_epoch("t", 0) and a != b and a != episode_epoch("u", 0)
    for t in (a, b):
        assert datetime.fromtimestamp(t, UTC).year == 2024
    clk = EpisodeClock("t", 0, timeout_s=10)
    assert clk.step_s == 60 and clk.start_of(3) == a + 180
    assert EpisodeClock("t", 0, timeout_s=90).step_s == 120  # never behind a long command


def test_date_python_and_file_times_follow_the_episode_clock(
    new_adapter: Callable[..., TerminalAdapter], make_task: Callable[..., Task]
) -> None:
    task = make_task(
        setup="echo s > from_setup; touch -d '2 days ago' old; touch -d '2020-01-02 03:04:05' pin\n",
        verify="true\n",
    )
    a = new_adapter(timeout_s=2)
    a.reset(task, seed=5)
    clk = EpisodeClock(task.id, 5, timeout_s=2)
    e0, e1, e2, e3 = (clk.start_of(k) for k in range(4))

    obs = run(a, "date -u +%s; python3 -c 'import time; print(int(time.time()))'")
    now_date, now_py = ints(obs.content_text("stdout"))
    assert e1 <= now_date <= e1 + 1 and e1 <= now_py <= e1 + 1, obs.text
    obs = run(a, "stat -c '%Y %n' from_setup old pin .; touch new; mkdir -p d; echo x > d/f")
    assert ints(obs.content_text("stdout")) == [e0, e0 - 2 * DAY, 1_577_934_245, e0], obs.text
    obs = run(a, "stat -c '%Y %n' new d d/f; date -u '+%F %T'")
    out = obs.content_text("stdout").split("\n")
    assert ints("\n".join(out[:3])) == [e2, e2, e2], obs.text
    assert out[3] == datetime.fromtimestamp(e3, UTC).strftime("%F %T"), obs.text
    obs = run(
        a,
        "git init -q r && cd r && echo x > f && git add f && "
        "git -c user.name=u -c user.email=u@x commit -qm m && git log --format=%ct; cd ..",
    )
    assert e3 + 60 <= ints(obs.content_text("stdout"))[0] <= e3 + 61, obs.text


def test_sleeping_and_timeouts_still_work(term: TerminalAdapter) -> None:
    t0 = time.monotonic()
    obs = run(
        term,
        "sleep 0.2; python3 -c 'import time; t = time.monotonic(); time.sleep(0.2); "
        "print(time.monotonic() - t >= 0.2)'; timeout 0.3 sleep 5; echo rc=$?",
    )
    assert obs.content_text("stdout") == "True\nrc=124\n", obs.text
    assert time.monotonic() - t0 >= 0.7


PROBE = [
    "date; date -u +%s; ls -la --full-time; mkdir d; touch d/f; echo x > g",
    "ls -la; ls -la --full-time d; stat -c '%y %n' g",
    "git init -q r && cd r && cp ../g . && git add g && "
    "git -c user.name=u -c user.email=u@x commit -q -m m && git log --format='%H %ad'",
]


def _probe(adapter: TerminalAdapter, task: Task) -> list[str]:
    out = [adapter.reset(task, seed=11).text]
    out += [run(adapter, cmd).text for cmd in PROBE]
    return out


def test_replays_match_and_the_real_clock_does_not(
    new_adapter: Callable[..., TerminalAdapter], make_task: Callable[..., Task]
) -> None:
    task = make_task(setup="mkdir -p data && echo 1 > data/one\n", verify="true\n")
    first = _probe(new_adapter(), task)
    second = _probe(new_adapter(), task)
    assert first == second
    assert "2024" in first[1] and "2026" not in "".join(first)  # the wall clock leaks nowhere
    real = [_probe(new_adapter(clock="real"), task) for _ in range(2)]
    assert real[0] != real[1]  # nanosecond file times: the comparison has teeth
    assert not new_adapter(clock="real").deterministic and TerminalAdapter.deterministic


def test_a_host_whose_clock_is_100_days_off_observes_the_same(
    new_adapter: Callable[..., TerminalAdapter],
    make_task: Callable[..., Task],
    workroot: Path,
) -> None:
    """The second run's whole Python process runs under libfaketime, 100 days ahead."""
    task = make_task(setup="mkdir -p data && echo 1 > data/one\n", verify="true\n")
    here = _probe(new_adapter(), task)
    script = textwrap.dedent(
        f"""\
        import json, sys, time
        sys.path.insert(0, {str(Path(__file__).parent.parent.parent)!r})
        from envlearn.channels import Task
        from envlearn_terminal import TerminalAdapter
        from tests.terminal.test_clock import _probe
        task = Task.model_validate_json({task.model_dump_json()!r})
        a = TerminalAdapter(workdir_root={str(workroot)!r}, timeout_s=2.0)
        try:
            print(json.dumps({{"host_time": time.time(), "texts": _probe(a, task)}}))
        finally:
            a.close()
        """
    )
    lib = libfaketime_path()
    assert lib is not None
    # the host's clock is off, the kernel's file stamps are what they are (as on a host whose
    # clock was set wrong): NO_FAKE_STAT
    env = {**os.environ, "LD_PRELOAD": lib, "FAKETIME": "+100d", "NO_FAKE_STAT": "1"}
    p = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = p.communicate(timeout=120)
    finally:
        p.kill()
        p.wait()
        for leftover in Path("/dev/shm").glob(f"*faketime_*_{p.pid}"):
            leftover.unlink()  # libfaketime's segment of that host process
    assert p.returncode == 0, err[-2000:]
    there = json.loads(out.strip().splitlines()[-1])
    assert there["host_time"] > time.time() + 99 * DAY  # that host really was 100 days ahead
    assert there["texts"] == here
