"""The rollout engine: episode-affine threads, overlapping generation, deadlines, run resources.

Timing claims are read from the rollouts' own timelines (when each observation arrived), never
from sleeps in the test: the only sleeps are inside a test environment that is slow on purpose.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from envlearn.builtins.toy import GuessNumber, toy_tasks
from envlearn.channels import BaseAdapter, ChannelSpec, Observation, Task, content
from envlearn.config import RolloutConfig, load_config
from envlearn.hookspecs import hookimpl
from envlearn.models import load_tokenizer
from envlearn.plugins import get_plugin_manager, reset_plugin_manager
from envlearn.policies import Generation, SamplingParams
from envlearn.render import ChatRenderer
from envlearn.resources import ResourceScope, run_resource, run_scope
from envlearn.rollout import oracle_rollouts, run_rollouts
from envlearn.testing.threads import ThreadBoundAdapter
from envlearn.trainer import Trainer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def renderer() -> ChatRenderer:
    return ChatRenderer(load_tokenizer(), observation_role="tool")


class FixedPolicy:
    """Answers every prompt with the same action, instantly (no model: timing is the env's)."""

    def __init__(self, renderer: ChatRenderer, text: str = "```\ngo\n```") -> None:
        self.ids = renderer.encode_content(text) + [renderer.end_of_turn_id]
        self.calls: list[int] = []  # batch sizes

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        self.calls.append(len(prompts))
        return [Generation(list(self.ids), [0.0] * len(self.ids), "stop") for _ in prompts]


class Paced(BaseAdapter):
    """Each step takes ``task.data['delay']`` seconds (a slow environment on purpose)."""

    name = "paced"
    channels = (ChannelSpec(name="out"),)
    deterministic = False

    def system_prompt(self, task: Task) -> str:
        return "Act."

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        self.task, self.n = task, 0
        return Observation(parts=[content("out", "start\n")])

    def step(self, action_text: str) -> Observation:
        time.sleep(self.task.data["delay"])  # the environment's own slowness
        self.n += 1
        return Observation(parts=[content("out", f"step {self.n}\n")])

    def score(self) -> float:
        return 1.0

    def close(self) -> None:
        pass


def _paced_tasks(slow_delay: float) -> list[Task]:
    delays = [slow_delay, 0.0, 0.0, 0.0]
    return [
        Task(id=f"p{i}", adapter="paced", instruction="go", max_turns=3, data={"delay": d})
        for i, d in enumerate(delays)
    ]


def test_a_slow_environment_does_not_hold_back_the_others(renderer):
    tasks = _paced_tasks(2.0)
    cfg = RolloutConfig(group_size=1, num_workers=4, schedule="overlap", max_batch_wait_s=0.05)
    rs = run_rollouts(tasks, FixedPolicy(renderer), renderer, lambda t: Paced(), cfg)
    assert all(r.status == "ok" and r.turns == 3 for r in rs)
    slow, fast = rs[0], rs[1:]
    # timeline: reset, then one entry per step; the slow episode's first step ends after ~2 s
    first_slow_step = slow.timeline[1]
    for r in fast:
        assert len(r.timeline) == 4
        assert r.timeline[-1] < first_slow_step, (r.timeline, slow.timeline)


def test_lockstep_waits_for_the_slowest(renderer):
    tasks = _paced_tasks(0.3)
    cfg = RolloutConfig(group_size=1, num_workers=4, schedule="lockstep")
    policy = FixedPolicy(renderer)
    rs = run_rollouts(tasks, policy, renderer, lambda t: Paced(), cfg)
    slow, fast = rs[0], rs[1:]
    for r in fast:  # turn 2's observation comes after the slow turn 1: everyone waited
        assert r.timeline[2] >= slow.timeline[1]
    assert policy.calls == [4, 4, 4]  # one batch of every episode per turn


def test_auto_schedule_is_lockstep_for_deterministic_adapters(renderer):
    """Toy is deterministic: auto batches every live episode each turn (seed-reproducible)."""
    tasks = toy_tasks()[:3]
    policy = FixedPolicy(renderer, "```\n5\n```")
    cfg = RolloutConfig(group_size=2, num_workers=2, max_turns=3)
    rs = run_rollouts(tasks, policy, renderer, lambda t: GuessNumber(), cfg)
    assert all(r.status == "ok" for r in rs)
    assert policy.calls[0] == 6  # every episode in the first batch


def test_thread_affinity_through_rollouts_and_oracles(renderer):
    built: list[ThreadBoundAdapter] = []

    def make(task: Task) -> ThreadBoundAdapter:
        a = ThreadBoundAdapter(GuessNumber())
        built.append(a)
        return a

    tasks = toy_tasks()[:4]
    cfg = RolloutConfig(group_size=2, num_workers=3, max_turns=3)
    rs = run_rollouts(tasks, FixedPolicy(renderer, "```\n8\n```"), renderer, make, cfg)
    rs += oracle_rollouts(tasks, renderer, make, cfg)
    assert all(r.status == "ok" for r in rs), [r.error for r in rs]
    assert len(built) == 12
    for a in built:
        assert not a.foreign_calls
        methods = [c.method for c in a.calls]
        assert methods[0] == "reset" and methods[-1] == "close" and "score" in methods
    # and the episodes did not all share one thread
    assert len({a.owner_id for a in built}) > 1


class _ThreadBoundToy:
    @hookimpl
    def register_adapters(self, register):
        register("tb_toy", ThreadBoundAdapter.factory(GuessNumber))

    @hookimpl
    def register_task_suites(self, register):
        register(
            "tb_toy",
            lambda: [t.model_copy(update={"adapter": "tb_toy"}) for t in toy_tasks()],
            adapter="tb_toy",
        )


def test_thread_affinity_through_training_and_eval(tmp_path):
    reset_plugin_manager()
    get_plugin_manager().register(_ThreadBoundToy(), name="tb-toy-test")
    try:
        cfg = load_config(
            None,
            [
                "tasks.suite=tb_toy",
                "rollout.group_size=2",
                "rollout.max_action_tokens=6",
                "rollout.max_episode_tokens=300",
                "train.tasks_per_step=2",
                "train.steps=1",
                "eval.samples_per_task=1",
                "eval.max_tasks=2",
                "diagnostic.max_transcripts=2",
                "tensorboard=false",
                "progress=false",
                f"run_dir={tmp_path / 'run'}",
            ],
        )
        Trainer(cfg).train()  # eval at start, diagnostic (oracles), a step, eval at the end
        rows = [
            json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
        ]
        evals = [r for r in rows if r["kind"] == "eval"]
        train = [r for r in rows if r["kind"] == "train"]
        assert len(evals) == 2 and all(r["failed"] == 0 for r in evals)
        assert train[0]["failed"] == 0 and train[0]["rollouts"] == 4
    finally:
        reset_plugin_manager()


class Hangs(Paced):
    name = "hangs"

    def step(self, action_text: str) -> Observation:
        if self.task.data["delay"] > 0:
            threading.Event().wait(30)  # hangs far past the deadline
        return super().step(action_text)


def test_a_hung_call_fails_its_rollout_and_frees_the_run(renderer):
    tasks = _paced_tasks(1.0)
    cfg = RolloutConfig(group_size=1, num_workers=1, step_timeout_s=1.0, schedule="overlap")
    t0 = time.monotonic()
    rs = run_rollouts(tasks, FixedPolicy(renderer), renderer, lambda t: Hangs(), cfg)
    assert time.monotonic() - t0 < 10  # one worker slot: the hung call must free it
    assert rs[0].status == "failed" and "exceeded 1 s" in (rs[0].error or "")
    assert all(r.status == "ok" and r.turns == 3 for r in rs[1:])


# -- run-scoped resources ---------------------------------------------------------------------

COUNTS = {"created": 0, "closed": 0}


class UsesResource(GuessNumber):
    name = "res_toy"

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        shared = run_resource("test.shared", _create, close=_close)
        assert shared == "the resource"
        return super().reset(task, seed=seed)


def _create() -> str:
    time.sleep(0.05)  # slow creation: concurrent episodes must wait for it, not make another
    COUNTS["created"] += 1
    return "the resource"


def _close(value: str) -> None:
    COUNTS["closed"] += 1


def test_run_resource_created_once_for_many_episodes_and_closed_once(renderer):
    COUNTS.update(created=0, closed=0)
    tasks = toy_tasks()[:5]
    cfg = RolloutConfig(group_size=2, num_workers=10, max_turns=2)
    with run_scope("test"):
        rs = run_rollouts(tasks, FixedPolicy(renderer), renderer, lambda t: UsesResource(), cfg)
        assert all(r.status == "ok" for r in rs)
        assert COUNTS == {"created": 1, "closed": 0}
        oracle_rollouts(tasks, renderer, lambda t: UsesResource(), cfg)
        assert COUNTS["created"] == 1
    assert COUNTS == {"created": 1, "closed": 1}


def test_resource_scope_closes_once_and_refuses_late_use():
    scope = ResourceScope("t")
    closes: list[str] = []
    scope.get("a", lambda: "A", lambda v: closes.append(v))
    scope.get("b", lambda: "B", lambda v: closes.append(v))
    scope.close()
    scope.close()
    assert closes == ["B", "A"]  # reverse order of creation, each once
    with pytest.raises(RuntimeError, match="after its run ended"):
        scope.get("a", lambda: "A2", None)


_INTERRUPTED_RUN = textwrap.dedent(
    """
    import os, sys, time
    from envlearn.resources import run_resource, run_scope

    log = sys.argv[1]

    def create():
        with open(log, "a") as f:
            f.write("created\\n")
        return "r"

    def close(v):
        with open(log, "a") as f:
            f.write("closed\\n")

    with run_scope("run"):
        for _ in range(5):
            run_resource("k", create, close=close)
        with open(log, "a") as f:
            f.write("working\\n")
        time.sleep(60)  # interrupted here by SIGINT
    """
)


def test_run_resource_closed_once_when_the_run_is_interrupted(tmp_path):
    log = tmp_path / "log"
    script = tmp_path / "run.py"
    script.write_text(_INTERRUPTED_RUN)
    proc = subprocess.Popen([sys.executable, str(script), str(log)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (log.exists() and "working" in log.read_text()):  # wait for the run to be inside
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert log.read_text().split() == ["created", "working", "closed"]


def test_forked_child_never_closes_the_parents_resources(tmp_path):
    closes: list[int] = []
    with run_scope("parent"):
        run_resource("x", lambda: "v", close=lambda v: closes.append(os.getpid()))
        pid = os.fork()
        if pid == 0:  # child: leaving the scope must not close the parent's resource
            code = 0
            try:
                run_resource("x", lambda: "child", close=lambda v: None)
            except RuntimeError as e:
                code = 0 if "never shared across processes" in str(e) else 3
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    assert closes == [os.getpid()]


def test_no_episode_threads_left_behind(renderer):
    before = {t.ident for t in threading.enumerate()}
    tasks = toy_tasks()[:3]
    cfg = RolloutConfig(group_size=2, num_workers=2, max_turns=2)
    run_rollouts(tasks, FixedPolicy(renderer), renderer, lambda t: GuessNumber(), cfg)
    deadline = time.monotonic() + 10
    while True:
        left = [
            t
            for t in threading.enumerate()
            if t.ident not in before and t.name.startswith("envlearn-episode")
        ]
        if not left or time.monotonic() > deadline:
            break
        left[0].join(timeout=1)
    assert not left


def test_same_tokens_as_the_round1_engine_for_the_same_seed(renderer):
    """Lock-step batches sample with the round-1 seed formula: a deterministic adapter gives the
    same rollouts, token for token, as the engine this one replaced (kept in bench/)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
    try:
        from rollout_r1 import run_rollouts_r1
    finally:
        sys.path.pop(0)
    from envlearn.models import TinyModelConfig, tiny_model
    from envlearn.policies import HFPolicy

    model = tiny_model(TinyModelConfig())
    policy = HFPolicy(model, renderer.tok)
    tasks = toy_tasks()[:4]
    cfg = RolloutConfig(group_size=3, num_workers=2, max_turns=4, max_action_tokens=8)
    new = run_rollouts(tasks, policy, renderer, lambda t: GuessNumber(), cfg, seed=5)
    old = run_rollouts_r1(tasks, policy, renderer, lambda t: GuessNumber(), cfg, seed=5)
    assert [r.reward for r in new] == [r.reward for r in old]
    for a, b in zip(new, old, strict=True):
        assert [s.token_ids for s in a.samples] == [s.token_ids for s in b.samples]
        assert [s.logprobs for s in a.samples] == [s.logprobs for s in b.samples]
