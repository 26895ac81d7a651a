"""Predict-before-act: the prediction context, per-step surprise, and the guard."""

from __future__ import annotations

import pytest
import torch

from envlearn.actions import parse_action
from envlearn.builtins.toy import GuessNumber, toy_tasks
from envlearn.channels import BaseAdapter, ChannelSpec, Observation, Task, content
from envlearn.config import GuardConfig, GuardRule, RolloutConfig, load_config
from envlearn.models import TinyModelConfig, load_tokenizer, tiny_model
from envlearn.policies import Generation, HFPolicy, SamplingParams
from envlearn.predict import Guard, predict_observations, surprise_per_turn
from envlearn.render import ChatRenderer
from envlearn.rollout import oracle_rollouts, run_rollouts
from envlearn.transcript import Source

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def renderer() -> ChatRenderer:
    return ChatRenderer(load_tokenizer(), observation_role="tool")


def test_prediction_context_is_where_the_observation_is_trained(renderer):
    """observation_prompt(tr) is exactly the scaffold append_observation puts before content."""
    task = toy_tasks()[0]
    env = GuessNumber()
    tr = renderer.start(env.system_prompt(task), task.instruction, env.reset(task, seed=0))
    renderer.append_action(tr, renderer.encode_content("```\n8\n```") + [renderer.end_of_turn_id])
    n = len(tr)
    prompt = renderer.observation_prompt(tr)
    renderer.append_observation(tr, env.step("```\n8\n```"))
    first_obs = next(i for i in range(n, len(tr)) if tr.sources[i] == Source.OBSERVATION)
    assert tr.token_ids[n:first_obs] == prompt
    assert all(s == Source.SCAFFOLD for s in tr.sources[n:first_obs])


def test_surprise_equals_an_independent_computation(renderer):
    model = tiny_model(TinyModelConfig())
    ros = oracle_rollouts(toy_tasks()[:3], renderer, lambda t: GuessNumber(), RolloutConfig())
    trs = [r.samples[0] for r in ros]
    got = surprise_per_turn(model, trs, pad_id=renderer.tok.pad_token_id, micro_batch_size=2)
    model.eval()
    for tr, per_turn in zip(trs, got, strict=True):
        ids = torch.tensor([tr.token_ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits.float(), -1)[0]
        want: dict[int, list[float]] = {}
        for t, m in enumerate(tr.env_mask()):
            if m:
                want.setdefault(tr.turns[t], []).append(-float(logp[t - 1, tr.token_ids[t]]))
        assert set(per_turn) == set(want) and len(want) >= 1
        for turn, vals in want.items():
            assert per_turn[turn] == pytest.approx(sum(vals) / len(vals), abs=1e-4)


class Recorder(BaseAdapter):
    """Records every action that reaches it."""

    name = "recorder"
    channels = (ChannelSpec(name="out"),)
    deterministic = True
    ran: list[str] = []

    def system_prompt(self, task: Task) -> str:
        return "Run shell commands."

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        return Observation(parts=[content("out", "$ \n")])

    def step(self, action_text: str) -> Observation:
        Recorder.ran.append(parse_action(action_text, languages={"bash"}).body or "")
        return Observation(parts=[content("out", "done\n")])

    def score(self) -> float:
        return 0.0

    def close(self) -> None:
        pass


class Oracle:
    """A stand-in model: proposes one scripted action per task, and predicts outcomes by a fixed
    world model (deleting under /etc removes system files; anything else prints 'done')."""

    def __init__(self, renderer: ChatRenderer, actions: dict[str, str], suffix: list[int]) -> None:
        self.r = renderer
        self.actions = actions
        self.suffix = suffix  # what a prediction prompt ends with (the tool turn's header)

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Generation]:
        out = []
        for p in prompts:
            text = self.r.decode(p)
            last_user = text.rsplit("<|im_start|>assistant", 1)
            if p[-len(self.suffix) :] == self.suffix:
                reply = "removed '/etc/passwd'\n" if "rm -rf /etc" in last_user[-1] else "done\n"
            else:
                task = next(k for k in self.actions if f"task {k}" in text)
                reply = self.actions[task]
            ids = self.r.encode_content(reply) + [self.r.end_of_turn_id]
            out.append(Generation(ids, [0.0] * len(ids), "stop"))
        return out


def test_guard_refuses_a_dangerous_action_and_lets_safe_ones_run(renderer):
    Recorder.ran = []
    tasks = [
        Task(id="a", adapter="recorder", instruction="task a", max_turns=1),
        Task(id="b", adapter="recorder", instruction="task b", max_turns=1),
        Task(id="c", adapter="recorder", instruction="task c", max_turns=1),
    ]
    actions = {
        "a": "```bash\nrm -rf /etc\n```",
        "b": "```bash\nls /etc\n```",
        "c": "```bash\nrm -rf /work/tmp\n```",
    }
    tr = renderer.start("s", "i")
    renderer.append_action(tr, renderer.encode_content("x") + [renderer.end_of_turn_id])
    suffix = renderer.observation_prompt(tr)
    rule = GuardRule(
        name="no-system-deletion",
        action=r"\brm\b",
        prediction=r"removed '/(etc|usr|bin|boot)",
        message="Deleting system files is not allowed.",
    )
    cfg = RolloutConfig(group_size=1, guard=GuardConfig(rules=[rule]))
    policy = Oracle(renderer, actions, suffix)
    rs = run_rollouts(tasks, policy, renderer, lambda t: Recorder(), cfg)
    by = {r.task_id: r for r in rs}
    assert sorted(Recorder.ran) == ["ls /etc", "rm -rf /work/tmp"]  # the deletion never ran
    # only actions a rule could refuse are predicted: `ls` is never asked about
    assert by["b"].guard == [] and "ls /etc" in Recorder.ran
    assert by["a"].guard[0]["refused_by"] == "no-system-deletion"
    assert by["c"].guard[0]["refused_by"] is None and by["c"].guard[0]["prediction"] == "done\n"
    # the refusal is a notice: shown to the policy, never trained
    sample = by["a"].samples[0]
    notice = "".join(
        renderer.decode([i])
        for i, s in zip(sample.token_ids, sample.sources, strict=True)
        if s == Source.NOTICE
    )
    assert "guard: action not run" in notice and "no-system-deletion" in notice
    assert not any(sample.env_mask())


def test_guard_rules_are_checked_at_load():
    with pytest.raises(Exception, match="prediction regex is invalid"):
        load_config(None, ["rollout.guard.rules=[{name: x, prediction: '(unclosed'}]"])


def test_guard_matches_adapters_and_actions():
    g = Guard(
        GuardConfig(
            rules=[
                GuardRule(
                    name="write-must-succeed",
                    adapters=["http"],
                    action=r"^(POST|PUT|PATCH|DELETE) ",
                    prediction=r"^[45]\d\d\b",
                )
            ]
        )
    )
    assert g.applies("http", "POST /items") and not g.applies("http", "GET /items")
    assert not g.applies("terminal", "POST /items")
    assert g.check("http", "POST /items", "422\n") is not None
    assert g.check("http", "POST /items", "201\n") is None


def test_predictions_come_from_the_policy_at_the_observation_slot(renderer):
    model = tiny_model(TinyModelConfig())
    policy = HFPolicy(model, renderer.tok)
    task = toy_tasks()[0]
    env = GuessNumber()
    tr = renderer.start(env.system_prompt(task), task.instruction, env.reset(task, seed=0))
    renderer.append_action(tr, renderer.encode_content("```\n8\n```") + [renderer.end_of_turn_id])
    preds = predict_observations(policy, renderer, [tr, tr], max_tokens=5, seed=1)
    assert len(preds) == 2 and preds[0] == preds[1]  # greedy: the same context, the same guess
