"""The round-1 rollout engine, kept only to measure and check the new one against it.

Lock-step: one batched ``generate`` for every live episode per turn, then every environment
call in a fresh thread from a pool (no thread affinity).  ``bench/rollout.py`` times it beside
``envlearn.rollout``; ``tests/test_engine.py`` checks that the new engine's lock-step batches
sample exactly the same tokens for the same seed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from envlearn.channels import Adapter, Observation, Task
from envlearn.config import RolloutConfig
from envlearn.policies import Policy, SamplingParams
from envlearn.render import ChatRenderer, PrefixBroken
from envlearn.rollout import Rollout
from envlearn.transcript import Transcript

__all__ = ["run_rollouts_r1"]


@dataclass
class _Episode:
    task: Task
    rollout: Rollout
    adapter: Adapter | None = None
    transcript: Transcript | None = None
    max_turns: int = 1
    live: bool = True


class _Call:
    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.started = 0.0
        self.finished = False
        self.result: Any = None
        self.error: BaseException | None = None


class _EnvPool:
    """Runs adapter calls on at most ``workers`` threads, each bounded by ``timeout_s`` from its
    own start.  A call past its deadline is abandoned (its daemon thread may finish later) and
    frees its slot, so a hung environment never starves the others."""

    def __init__(self, workers: int, timeout_s: float) -> None:
        self.workers = workers
        self.timeout_s = timeout_s

    def map(self, fns: Sequence[Callable[[], Any]]) -> list[tuple[Any, BaseException | None]]:
        calls = [_Call(fn) for fn in fns]
        wake = threading.Event()

        def run(c: _Call) -> None:
            try:
                c.result = c.fn()
            except BaseException as e:  # the environment's fault: recorded on the rollout
                c.error = e
            finally:
                c.finished = True
                wake.set()

        pending, running = list(calls), []
        while pending or running:
            while pending and len(running) < self.workers:
                c = pending.pop(0)
                c.started = time.monotonic()
                threading.Thread(target=run, args=(c,), daemon=True, name="envlearn-env").start()
                running.append(c)
            now = time.monotonic()
            still = []
            for c in running:
                if c.finished:
                    continue
                if now - c.started >= self.timeout_s:
                    c.error = TimeoutError(f"environment call exceeded {self.timeout_s:g} s")
                    continue
                still.append(c)
            running = still
            if running and (len(running) == self.workers or not pending):
                wake.clear()
                if not any(c.finished for c in running):
                    wait = min(c.started + self.timeout_s for c in running) - time.monotonic()
                    wake.wait(timeout=max(0.0, wait))
        return [(c.result if c.error is None else None, c.error) for c in calls]


def _close_quietly(adapter: Adapter | None) -> None:
    if adapter is None:
        return
    try:
        adapter.close()
    except Exception:  # close() of a dead environment may fail; nothing left to save
        pass


def run_rollouts_r1(
    tasks: Sequence[Task],
    policy: Policy,
    renderer: ChatRenderer,
    make_adapter: Callable[[Task], Adapter],
    cfg: RolloutConfig,
    *,
    seed: int = 0,
    group_size: int | None = None,
    temperature: float | None = None,
    on_turn: Callable[[int, int], None] | None = None,
) -> list[Rollout]:
    """Run ``group_size`` rollouts of every task; returns them in (task, group) order.

    Sampling seeds derive from ``seed`` so a run replays exactly.  ``on_turn(turn, live)`` is a
    progress callback.
    """
    G = group_size or cfg.group_size
    temp = cfg.temperature if temperature is None else temperature
    episodes: list[_Episode] = []
    for ti, task in enumerate(tasks):
        for g in range(G):
            ep_seed = (seed * 1_000_003 + ti * 7919 + g) % (2**31)
            r = Rollout(
                task_id=task.id, adapter=task.adapter, group=g, seed=ep_seed, split=task.split
            )
            episodes.append(_Episode(task, r, max_turns=cfg.max_turns or task.max_turns))
    pool = _EnvPool(cfg.num_workers, cfg.step_timeout_s)
    try:
        _reset_all(episodes, pool, renderer, make_adapter)
        turn = 0
        while True:
            live = [ep for ep in episodes if ep.live]
            if not live:
                break
            turn += 1
            if on_turn is not None:
                on_turn(turn, len(live))
            _one_turn(live, policy, renderer, pool, cfg, temp, seed, turn)
        _score_all(episodes, pool)
    finally:
        _close_all(episodes, pool)
    return [ep.rollout for ep in episodes]


def _close_all(episodes: Sequence[_Episode], pool: _EnvPool) -> None:
    """Close every environment (in parallel, each bounded); never wait on a hung thread."""
    pool.map([lambda a=ep.adapter: _close_quietly(a) for ep in episodes if ep.adapter is not None])


def _fail(ep: _Episode, where: str, err: BaseException) -> None:
    ep.rollout.status = "failed"
    ep.rollout.error = f"{where}: {type(err).__name__}: {err}"
    ep.live = False


def _reset_all(episodes, pool, renderer, make_adapter) -> None:
    def reset(ep: _Episode):
        ep.adapter = make_adapter(ep.task)
        t0 = time.monotonic()
        obs = ep.adapter.reset(ep.task, seed=ep.rollout.seed)
        ep.rollout.env_seconds += time.monotonic() - t0
        if not isinstance(obs, Observation):
            raise TypeError(f"reset() returned {type(obs).__name__}, not Observation")
        return obs, ep.adapter.system_prompt(ep.task)

    results = pool.map([lambda ep=ep: reset(ep) for ep in episodes])
    for ep, (res, err) in zip(episodes, results, strict=True):
        if err is not None:
            _fail(ep, "reset", err)
            continue
        obs, system = res
        ep.transcript = renderer.start(system, ep.task.instruction, obs)
        ep.rollout.samples.append(ep.transcript)
        if obs.done:
            ep.live = False
            ep.rollout.done = True


def _one_turn(live, policy, renderer, pool, cfg, temp, seed, turn) -> None:
    # token budgets: the episode must fit its next action
    gen_eps, budgets = [], []
    for ep in live:
        room = cfg.max_episode_tokens - len(ep.transcript)
        if room < 2:
            ep.live = False
            ep.rollout.truncated = True
            renderer.close_action(ep.transcript)
            continue
        gen_eps.append(ep)
        budgets.append(min(cfg.max_action_tokens, room))
    if not gen_eps:
        return
    # one batched generate per distinct budget (usually one)
    gens: dict[int, Any] = {}
    for budget in sorted(set(budgets)):
        idx = [i for i, b in enumerate(budgets) if b == budget]
        params = SamplingParams(
            max_new_tokens=budget,
            temperature=temp,
            top_p=cfg.top_p,
            stop_token_ids=renderer.stop_token_ids,
            seed=(seed * 31 + turn * 1_000_033 + budget) % (2**31),
        )
        outs = policy.generate([list(gen_eps[i].transcript.token_ids) for i in idx], params)
        for i, g in zip(idx, outs, strict=True):
            gens[i] = g
    texts = []
    for i, ep in enumerate(gen_eps):
        g = gens[i]
        texts.append(renderer.append_action(ep.transcript, g.token_ids, g.logprobs))
        ep.rollout.turns += 1

    _step_and_observe(gen_eps, texts, renderer, pool)


def _step_and_observe(
    eps: Sequence[_Episode], texts: Sequence[str], renderer: ChatRenderer, pool: _EnvPool
) -> None:
    """Step each episode's environment with its action text (in parallel, bounded) and append
    the observations; a template that rewrites history continues the episode in a new sample."""

    def step(ep: _Episode, text: str) -> Observation:
        t0 = time.monotonic()
        obs = ep.adapter.step(text)
        ep.rollout.env_seconds += time.monotonic() - t0
        if not isinstance(obs, Observation):
            raise TypeError(f"step() returned {type(obs).__name__}, not Observation")
        return obs

    results = pool.map([lambda ep=ep, t=t: step(ep, t) for ep, t in zip(eps, texts, strict=True)])
    for ep, (obs, err) in zip(eps, results, strict=True):
        if err is not None:
            _fail(ep, f"step {ep.rollout.turns}", err)
            continue
        final = obs.done or ep.rollout.turns >= ep.max_turns
        try:
            renderer.append_observation(ep.transcript, obs, final=final)
        except PrefixBroken:
            # the template rewrote history: close this sample, continue in a new one (unless
            # the episode ends here: a sample of nothing but prompt would train nothing)
            renderer.close_action(ep.transcript)
            ep.transcript.messages.append({"role": renderer.observation_role, "content": obs.text})
            if not final:
                ep.transcript = renderer.restart(ep.transcript)
                ep.rollout.samples.append(ep.transcript)
        if final:
            ep.live = False
            ep.rollout.done = obs.done


def _score_all(episodes, pool) -> None:
    scorable = [ep for ep in episodes if ep.rollout.status == "ok"]

    def score(ep: _Episode) -> float:
        r = float(ep.adapter.score())
        if not (0.0 <= r <= 1.0) or math.isnan(r):
            raise ValueError(f"score() returned {r}, outside [0, 1]")
        return r

    results = pool.map([lambda ep=ep: score(ep) for ep in scorable])
    for ep, (r, err) in zip(scorable, results, strict=True):
        if err is not None:
            _fail(ep, "score", err)
        else:
            ep.rollout.reward = r
