"""Benchmark the http adapter: step latency and requests per second with 1/2/4 parallel episodes.

    .venv/bin/python bench/http_adapter.py            # about 20 s on 2 cores
    .venv/bin/python bench/http_adapter.py --steps 100 --modes threads
    .venv/bin/python bench/http_adapter.py --reliability   # deadline/decoding costs, ~10 s

Each worker replays the oracles of the train tasks in a loop (reset → step each oracle action →
score → close) until it has made ``--steps`` steps.  One step is one HTTP request to the
episode's own local service.  ``threads``: the workers share one process (as an in-process
rollout engine would; the services' server threads share its GIL too).  ``processes``: one
process per worker.  Printed: median and p90 step latency, requests per second over all workers
(wall time of the whole run, resets included), median reset+close time, and the speed-up in
requests per second over one episode of the same mode.

``--reliability``: what the hard deadline and body decoding cost.  (1) One request's latency
through the deadline-bound socket (``envlearn_http.adapter.fetch``) against plain
``http.client`` with a per-read timeout (the previous path), interleaved, same service.
(2) Wall time of a step against a server that drips one byte every 50 ms, per limit.
(3) A step whose body is a 50 MB gzip bomb (50 KB on the wire), cut at 1 MB.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import multiprocessing as mp
import os
import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from envlearn_http import HttpAdapter
from envlearn_http.adapter import fetch

from envlearn.plugins import load_tasks


def worker(steps: int, start: float | None = None) -> tuple[list[float], list[float], float]:
    """Run oracle episodes until ``steps`` steps; (step latencies, reset+close times, end time)."""
    tasks = [t for t in load_tasks("http", "train") if t.oracle]
    if start is not None:  # processes: all start at the same wall-clock moment
        time.sleep(max(0.0, start - time.time()))
    step_s: list[float] = []
    lifecycle_s: list[float] = []
    i = 0
    while len(step_s) < steps:
        task = tasks[i % len(tasks)]
        i += 1
        adapter = HttpAdapter()
        t0 = time.perf_counter()
        adapter.reset(task)
        lifecycle = time.perf_counter() - t0
        for action in task.oracle or []:
            t0 = time.perf_counter()
            obs = adapter.step(action)
            step_s.append(time.perf_counter() - t0)
            if obs.info.get("status") is None:
                raise RuntimeError(f"{task.id}: no response: {obs.text}")
        if adapter.score() != 1.0:
            raise RuntimeError(f"{task.id}: oracle did not score 1.0")
        t0 = time.perf_counter()
        adapter.close()
        lifecycle_s.append(lifecycle + time.perf_counter() - t0)
    return step_s, lifecycle_s, time.time()


def _proc_worker(args: tuple[int, float]) -> tuple[list[float], list[float], float]:
    return worker(*args)


def run(mode: str, n: int, steps: int) -> dict[str, float]:
    """``n`` workers of ``steps`` steps each; the figures of the run."""
    t0 = time.time()
    if mode == "threads":
        barrier = threading.Barrier(n)

        def go(_: int) -> tuple[list[float], list[float], float]:
            barrier.wait()
            return worker(steps)

        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(go, range(n)))
    else:
        start = time.time() + 1.0  # leave time for the processes to import
        with mp.get_context("fork").Pool(n) as pool:
            results = pool.map(_proc_worker, [(steps, start)] * n)
        t0 = start
    wall = max(end for _, _, end in results) - t0
    step_s = [s for r in results for s in r[0]]
    life_s = [s for r in results for s in r[1]]
    q = statistics.quantiles(step_s, n=10)
    return {
        "median_ms": 1000 * statistics.median(step_s),
        "p90_ms": 1000 * q[-1],
        "rps": len(step_s) / wall,
        "reset_close_ms": 1000 * statistics.median(life_s),
        "steps": len(step_s),
    }


def _raw_server(reply: bytes | None, drip_s: float = 0.0) -> tuple[socket.socket, threading.Event]:
    """A loopback server answering every request with ``reply`` (or dripping ``b"a"`` forever
    after a status line and headers when ``reply`` is None)."""
    sock = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            try:
                if reply is not None:
                    conn.sendall(reply)
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                while not stop.wait(drip_s):
                    conn.sendall(b"a")
            except OSError:
                pass

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return sock, stop


def reliability() -> None:
    """Print the cost of the deadline and of decoding, side by side with the old path."""
    from envlearn.channels import Task

    echo = Task(id="b", adapter="http", instruction="x", data={"service": "echo"})
    with HttpAdapter() as adapter:
        adapter.reset(echo)
        assert adapter.server is not None
        port = adapter.server.port
        plain_s, deadline_s = [], []
        for _ in range(600):  # interleaved, so load on the machine hits both alike
            t0 = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/echo?x=1", headers={"Connection": "close"})
            resp = conn.getresponse()
            resp.read()
            conn.close()
            plain_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            fetch(
                "127.0.0.1",
                port,
                "GET",
                "/echo?x=1",
                body=None,
                headers={"Connection": "close"},
                timeout_s=5,
                max_bytes=1_000_000,
            )
            deadline_s.append(time.perf_counter() - t0)
    a, b = statistics.median(plain_s), statistics.median(deadline_s)
    print("one request, median of 600 (interleaved):")
    print(f"  http.client, per-read timeout (before): {1000 * a:7.3f} ms")
    print(f"  deadline-bound socket (now):            {1000 * b:7.3f} ms   ratio {b / a:.2f}x")

    sock, stop = _raw_server(None, drip_s=0.05)
    port = sock.getsockname()[1]
    print("a server dripping one byte every 50 ms (a per-read timeout never fires):")
    for limit in (0.25, 0.5, 1.0):
        walls = []
        for _ in range(5):
            task = Task(
                id="d",
                adapter="http",
                instruction="x",
                data={"base_url": f"http://127.0.0.1:{port}"},
            )
            with HttpAdapter(timeout_s=limit) as adapter:
                adapter.reset(task)
                t0 = time.perf_counter()
                obs = adapter.step("```http\nGET /\n```")
                walls.append(time.perf_counter() - t0)
                assert obs.info.get("timeout"), obs.text
        print(
            f"  limit {limit:.2f} s: step wall median {statistics.median(walls):.3f} s, "
            f"max {max(walls):.3f} s (5 runs)"
        )
    stop.set()
    sock.close()

    bomb = gzip.compress(b"a" * 50_000_000, 9)
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(bomb)}\r\n\r\n"
    ).encode()
    sock, stop = _raw_server(head + bomb)
    port = sock.getsockname()[1]
    walls = []
    for _ in range(5):
        task = Task(
            id="g", adapter="http", instruction="x", data={"base_url": f"http://127.0.0.1:{port}"}
        )
        with HttpAdapter() as adapter:
            adapter.reset(task)
            t0 = time.perf_counter()
            adapter.step("```http\nGET /\n```")
            walls.append(time.perf_counter() - t0)
    print(
        f"a 50 MB gzip bomb ({len(bomb) // 1000} KB sent), cut at 1 MB: step wall median "
        f"{1000 * statistics.median(walls):.1f} ms (5 runs)"
    )
    stop.set()
    sock.close()


def main() -> None:
    """Print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=600, help="steps per worker (default 600)")
    p.add_argument("--episodes", default="1,2,4", help="parallel episodes (default 1,2,4)")
    p.add_argument("--modes", default="threads,processes", help="threads and/or processes")
    p.add_argument("--reliability", action="store_true", help="deadline and decoding costs")
    a = p.parse_args()
    if a.reliability:
        reliability()
        return
    counts = [int(x) for x in a.episodes.split(",")]
    run("threads", 1, 50)  # warm up imports and the loopback path
    print(f"http adapter, {os.cpu_count()} CPUs, {a.steps} steps per episode worker")
    print(
        f"{'mode':<10} {'episodes':>8} {'median step':>12} {'p90 step':>10} "
        f"{'requests/s':>11} {'vs 1':>6} {'reset+close':>12}"
    )
    for mode in a.modes.split(","):
        base = None
        for n in counts:
            r = run(mode, n, a.steps)
            base = base or r["rps"]
            print(
                f"{mode:<10} {n:>8} {r['median_ms']:>9.2f} ms {r['p90_ms']:>7.2f} ms "
                f"{r['rps']:>11.0f} {r['rps'] / base:>5.2f}x {r['reset_close_ms']:>9.2f} ms"
            )


if __name__ == "__main__":
    main()
