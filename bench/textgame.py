"""Benchmark the textgame adapter: game generation (cold and cached), step latency, episodes/s.

    .venv/bin/python bench/textgame.py            # about a minute on 2 loaded cores
    .venv/bin/python bench/textgame.py --games 4 --episodes 24 --rounds 5

Printed, side by side for the built-in dungeon and word games and for TextWorld:

* **generation** per game: TextWorld cold (make_game + compile_game into an empty cache
  directory), cached on disk (a new cache over the same directory: what the next run pays),
  cached in the run (the run resource's in-memory index); the built-in games are built from
  their seed on every reset, so their "generation" is that construction.
* **reset** and **step** latency (medians over the oracle's commands, through
  ``TextGameAdapter.step``: action parsing, the game, the parts).
* **episodes per second** (oracle episodes: reset, every command, score, close) with 1, 2 and 4
  episodes at once on threads of one process, and the speed-up over one; the median of
  ``--rounds`` rounds, the variants interleaved.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from envlearn_textgame import TextGameAdapter
from envlearn_textgame.builtin.dungeon import DungeonGame
from envlearn_textgame.builtin.wordle import WordleGame
from envlearn_textgame.suites import dungeon_task, textworld_tasks, wordle_task
from envlearn_textgame.tw import TextWorldCache, TextWorldSettings

from envlearn.channels import Task

SETTINGS = {"world_size": 3, "nb_objects": 5, "quest_length": 3}


def _ms(xs: list[float]) -> str:
    return f"{1000 * statistics.median(xs):8.2f} ms" if xs else "       -   "


def _episode(task: Task) -> int:
    a = TextGameAdapter()
    try:
        obs = a.reset(task)
        steps = 0
        for action in task.oracle or []:
            if obs.done:
                break
            obs = a.step(action)
            steps += 1
        assert a.score() == 1.0, task.id
        return steps
    finally:
        a.close()


def _latencies(tasks: list[Task]) -> tuple[list[float], list[float]]:
    resets: list[float] = []
    steps: list[float] = []
    for task in tasks:
        a = TextGameAdapter()
        t0 = time.perf_counter()
        obs = a.reset(task)
        resets.append(time.perf_counter() - t0)
        for action in task.oracle or []:
            if obs.done:
                break
            t0 = time.perf_counter()
            obs = a.step(action)
            steps.append(time.perf_counter() - t0)
        a.close()
    return resets, steps


def _throughput(tasks: list[Task], workers: int, episodes: int) -> float:
    jobs = [tasks[i % len(tasks)] for i in range(episodes)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(_episode, jobs))
    return episodes / (time.perf_counter() - t0)


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--games", type=int, default=3, help="TextWorld games to generate cold")
    p.add_argument(
        "--episodes", type=int, default=12, help="TextWorld episodes per run (built-in: 10x)"
    )
    p.add_argument("--rounds", type=int, default=3, help="throughput rounds (median shown)")
    args = p.parse_args(argv)
    seeds = list(range(1, args.games + 1))

    with tempfile.TemporaryDirectory(prefix="textgame-bench-") as tmp:
        root = Path(tmp)
        settings = [TextWorldSettings(seed=s, **SETTINGS) for s in seeds]
        cold_cache = TextWorldCache(root)
        cold = [_timed(lambda s=s: cold_cache.get(s)) for s in settings]
        disk = [_timed(lambda s=s: TextWorldCache(root).get(s)) for s in settings]
        memory = [_timed(lambda s=s: cold_cache.get(s)) for s in settings]
        dungeon_build = [_timed(lambda s=s: DungeonGame(s)) for s in range(20)]
        wordle_build = [_timed(lambda s=s: WordleGame(s)) for s in range(20)]

        kinds = {
            "dungeon": [dungeon_task(s, "train", rooms=5, show=("inventory",)) for s in range(8)],
            "wordle": [wordle_task(s, "train") for s in range(8)],
            "textworld": textworld_tasks(
                {"easy": SETTINGS}, train_seeds=seeds, heldout_seeds=(), cache=cold_cache
            ),
        }
        lat = {k: _latencies(ts) for k, ts in kinds.items()}
        for ts in kinds.values():  # warm-up: imports, the TextWorld index
            _episode(ts[0])
        rates: dict[str, dict[int, list[float]]] = {k: {1: [], 2: [], 4: []} for k in kinds}
        for _ in range(args.rounds):  # rounds interleave the variants: load falls on all alike
            for k, ts in kinds.items():
                n = args.episodes if k == "textworld" else 10 * args.episodes
                for w in (1, 2, 4):
                    rates[k][w].append(_throughput(ts, w, n))
        rate = {k: {w: statistics.median(v) for w, v in r.items()} for k, r in rates.items()}

    print(f"textgame adapter benchmark ({args.games} TextWorld games {SETTINGS}; medians)")
    print()
    print(f"{'generation per game':32} {'dungeon':>11} {'wordle':>11} {'textworld':>11}")
    print(
        f"{'  cold (generate + compile)':32} {_ms(dungeon_build)} {_ms(wordle_build)} {_ms(cold)}"
    )
    print(f"{'  cached on disk (next run)':32} {'':>11} {'':>11} {_ms(disk)}")
    print(f"{'  cached in the run (memory)':32} {'':>11} {'':>11} {_ms(memory)}")
    print()
    print(f"{'latency':32} {'dungeon':>11} {'wordle':>11} {'textworld':>11}")
    print(f"{'  reset':32} " + " ".join(_ms(lat[k][0]) for k in kinds))
    print(f"{'  step (oracle commands)':32} " + " ".join(_ms(lat[k][1]) for k in kinds))
    n_steps = {k: len(lat[k][1]) for k in kinds}
    print(f"{'  steps measured':32} " + " ".join(f"{n_steps[k]:11d}" for k in kinds))
    print()
    print(f"{'oracle episodes/s':32} {'dungeon':>11} {'wordle':>11} {'textworld':>11}")
    for w in (1, 2, 4):
        print(f"{f'  {w} at once':32} " + " ".join(f"{rate[k][w]:11.1f}" for k in kinds))
    print(
        f"{'  speed-up 4 vs 1':32} " + " ".join(f"{rate[k][4] / rate[k][1]:10.2f}x" for k in kinds)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
