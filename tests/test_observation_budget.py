"""The observation token budget covers every part of an observation, notices included: a 5 MB
notice costs a budget's worth of tokens (and of tokenizer work), and one short notice says what
was cut."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from envlearn.channels import BaseAdapter, ChannelSpec, Observation, Part, Task, content, notice
from envlearn.config import RolloutConfig
from envlearn.models import load_tokenizer
from envlearn.render import ChatRenderer
from envlearn.rollout import oracle_rollouts
from envlearn.transcript import Source

pytestmark = pytest.mark.unit

TOK = load_tokenizer()
FIVE_MB = "[warning] the environment is very chatty today ü\n" * 105_000  # 5.1 MB
BUDGET = 64


def _observation_tokens(tr: Any, turn: int) -> int:
    return sum(
        1
        for i in range(len(tr))
        if tr.turns[i] == turn and tr.sources[i] in (Source.OBSERVATION, Source.NOTICE)
    )


def _text(tr: Any, turn: int, source: Source) -> str:
    ids = tr.select(lambda i: tr.turns[i] == turn and tr.sources[i] == source)
    return TOK.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def test_a_5mb_notice_is_cut_to_the_budget_with_a_short_notice() -> None:
    assert len(FIVE_MB) >= 5_000_000
    r = ChatRenderer(TOK, max_observation_tokens=BUDGET)
    seen: list[int] = []
    encode = r.encode_content

    def counting(text: str) -> list[int]:
        seen.append(len(text))
        return encode(text)

    r.encode_content = counting  # type: ignore[method-assign]
    parts = r._budget([notice(FIVE_MB), content("stdout", "never reached\n")])
    assert max(seen) < 10_000  # the tokenizer never saw the 5 MB, only a window
    kept, note = parts
    assert kept.kind == "notice" and FIVE_MB.startswith(kept.text) and kept.text
    omitted = len(FIVE_MB) - len(kept.text) + len("never reached\n")
    assert note == Part(
        channel="notice",
        text=f"\n[observation cut at its {BUDGET}-token budget: {omitted} characters not shown]\n",
        kind="notice",
    )
    assert sum(len(encode(p.text)) for p in parts) <= BUDGET


def test_parts_within_the_budget_are_untouched_and_counted_together() -> None:
    r = ChatRenderer(TOK, max_observation_tokens=BUDGET)
    small = [content("stdout", "ok\n"), notice("[exit 0]\n")]
    assert r._budget(small) == small
    text = "0123456789 " * 12
    n = len(r.encode_content(text))
    budget = 3 * n - 1  # room for two parts and the cut notice, not for three parts
    r = ChatRenderer(TOK, max_observation_tokens=budget)
    # three parts that each fit but together do not: the notice comes third and is cut too
    out = r._budget([content("stdout", text), content("stderr", text), notice(text)])
    assert out[:2] == [content("stdout", text), content("stderr", text)]
    assert out[-1].kind == "notice" and out[-1].text.endswith(" characters not shown]\n")
    assert all(text.startswith(p.text) and p.kind == "notice" for p in out[2:-1])
    assert sum(len(r.encode_content(p.text)) for p in out) <= budget


class ChattyAdapter(BaseAdapter):
    """An environment whose every answer is a 5 MB notice (a runaway warning, say)."""

    name: ClassVar[str] = "chatty"
    channels: ClassVar[tuple[ChannelSpec, ...]] = (
        ChannelSpec(name="stdout"),
        ChannelSpec(name="notice", kind="notice"),
    )

    def system_prompt(self, task: Task) -> str:
        return "Reply with anything."

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        return Observation(parts=[notice(FIVE_MB)])

    def step(self, action_text: str) -> Observation:
        return Observation(parts=[content("stdout", "done\n"), notice(FIVE_MB)], done=True)

    def score(self) -> float:
        return 1.0

    def close(self) -> None:
        pass


def test_a_5mb_notice_through_a_rollout_costs_a_budget_of_tokens() -> None:
    task = Task(id="chatty", adapter="chatty", instruction="Say hi.", oracle=["hi"])
    r = ChatRenderer(TOK, max_observation_tokens=BUDGET)
    cfg = RolloutConfig(max_observation_tokens=BUDGET, max_episode_tokens=4096)
    (ro,) = oracle_rollouts([task], r, lambda t: ChattyAdapter(), cfg)
    assert ro.status == "ok", ro.error
    tr = ro.samples[0]
    assert len(tr) < 1000  # not five million
    assert len(json.dumps(ro.to_row())) < 100_000  # the saved rollout row: not 5 MB either
    # the reset observation (in the prompt) and the step's observation are each within budget
    assert _observation_tokens(tr, 0) <= BUDGET
    assert _observation_tokens(tr, 1) <= BUDGET
    assert _text(tr, 1, Source.OBSERVATION) == "done\n"
    step_notice = _text(tr, 1, Source.NOTICE)
    kept = step_notice.split("\n[observation cut at", 1)[0]
    assert FIVE_MB.startswith(kept) and kept
    assert step_notice == (
        f"{kept}\n[observation cut at its {BUDGET}-token budget: "
        f"{len(FIVE_MB) - len(kept)} characters not shown]\n"
    )
