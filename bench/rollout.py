"""Rollout engine throughput: the round-1 lock-step engine vs the episode-affine engine.

    .venv/bin/python bench/rollout.py [--rounds 3] [--skip-terminal]

Same tiny model, tasks, seeds and settings for every engine, rounds interleaved in one process
(so machine load hits them alike); medians over rounds.  Prints episodes/s and generated
tokens/s on the toy and terminal suites, then the overlap gained with environments that take
50 ms per step (one slow episode in four, and all slow), lockstep vs overlap schedules.
Torch runs on one thread (more threads than free cores is many times slower on this machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from rollout_r1 import run_rollouts_r1  # noqa: E402

from envlearn.channels import BaseAdapter, ChannelSpec, Observation, Task, content  # noqa: E402
from envlearn.config import RolloutConfig  # noqa: E402
from envlearn.models import TinyModelConfig, load_tokenizer, tiny_model  # noqa: E402
from envlearn.plugins import load_tasks, make_adapter  # noqa: E402
from envlearn.policies import HFPolicy  # noqa: E402
from envlearn.render import ChatRenderer  # noqa: E402
from envlearn.resources import run_scope  # noqa: E402
from envlearn.rollout import Rollout, run_rollouts  # noqa: E402


class Paced(BaseAdapter):
    """Answers after ``task.data['delay']`` seconds (a slow environment on purpose)."""

    name = "paced"
    channels = (ChannelSpec(name="out"),)
    deterministic = False

    def system_prompt(self, task: Task) -> str:
        return "Reply with anything."

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        self.task = task
        return Observation(parts=[content("out", "ready\n")])

    def step(self, action_text: str) -> Observation:
        time.sleep(self.task.data["delay"])
        return Observation(parts=[content("out", "ok\n")])

    def score(self) -> float:
        return 1.0

    def close(self) -> None:
        pass


Runner = Callable[[], list[Rollout]]


def _measure(run: Runner) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    rs = run()
    dt = time.perf_counter() - t0
    eps = len(rs)
    toks = sum(
        sum(1 for m in s.action_mask() if m) for r in rs for s in r.samples if r.status == "ok"
    )
    failed = [r for r in rs if r.status != "ok"]
    if failed:
        raise SystemExit(f"bench/rollout.py: {len(failed)} rollouts failed: {failed[0].error}")
    return dt, eps / dt, toks / dt


def _table(title: str, runners: dict[str, Runner], rounds: int) -> dict[str, float]:
    print(f"\n{title}")
    results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in runners}
    for _ in range(rounds):
        for name, run in runners.items():  # interleaved: load hits every engine alike
            results[name].append(_measure(run))
    base = None
    medians = {}
    for name, rows in results.items():
        wall = statistics.median(r[0] for r in rows)
        eps = statistics.median(r[1] for r in rows)
        tps = statistics.median(r[2] for r in rows)
        base = base or wall
        medians[name] = wall
        print(
            f"  {name:<28} wall {wall:6.2f} s   {eps:6.1f} episodes/s   {tps:7.0f} gen tok/s   "
            f"time ÷ first row {wall / base:.2f}"
        )
    return medians


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-terminal", action="store_true")
    ap.add_argument(
        "--demo-model",
        action="store_true",
        help="the demo's tiny model (4 layers x 128; generation costs more) instead of the default",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    tok = load_tokenizer()
    renderer = ChatRenderer(tok, observation_role="tool", max_observation_tokens=256)
    size = (
        {"hidden_size": 128, "num_hidden_layers": 4, "head_dim": 32, "intermediate_size": 384}
        if args.demo_model
        else {}
    )
    model = tiny_model(TinyModelConfig(**size))
    policy = HFPolicy(model, tok, batch_size=64)
    print(
        f"tiny model {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params, "
        f"1 torch thread, {args.rounds} interleaved rounds, medians"
    )

    def engines(tasks, make, cfg, seed=0) -> dict[str, Runner]:
        lock = cfg.model_copy(update={"schedule": "lockstep"})
        over = cfg.model_copy(update={"schedule": "overlap"})
        return {
            "round-1 engine (lockstep)": lambda: run_rollouts_r1(
                tasks, policy, renderer, make, cfg, seed=seed
            ),
            "new engine, lockstep": lambda: run_rollouts(
                tasks, policy, renderer, make, lock, seed=seed
            ),
            "new engine, overlap": lambda: run_rollouts(
                tasks, policy, renderer, make, over, seed=seed
            ),
        }

    toy = load_tasks("toy", "train")
    cfg = RolloutConfig(group_size=4, max_turns=4, max_action_tokens=16, num_workers=8)
    _table(
        f"toy suite: {len(toy)} tasks x 4, <= 4 turns, 16 tokens/turn",
        engines(toy, lambda t: make_adapter("toy"), cfg),
        args.rounds,
    )

    if not args.skip_terminal:
        term = load_tasks("terminal", "train")[:8]
        cfg_t = RolloutConfig(group_size=2, max_turns=3, max_action_tokens=24, num_workers=4)
        with run_scope("bench"):
            _table(
                f"terminal suite: {len(term)} tasks x 2, <= 3 turns, 24 tokens/turn",
                engines(term, lambda t: make_adapter("terminal"), cfg_t),
                args.rounds,
            )

    for label, delays in (
        ("one environment in four takes 50 ms/step", [0.05, 0.0, 0.0, 0.0] * 4),
        ("every environment takes 50 ms/step", [0.05] * 16),
    ):
        tasks = [
            Task(id=f"p{i}", adapter="paced", instruction="go", max_turns=6, data={"delay": d})
            for i, d in enumerate(delays)
        ]
        cfg_p = RolloutConfig(group_size=1, max_turns=6, max_action_tokens=8, num_workers=16)
        _table(
            f"overlap: {label} (16 episodes, 6 turns)",
            engines(tasks, lambda t: Paced(), cfg_p),
            args.rounds,
        )


if __name__ == "__main__":
    main()
