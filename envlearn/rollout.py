"""The rollout engine: G rollouts per task, episode-affine environment threads, overlapping
generation, token budgets, per-call deadlines, and a ``failed`` status for infrastructure faults.

How an episode runs:

* **One thread per episode.**  The adapter is built, reset, stepped, scored and closed on one
  dedicated thread for the episode's whole life, so thread-bound environments (Playwright's sync
  API, pdb/gdb bindings, most native libraries) work.  ``rollout.num_workers`` bounds how many
  environment calls run at once.
* **Generation goes on while slow environments work.**  The main thread generates, in one
  batched ``policy.generate`` call, for every episode whose environment has answered.  Under
  ``rollout.schedule: lockstep`` it waits for every in-flight environment call first (all
  episodes advance together; results depend only on the seed).  Under ``overlap`` it waits at
  most ``rollout.max_batch_wait_s`` for stragglers, so one slow environment never holds back
  the others; the batch composition then depends on timing.  ``auto`` (the default) is
  lockstep when every adapter of the run declares itself deterministic (its results must then
  be reproducible) and overlap otherwise (where timing already changes what the environment
  says).
* **Deadlines.**  Every environment call is bounded by ``rollout.step_timeout_s`` from its own
  start.  An environment that raises, hangs or dies marks its rollout ``failed``: it is
  recorded, kept out of group statistics, and never becomes a zero-reward row; a hung call's
  thread is abandoned (its ``close`` is queued behind it) and never blocks the run.  Model
  mistakes are not failures: adapters answer them with notices.

Sampling seeds derive from the run seed, the turn and the batch's composition, so a batch made
of the same episodes at the same turn samples the same tokens.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from envlearn.channels import Adapter, Observation, Task, notice
from envlearn.config import RolloutConfig
from envlearn.policies import Policy, SamplingParams
from envlearn.predict import Guard, predict_observations
from envlearn.render import ChatRenderer, PrefixBroken
from envlearn.transcript import Transcript

__all__ = [
    "Rollout",
    "oracle_rollouts",
    "run_rollouts",
    "save_rollouts",
    "load_rollouts",
]

Status = Literal["ok", "failed"]


@dataclass
class Rollout:
    """One episode: its samples (usually one transcript), reward and status."""

    task_id: str
    adapter: str
    group: int  # index of this rollout within its task's group
    seed: int
    status: Status = "ok"
    reward: float | None = None
    error: str | None = None
    samples: list[Transcript] = field(default_factory=list)
    turns: int = 0
    done: bool = False  # the environment ended the episode (vs. turn/token budget)
    truncated: bool = False  # a token budget ended it
    env_seconds: float = 0.0
    split: str = "train"
    # seconds from the start of run_rollouts at which each observation arrived (reset first)
    timeline: list[float] = field(default_factory=list)
    # predict-before-act: {turn, prediction, refused_by} for each action the guard looked at
    guard: list[dict[str, Any]] = field(default_factory=list)
    # mean CE (nats/token) of each turn's real observation under the policy (str(turn) keys)
    surprise: dict[str, float] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        """A JSON-serialisable row (per-token sources included) that ``datasets`` can load."""
        return {
            "task_id": self.task_id,
            "adapter": self.adapter,
            "split": self.split,
            "group": self.group,
            "seed": self.seed,
            "status": self.status,
            "reward": self.reward,
            "error": self.error,
            "turns": self.turns,
            "done": self.done,
            "truncated": self.truncated,
            "env_seconds": self.env_seconds,
            "timeline": self.timeline,
            "guard": self.guard,
            "surprise": self.surprise,
            "samples": [s.to_dict() for s in self.samples],
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Rollout:
        known = {f.name for f in fields(cls)} - {"samples"}
        r = cls(**{k: v for k, v in row.items() if k in known})
        r.samples = [Transcript.from_dict(s) for s in row["samples"]]
        return r


def save_rollouts(rollouts: Iterable[Rollout], path: str | Path) -> Path:
    """Append rollouts to a JSONL file (``datasets.load_dataset("json", data_files=path)``)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("a") as f:
        for r in rollouts:
            f.write(json.dumps(r.to_row()) + "\n")
    return p


def load_rollouts(path: str | Path) -> list[Rollout]:
    return [
        Rollout.from_row(json.loads(line)) for line in Path(path).read_text().splitlines() if line
    ]


Schedule = Literal["auto", "lockstep", "overlap"]
_CallKind = Literal["reset", "step", "score", "close"]


@dataclass(eq=False)
class _Episode:
    index: int
    task: Task
    rollout: Rollout
    max_turns: int
    script: list[str] | None = None  # oracle actions (None: the policy acts)
    adapter: Adapter | None = None
    transcript: Transcript | None = None
    thread: _EpisodeThread | None = None
    finished: bool = False  # closed (or abandoned): nothing more will run for it


@dataclass(eq=False)
class _Call:
    kind: _CallKind
    ep: _Episode
    fn: Callable[[], Any]
    started: float = 0.0  # when it was handed to the episode's thread (its deadline's origin)
    timed_out: bool = False
    result: Any = None
    error: BaseException | None = None


class _EpisodeThread:
    """The one thread an episode's adapter lives on: it runs the episode's calls in order."""

    def __init__(self, name: str, done: queue.SimpleQueue[_Call]) -> None:
        self._inbox: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._done = done
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def submit(self, call: _Call) -> None:
        self._inbox.put(call)

    def stop(self) -> None:
        self._inbox.put(None)

    def _run(self) -> None:
        while True:
            call = self._inbox.get()
            if call is None:
                return
            try:
                call.result = call.fn()
            except BaseException as e:  # the environment's fault: recorded on the rollout
                call.error = e
            self._done.put(call)


def _where(call: _Call) -> str:
    """Where an environment call failed, for the rollout's error ("reset", "step 2", ...)."""
    return f"step {call.ep.rollout.turns}" if call.kind == "step" else call.kind


def _close_quietly(adapter: Adapter | None) -> None:
    if adapter is None:
        return
    try:
        adapter.close()
    except Exception:  # close() of a dead environment may fail; nothing left to save
        pass


Act = Callable[[list[_Episode]], None]


class _Engine:
    """Drives episodes: environment calls on their threads, actions from ``act`` on this one."""

    def __init__(
        self,
        episodes: list[_Episode],
        renderer: ChatRenderer,
        make_adapter: Callable[[Task], Adapter],
        cfg: RolloutConfig,
    ) -> None:
        self.episodes = episodes
        self.renderer = renderer
        self.make_adapter = make_adapter
        self.cfg = cfg
        self.done: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self.waiting: deque[_Call] = deque()  # calls not yet handed to their thread
        self.in_flight: list[_Call] = []
        self.ready: list[_Episode] = []  # episodes whose environment answered: they act next
        self.ready_since: float | None = None
        self.unfinished = len(episodes)
        self.t0 = time.monotonic()
        self.act: Act = lambda batch: None

    # -- environment calls ------------------------------------------------------------------

    def _dispatch(self, kind: _CallKind, ep: _Episode, fn: Callable[[], Any]) -> None:
        self.waiting.append(_Call(kind, ep, fn))

    def _pump(self) -> None:
        while self.waiting and len(self.in_flight) < self.cfg.num_workers:
            call = self.waiting.popleft()
            call.started = time.monotonic()
            self.in_flight.append(call)
            assert call.ep.thread is not None
            call.ep.thread.submit(call)

    def _reset_fn(self, ep: _Episode) -> Callable[[], tuple[Observation, str]]:
        def reset() -> tuple[Observation, str]:
            ep.adapter = self.make_adapter(ep.task)
            t0 = time.monotonic()
            obs = ep.adapter.reset(ep.task, seed=ep.rollout.seed)
            ep.rollout.env_seconds += time.monotonic() - t0
            if not isinstance(obs, Observation):
                raise TypeError(f"reset() returned {type(obs).__name__}, not Observation")
            return obs, ep.adapter.system_prompt(ep.task)

        return reset

    def step(self, ep: _Episode, text: str) -> None:
        """Hand the action text to the episode's environment."""

        def step() -> Observation:
            assert ep.adapter is not None
            t0 = time.monotonic()
            obs = ep.adapter.step(text)
            ep.rollout.env_seconds += time.monotonic() - t0
            if not isinstance(obs, Observation):
                raise TypeError(f"step() returned {type(obs).__name__}, not Observation")
            return obs

        self._dispatch("step", ep, step)

    def refuse(self, ep: _Episode, text: str) -> None:
        """Answer the action with a notice instead of running it (the guard refused it)."""
        self._observe(ep, Observation(parts=[notice(text)]))

    def _score_fn(self, ep: _Episode) -> Callable[[], float]:
        def score() -> float:
            assert ep.adapter is not None
            r = float(ep.adapter.score())
            if not (0.0 <= r <= 1.0) or math.isnan(r):
                raise ValueError(f"score() returned {r}, outside [0, 1]")
            return r

        return score

    def finish(self, ep: _Episode) -> None:
        """The episode is over: score it (if it did not fail), then close it."""
        if ep.rollout.status == "ok":
            self._dispatch("score", ep, self._score_fn(ep))
        else:
            self._close(ep)

    def _close(self, ep: _Episode) -> None:
        if ep.adapter is None:
            self._retire(ep)
        else:
            self._dispatch("close", ep, self._close_fn(ep))

    @staticmethod
    def _close_fn(ep: _Episode) -> Callable[[], None]:
        adapter = ep.adapter
        return lambda: _close_quietly(adapter)

    def _close_behind(self, ep: _Episode) -> None:
        """Queue ``close`` on the episode's thread behind whatever it is running (a hung call,
        an interrupted run), without waiting for it."""
        if ep.thread is not None and ep.adapter is not None:
            ep.thread.submit(_Call("close", ep, self._close_fn(ep)))

    def _retire(self, ep: _Episode) -> None:
        if not ep.finished:
            ep.finished = True
            self.unfinished -= 1
            if ep.thread is not None:
                ep.thread.stop()

    def _fail(self, ep: _Episode, where: str, err: BaseException) -> None:
        ep.rollout.status = "failed"
        ep.rollout.error = f"{where}: {type(err).__name__}: {err}"
        if ep in self.ready:
            self.ready.remove(ep)

    # -- results ------------------------------------------------------------------------------

    def _handle(self, call: _Call) -> None:
        if call.timed_out:
            return  # already failed and abandoned; a late answer changes nothing
        self.in_flight.remove(call)
        ep = call.ep
        if call.kind == "close":
            self._retire(ep)
            return
        if call.error is not None:
            self._fail(ep, _where(call), call.error)
            self._close(ep)
            return
        if call.kind == "reset":
            obs, system = call.result
            ep.transcript = self.renderer.start(system, ep.task.instruction, obs)
            ep.rollout.samples.append(ep.transcript)
            ep.rollout.timeline.append(round(time.monotonic() - self.t0, 4))
            if obs.done:
                ep.rollout.done = True
                self.finish(ep)
            else:
                self._make_ready(ep)
        elif call.kind == "step":
            self._observe(ep, call.result)
        else:  # score
            ep.rollout.reward = call.result
            self._close(ep)

    def _observe(self, ep: _Episode, obs: Observation) -> None:
        """Append an observation; a template that rewrites history continues the episode in a
        new sample (unless the episode ends here: a sample of nothing but prompt trains nothing)."""
        assert ep.transcript is not None
        ep.rollout.timeline.append(round(time.monotonic() - self.t0, 4))
        final = obs.done or ep.rollout.turns >= ep.max_turns
        try:
            self.renderer.append_observation(ep.transcript, obs, final=final)
        except PrefixBroken:
            self.renderer.close_action(ep.transcript)
            ep.transcript.messages.append(
                {"role": self.renderer.observation_role, "content": obs.text}
            )
            if not final:
                ep.transcript = self.renderer.restart(ep.transcript)
                ep.rollout.samples.append(ep.transcript)
        if final:
            ep.rollout.done = obs.done
            self.finish(ep)
        else:
            self._make_ready(ep)

    def _make_ready(self, ep: _Episode) -> None:
        if not self.ready:
            self.ready_since = time.monotonic()
        self.ready.append(ep)

    def _expire(self, now: float) -> None:
        timeout = self.cfg.step_timeout_s
        for call in [c for c in self.in_flight if now - c.started >= timeout]:
            call.timed_out = True
            self.in_flight.remove(call)
            ep = call.ep
            if call.kind != "close":
                self._fail(
                    ep, _where(call), TimeoutError(f"environment call exceeded {timeout:g} s")
                )
                self._close_behind(ep)  # runs if the hung call ever returns
            self._retire(ep)

    # -- the loop ---------------------------------------------------------------------------

    def _overlap(self) -> bool:
        mode = self.cfg.schedule
        if mode != "auto":
            return mode == "overlap"
        return any(
            not getattr(ep.adapter, "deterministic", False)
            for ep in self.episodes
            if ep.adapter is not None
        )

    def _should_act(self, now: float) -> bool:
        if not self.ready:
            return False
        if not self.in_flight and not self.waiting:
            return True
        if not self._overlap():
            return False
        assert self.ready_since is not None
        return now - self.ready_since >= self.cfg.max_batch_wait_s

    def run(self, act: Act) -> None:
        for ep in self.episodes:
            ep.thread = _EpisodeThread(f"envlearn-episode-{ep.index}", self.done)
            self._dispatch("reset", ep, self._reset_fn(ep))
        try:
            while self.unfinished:
                self._pump()
                while True:  # take every answer that is already in
                    try:
                        self._handle(self.done.get_nowait())
                    except queue.Empty:
                        break
                now = time.monotonic()
                self._expire(now)
                if self._should_act(now):
                    batch = sorted(self.ready, key=lambda e: e.index)
                    self.ready.clear()
                    act(batch)
                    continue
                self._pump()
                if not self.unfinished:
                    break
                deadlines = [c.started + self.cfg.step_timeout_s for c in self.in_flight]
                if self.ready and self._overlap():
                    assert self.ready_since is not None
                    deadlines.append(self.ready_since + self.cfg.max_batch_wait_s)
                wait = max(0.0, min(deadlines) - now) if deadlines else 0.05
                try:
                    self._handle(self.done.get(timeout=wait))
                except queue.Empty:
                    pass
        finally:
            for ep in self.episodes:  # on an error of our own: leave no thread waiting
                if not ep.finished and ep.thread is not None:
                    self._close_behind(ep)
                    ep.thread.stop()

    def live_count(self) -> int:
        return sum(1 for ep in self.episodes if not ep.finished and ep.rollout.status == "ok")


def _make_episodes(
    tasks: Sequence[Task], group_size: int, seed: int, max_turns: int | None
) -> list[_Episode]:
    episodes: list[_Episode] = []
    for ti, task in enumerate(tasks):
        for g in range(group_size):
            ep_seed = (seed * 1_000_003 + ti * 7919 + g) % (2**31)
            r = Rollout(
                task_id=task.id, adapter=task.adapter, group=g, seed=ep_seed, split=task.split
            )
            episodes.append(_Episode(len(episodes), task, r, max_turns=max_turns or task.max_turns))
    return episodes


def run_rollouts(
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
    guard: Guard | None = None,
) -> list[Rollout]:
    """Run ``group_size`` rollouts of every task; returns them in (task, group) order.

    Sampling seeds derive from ``seed``, the turn and the batch (see the module docstring).
    ``on_turn(turn, n)`` is called before each generation with the batch's turn and size.
    With a ``guard`` (default: ``cfg.guard``'s rules, if any), each action a rule could refuse
    is first predicted by the policy (:mod:`envlearn.predict`); a refused action is answered
    with a notice and never reaches the environment.
    """
    if guard is None and cfg.guard.rules:
        guard = Guard(cfg.guard)
    G = group_size or cfg.group_size
    temp = cfg.temperature if temperature is None else temperature
    episodes = _make_episodes(tasks, G, seed, cfg.max_turns)
    engine = _Engine(episodes, renderer, make_adapter, cfg)

    def act(batch: list[_Episode]) -> None:
        turn = max(ep.rollout.turns for ep in batch) + 1
        if on_turn is not None:
            on_turn(turn, len(batch))
        # a batch of every live episode at one turn (always so under lockstep) samples exactly
        # as the lock-step engine did; any other batch mixes its composition into the seed
        whole = len(batch) == engine.live_count() and all(
            ep.rollout.turns + 1 == turn for ep in batch
        )
        comp = (
            0 if whole else zlib.crc32(repr([(e.index, e.rollout.turns) for e in batch]).encode())
        )
        gen_eps, budgets = [], []
        acted: list[tuple[_Episode, str]] = []
        for ep in batch:
            assert ep.transcript is not None
            room = cfg.max_episode_tokens - len(ep.transcript)
            if room < 2:
                ep.rollout.truncated = True
                renderer.close_action(ep.transcript)
                engine.finish(ep)
                continue
            gen_eps.append(ep)
            budgets.append(min(cfg.max_action_tokens, room))
        for budget in sorted(set(budgets)):
            idx = [i for i, b in enumerate(budgets) if b == budget]
            params = SamplingParams(
                max_new_tokens=budget,
                temperature=temp,
                top_p=cfg.top_p,
                stop_token_ids=renderer.stop_token_ids,
                seed=(seed * 31 + turn * 1_000_033 + budget + comp) % (2**31),
            )
            prompts = [list(gen_eps[i].transcript.token_ids) for i in idx]  # type: ignore[union-attr]
            outs = policy.generate(prompts, params)
            for i, g in zip(idx, outs, strict=True):
                ep = gen_eps[i]
                assert ep.transcript is not None
                text = renderer.append_action(ep.transcript, g.token_ids, g.logprobs)
                ep.rollout.turns += 1
                acted.append((ep, text))
        _guard_and_step(acted, guard, policy, renderer, engine, seed=seed * 17 + turn + comp)

    engine.run(act)
    return [ep.rollout for ep in episodes]


def _guard_and_step(
    acted: list[tuple[_Episode, str]],
    guard: Guard | None,
    policy: Policy,
    renderer: ChatRenderer,
    engine: _Engine,
    *,
    seed: int,
) -> None:
    """Step each (episode, action), unless the guard refuses the action's predicted outcome."""
    asked = [] if guard is None else [(e, t) for e, t in acted if guard.applies(e.task.adapter, t)]
    refused: dict[int, str] = {}
    if asked:
        assert guard is not None
        preds = predict_observations(
            policy,
            renderer,
            [e.transcript for e, _ in asked],  # type: ignore[misc]
            max_tokens=guard.cfg.max_prediction_tokens,
            temperature=guard.cfg.temperature,
            seed=seed % (2**31),
        )
        for (ep, text), pred in zip(asked, preds, strict=True):
            decision = guard.check(ep.task.adapter, text, pred)
            ep.rollout.guard.append(
                {
                    "turn": ep.rollout.turns,
                    "prediction": pred,
                    "refused_by": decision.rule.name if decision else None,
                }
            )
            if decision is not None:
                refused[ep.index] = decision.notice()
    for ep, text in acted:
        if ep.index in refused:
            engine.refuse(ep, refused[ep.index])
        else:
            engine.step(ep, text)


# -- oracle (scripted) trajectories: SFT data, the held-out env-CE diagnostic, tests -----------


def oracle_rollouts(
    tasks: Sequence[Task],
    renderer: ChatRenderer,
    make_adapter: Callable[[Task], Adapter],
    cfg: RolloutConfig,
    *,
    guard: Guard | None = None,
    policy: Policy | None = None,
) -> list[Rollout]:
    """Run each task's oracle actions through its environment (expert trajectories), through
    the same engine as the policy's rollouts (same threads, deadlines and rendering).

    The actions are tokenized as content plus the end-of-turn token, exactly as a policy that
    wrote them would have sampled them.  Tasks without an oracle are skipped.  With a ``guard``
    (and the ``policy`` that predicts), oracle actions go through the guard as a policy's would:
    that measures its false refusals on known-good actions.
    """
    if guard is not None and policy is None:
        raise ValueError("oracle_rollouts(guard=...) needs the policy that predicts outcomes")
    with_oracle = [t for t in tasks if t.oracle]
    episodes = [
        _Episode(
            i,
            t,
            Rollout(task_id=t.id, adapter=t.adapter, group=0, seed=0, split=t.split),
            max_turns=len(t.oracle or []),
            script=list(t.oracle or []),
        )
        for i, t in enumerate(with_oracle)
    ]
    engine = _Engine(episodes, renderer, make_adapter, cfg)

    def act(batch: list[_Episode]) -> None:
        acted: list[tuple[_Episode, str]] = []
        for ep in batch:
            assert ep.transcript is not None and ep.script is not None
            action = ep.script[ep.rollout.turns]
            renderer.append_action(
                ep.transcript, renderer.encode_content(action) + [renderer.end_of_turn_id]
            )
            ep.rollout.turns += 1
            acted.append((ep, action))
        if guard is None:
            for ep, action in acted:
                engine.step(ep, action)
        else:
            assert policy is not None
            _guard_and_step(acted, guard, policy, renderer, engine, seed=len(acted))

    engine.run(act)
    return [ep.rollout for ep in episodes]
