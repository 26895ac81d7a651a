"""Debugger adapter latency: `p x`, `next`, `continue` to a breakpoint (pdb and gdb), episode start.

    .venv/bin/python bench/debugger.py [--reps 30] [--starts 5]

Each figure is the median wall time of one adapter ``step`` holding one command (what an
episode pays per action: the command's round trip into the sandboxed debugger plus building the
observation), next to the bare session round trip (``session.run``).  Episode start is
``reset`` on a bundled Python task and a bundled C task (sandbox, pdb or gcc + gdb, first stop).
The machine's load average is printed with the results: timings on a shared machine move.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from envlearn_debugger import DebuggerAdapter
from envlearn_debugger.suite import load_bundled_tasks

from envlearn.channels import Task

PY = """def work(x):
    y = x * 2
    return y


total = 0
for i in range(10**6):
    total += work(i)
"""
C = r"""#include <stdio.h>
int work(int x) {
  int y = x * 2;
  return y;
}
int main(void) {
  long total = 0;
  for (int i = 0; i < 1000000; i++)
    total += work(i);
  printf("%ld\n", total);
  return 0;
}
"""


def _task(backend: str) -> Task:
    if backend == "python":
        files = {"loop.py": PY, "test_loop.py": "def test_nothing():\n    assert False\n"}
        data = {"editable": ["loop.py"], "tests": ["test_loop.py"], "debug": {"script": "loop.py"}}
    else:
        cases = json.dumps({"cases": [{"name": "c", "args": [], "stdout": "x"}]})
        files = {"loop.c": C, "cases.json": cases}
        data = {"editable": ["loop.c"], "tests": ["cases.json"], "debug": {"args": []}}
    baseline = {"test_loop.py::test_nothing" if backend == "python" else "cases.json::c": False}
    return Task(
        id=f"bench-{backend}",
        adapter="debugger",
        instruction="bench",
        data={"backend": backend, "files": files, "baseline": baseline, **data},
    )


def _median_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def _time(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def bench_backend(backend: str, reps: int) -> dict[str, tuple[float, float]]:
    """{command: (median step ms, median session.run ms)}."""
    lang, bp, pexpr = (
        ("pdb", "break loop.py:2", "p x")
        if backend == "python"
        else (
            "gdb",
            "break loop.c:3",
            "print x",
        )
    )
    a = DebuggerAdapter(timeout_s=10.0)
    try:
        a.reset(_task(backend))
        a.step(f"```{lang}\n{bp}\ncontinue\n```")  # stopped inside work(x)
        s = a.session
        assert s is not None
        res: dict[str, tuple[float, float]] = {}
        # p x while stopped in work(x); continue: to the breakpoint again (the next call);
        # next: line by line through work() and the loop (a call it steps over stops at the
        # breakpoint inside, as in any debugger)
        for label, cmd in (
            (pexpr, pexpr),
            ("continue to a breakpoint", "continue"),
            ("next", "next"),
        ):
            step = _time(lambda cmd=cmd: a.step(f"```{lang}\n{cmd}\n```"), reps)
            raw = _time(lambda cmd=cmd: s.run(cmd, timeout_s=10.0), reps)
            res[label] = (_median_ms(step), _median_ms(raw))
        return res
    finally:
        a.close()


def bench_start(starts: int) -> dict[str, float]:
    """Median reset time on bundled tasks (one Python, one C)."""
    tasks = {t.id: t for t in load_bundled_tasks()}
    out = {}
    a = DebuggerAdapter()
    try:
        for tid in ("py-median-even", "c-sum-off-by-one"):
            out[tid] = _median_ms(_time(lambda tid=tid: a.reset(tasks[tid]), starts))
    finally:
        a.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=30, help="commands timed per figure (30)")
    p.add_argument("--starts", type=int, default=5, help="resets timed per task (5)")
    args = p.parse_args()
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    print(f"{'backend':<8} {'command':<26} {'step ms':>9} {'session ms':>11}")
    for backend in ("python", "c"):
        tool = "pdb" if backend == "python" else "gdb"
        for label, (step, raw) in bench_backend(backend, args.reps).items():
            print(f"{tool:<8} {label:<26} {step:9.2f} {raw:11.2f}")
    print(f"{'episode start (reset)':<35} {'median ms':>11}")
    for tid, ms in bench_start(args.starts).items():
        print(f"{tid:<35} {ms:11.1f}")


if __name__ == "__main__":
    main()
