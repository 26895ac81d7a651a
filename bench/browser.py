"""Browser adapter latency and memory: ``python bench/browser.py [--rounds N]``.

Measures, through ``BrowserAdapter`` (so each number includes settling the page and reading
its tree, i.e. what one action costs an episode):

* median action → observation latency for ``type``, ``click`` (a checkbox: no navigation) and
  ``goto`` (a page load), and median episode start (``reset``: local server, new context, first
  page), with 1, 2 and 4 episodes running at once in threads on one Chromium;
* browser memory per open context: the Chromium process tree's PSS with K contexts open (each
  showing a form page) minus the PSS with none, divided by K.

Prints one table; medians over all rounds and episodes.  The machine's load average is printed
too: on a shared machine, compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path

from envlearn_browser.adapter import BrowserAdapter
from envlearn_browser.engine import shared_engine

from envlearn.channels import Task
from envlearn.resources import run_scope

TASK = Task(
    id="bench-signup",
    adapter="browser",
    instruction="bench",
    max_turns=10_000,
    data={"kind": "site", "site": "forms", "start": "/signup", "verifier": "signup"},
)


def _episode(rounds: int, out: dict[str, list[float]], lock: threading.Lock) -> None:
    a = BrowserAdapter()
    got: dict[str, list[float]] = {"start": [], "type": [], "click": [], "goto": []}
    try:
        for _ in range(rounds):
            t = time.perf_counter()
            a.reset(TASK, seed=0)
            got["start"].append(time.perf_counter() - t)
            for kind, action in [
                ("type", 'type(10, "Ada Lovelace")'),
                ("click", "click(14)"),
                ("goto", 'goto("/contact")'),
                ("goto", 'goto("/signup")'),
                ("type", 'type(11, "ada@example.com")'),
                ("click", "click(14)"),
            ]:
                t = time.perf_counter()
                obs = a.step(f"```browser\n{action}\n```")
                got[kind].append(time.perf_counter() - t)
                assert not any(p.kind == "notice" for p in obs.parts), obs.text
    finally:
        a.close()
    with lock:
        for k, v in got.items():
            out[k].extend(v)


def latency(parallel: int, rounds: int) -> dict[str, float]:
    """Median seconds per kind with ``parallel`` episodes at once."""
    out: dict[str, list[float]] = {"start": [], "type": [], "click": [], "goto": []}
    lock = threading.Lock()
    threads = [threading.Thread(target=_episode, args=(rounds, out, lock)) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {k: statistics.median(v) for k, v in out.items()}


def _pss_kib(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def memory_per_context(k: int) -> tuple[float, float]:
    """(MiB of browser PSS with no context, MiB per open context) with ``k`` contexts."""
    engine = shared_engine()
    time.sleep(1.0)  # let the idle browser's memory settle before the baseline
    base = _pss_kib(engine.refresh_pids())
    adapters = [BrowserAdapter() for _ in range(k)]
    try:
        for a in adapters:
            a.reset(TASK, seed=0)
        time.sleep(1.0)
        loaded = _pss_kib(engine.refresh_pids())
    finally:
        for a in adapters:
            a.close()
    return base / 1024, (loaded - base) / 1024 / k


def main() -> None:
    """Run the benchmark and print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=5, help="episodes per thread (default 5)")
    p.add_argument("--contexts", type=int, default=8, help="contexts for the memory figure")
    args = p.parse_args()
    with run_scope("bench-browser"):
        latency(1, 1)  # warm up: launch Chromium, first pages
        rows = [(n, latency(n, args.rounds)) for n in (1, 2, 4)]
        base, per_ctx = memory_per_context(args.contexts)
    load = os.getloadavg()
    print(f"browser adapter, medians in ms ({args.rounds} episodes per thread; load average "
          f"{load[0]:.1f} on {os.cpu_count()} CPUs)")  # fmt: skip
    print(f"{'parallel':>8} {'start':>8} {'type':>8} {'click':>8} {'goto':>8}")
    one = rows[0][1]
    for n, r in rows:
        cells = " ".join(f"{r[k] * 1000:8.0f}" for k in ("start", "type", "click", "goto"))
        print(f"{n:>8} {cells}")
    for n, r in rows[1:]:
        ratio = " ".join(f"{r[k] / one[k]:8.2f}" for k in ("start", "type", "click", "goto"))
        print(f"{f'x{n}/x1':>8} {ratio}")
    print(f"browser PSS idle: {base:.0f} MiB; per open context (of {args.contexts}): "
          f"{per_ctx:.1f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
