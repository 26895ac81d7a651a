"""Benchmark the terminal adapter: command round trip, session start, commands/s in parallel.

    .venv/bin/python bench/terminal.py          # about 40 s on 2 cores
    .venv/bin/python bench/terminal.py --n 500 --seconds 3 --baseline 4aefc75

Printed, side by side:

* **before / after** (issue 19): the adapter as it was at ``--baseline`` (a git revision; its
  package is extracted from git into a temporary directory and imported under another name) vs
  today's with its defaults (a capped tmpfs per episode, the fixed libfaketime clock and file
  times, ``--disable-userns``, a fixed sandbox root), and today's with ``clock="real"``: round
  trip of ``true`` (a builtin) and of ``ls -la`` (a new process: libfaketime is preloaded into
  every one), ``reset`` on a task with no setup, and ``close``.  Rounds alternate between the
  variants so that load from other jobs falls on all of them alike; the goal is ≤ 10 % slower.

* round trip of ``true`` in a warm sandboxed session, through ``ShellSession.run`` and through
  ``TerminalAdapter.step`` (action parsing and parts included); goal ≤ 10 ms.  For scale: the
  cost of a fresh ``bash -c true`` and of a fresh bwrap sandbox per command (what a harness
  without a persistent shell pays).
* new-session start (bwrap + bash to its first prompt, dirs prepared), ``reset`` on a task with
  no setup (fresh work dir + uid lease + session), and ``close``; goal ≤ 150 ms for a start.
* commands per second with 1, 2 and 4 sessions driven by threads of one process, and the
  speed-up over one session.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envlearn_terminal import TerminalAdapter
from envlearn_terminal.sandbox import (
    Limits,
    lease_uid,
    rmtree_force,
    sandbox_env,
    wrap_command,
    write_identity_files,
)
from envlearn_terminal.session import ShellSession

from envlearn.channels import Task

EMPTY = Task(id="bench", adapter="terminal", instruction="bench")
TRUE = "```bash\ntrue\n```"
LS = "```bash\nls -la\n```"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = "4aefc75"  # main just before issue 19's changes to the adapter


def load_baseline(rev: str, into: Path) -> Any:
    """The terminal adapter class as of git revision ``rev``, imported as another package."""
    pkg = "envlearn_terminal_at_" + "".join(c if c.isalnum() else "_" for c in rev)
    src = "adapters/terminal/envlearn_terminal"
    names = subprocess.run(
        ["git", "-C", str(REPO), "ls-tree", "--name-only", f"{rev}:{src}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    (into / pkg).mkdir(parents=True)
    for name in names:
        if not name.endswith(".py"):
            continue
        text = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{rev}:{src}/{name}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (into / pkg / name).write_text(text.replace("envlearn_terminal", pkg))
    sys.path.insert(0, str(into))
    return importlib.import_module(f"{pkg}.adapter").TerminalAdapter


def side_by_side(
    variants: dict[str, Callable[[], Any]], n: int, starts: int, rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Per variant: step(true), step(ls -la), reset and close times, rounds interleaved."""
    out: dict[str, dict[str, list[float]]] = {
        v: {"step true": [], "step ls -la": [], "reset": [], "close": []} for v in variants
    }
    for _ in range(rounds):
        for name, make in variants.items():
            rec = out[name]
            a = make()
            a.reset(EMPTY)
            for _ in range(10):
                a.step(TRUE)
            rec["step true"] += timed(lambda a=a: a.step(TRUE), n // rounds)
            rec["step ls -la"] += timed(lambda a=a: a.step(LS), max(1, n // (4 * rounds)))
            for _ in range(max(1, starts // rounds)):
                t0 = time.perf_counter()
                a.reset(EMPTY)
                rec["reset"].append(time.perf_counter() - t0)
            a.step(TRUE)
            t0 = time.perf_counter()
            a.close()
            rec["close"].append(time.perf_counter() - t0)
    return out


def ms(xs: list[float]) -> str:
    """Median, p90 and mean of seconds, in milliseconds."""
    xs = sorted(xs)
    p90 = xs[int(0.9 * (len(xs) - 1))]
    return (
        f"median {statistics.median(xs) * 1e3:7.2f} ms   p90 {p90 * 1e3:7.2f} ms   "
        f"mean {statistics.fmean(xs) * 1e3:7.2f} ms"
    )


def timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Wall time of ``n`` calls of ``fn``."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


class Dirs:
    """A work/home/ctl layout for driving ShellSession directly."""

    def __init__(self, root: Path) -> None:
        self.lease = lease_uid()
        self.root = Path(tempfile.mkdtemp(dir=root))
        self.root.chmod(0o711)
        self.work, self.home, self.ctl = self.root / "w", self.root / "h", self.root / "c"
        self.work.mkdir()
        self.home.mkdir()
        self.ctl.mkdir(mode=0o755)
        if os.geteuid() == 0:
            for d in (self.work, self.home):
                os.chown(d, self.lease.uid, self.lease.uid)
        write_identity_files(self.ctl, self.lease.uid)

    def session(self) -> ShellSession:
        return ShellSession(workdir=self.work, home=self.home, ctl_dir=self.ctl, uid=self.lease.uid)

    def close(self) -> None:
        rmtree_force(self.root)
        self.lease.release()


def throughput(sessions: int, seconds: float, root: Path) -> tuple[float, int]:
    """Commands/s over ``sessions`` adapters, each driven by its own thread for ``seconds``."""
    adapters = [TerminalAdapter(workdir_root=root) for _ in range(sessions)]
    for a in adapters:
        a.reset(EMPTY)
        a.step(TRUE)
    counts = [0] * sessions
    barrier = threading.Barrier(sessions + 1)
    end = [0.0]

    def work(i: int) -> None:
        barrier.wait()
        a = adapters[i]
        while time.perf_counter() < end[0]:
            a.step(TRUE)
            counts[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    end[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for a in adapters:
        a.close()
    return sum(counts) / wall, sum(counts)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=300, help="round trips per figure")
    ap.add_argument("--starts", type=int, default=30, help="session starts / resets to time")
    ap.add_argument("--seconds", type=float, default=2.0, help="duration of each throughput run")
    ap.add_argument(
        "--baseline",
        default=DEFAULT_BASELINE,
        help=f"git revision of the 'before' adapter (default {DEFAULT_BASELINE})",
    )
    ap.add_argument("--rounds", type=int, default=6, help="interleaved rounds of the comparison")
    args = ap.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="envlearn-bench-", dir="/tmp"))
    root.chmod(0o711)
    load = os.getloadavg()[0]
    print(
        f"terminal adapter benchmark  (cpus: {os.cpu_count()}, load {load:.1f}, uid {os.geteuid()})\n"
    )
    try:
        base_cls = load_baseline(args.baseline, root / "baseline")
        variants: dict[str, Callable[[], Any]] = {
            f"before ({args.baseline})": lambda: base_cls(workdir_root=root),
            "after (defaults)": lambda: TerminalAdapter(workdir_root=root),
            "after, clock='real'": lambda: TerminalAdapter(workdir_root=root, clock="real"),
        }
        res = side_by_side(variants, args.n, args.starts, args.rounds)
        names = list(variants)
        print(f"before / after, {args.rounds} interleaved rounds (median ms; ratio to before)")
        print(f"  {'':14}" + "".join(f"{v:>24}" for v in names))
        for metric in ("step true", "step ls -la", "reset", "close"):
            base = statistics.median(res[names[0]][metric])
            cells = []
            for v in names:
                med = statistics.median(res[v][metric])
                cells.append(f"{med * 1e3:9.2f} ms  x{med / base:4.2f}")
            print(f"  {metric:14}" + "".join(f"{c:>24}" for c in cells))
        print()

        d = Dirs(root)
        s = d.session()
        for _ in range(20):
            s.run("true")
        rt_session = timed(lambda: s.run("true"), args.n)
        rt_echo = timed(lambda: s.run("echo hello; echo world >&2"), args.n)
        s.close()

        a = TerminalAdapter(workdir_root=root)
        a.reset(EMPTY)
        for _ in range(20):
            a.step(TRUE)
        rt_step = timed(lambda: a.step(TRUE), args.n)
        a.close()

        env = sandbox_env(sandbox="bwrap")
        bash_once = timed(lambda: subprocess.run(["bash", "-c", "true"], check=True), 50)
        argv = wrap_command(
            ["bash", "-c", "true"],
            sandbox="bwrap",
            uid=d.lease.uid,
            limits=Limits(),
            workdir=d.work,
            home=d.home,
            ctl_dir=d.ctl,
            new_session=True,
        )
        bwrap_once = timed(lambda: subprocess.run(argv, env=env, check=True), 50)

        starts, closes = [], []
        for _ in range(args.starts):
            t0 = time.perf_counter()
            s = d.session()
            starts.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            s.close()
            closes.append(time.perf_counter() - t0)
        d.close()

        a = TerminalAdapter(workdir_root=root)
        resets = timed(lambda: a.reset(EMPTY), args.starts)
        a.close()

        print("round trip, warm session (goal <= 10 ms)")
        print(f"  ShellSession.run('true')          {ms(rt_session)}")
        print(f"  ShellSession.run(echo out + err)  {ms(rt_echo)}")
        print(f"  TerminalAdapter.step(true)        {ms(rt_step)}")
        print("  for scale, one process per command:")
        print(f"  subprocess bash -c true           {ms(bash_once)}")
        print(f"  fresh bwrap sandbox + bash        {ms(bwrap_once)}")
        ratio = statistics.median(bwrap_once) / statistics.median(rt_step)
        print(f"  persistent step is {ratio:.0f}x faster than a fresh sandbox per command\n")

        print("session start (goal <= 150 ms)")
        print(f"  new ShellSession (to first prompt) {ms(starts)}")
        print(f"  TerminalAdapter.reset (no setup)   {ms(resets)}")
        print(f"  ShellSession.close (all reaped)    {ms(closes)}\n")

        print(f"throughput of `true` steps, threads of one process, {args.seconds:g} s each")
        base = None
        for n in (1, 2, 4):
            rate, total = throughput(n, args.seconds, root)
            base = base or rate
            print(
                f"  {n} session{'s' if n > 1 else ' '}  {rate:8.0f} commands/s  "
                f"({total} commands)   x{rate / base:.2f} vs 1 session"
            )
    finally:
        rmtree_force(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
