"""Renderer + Transcript: decoding the tokens under each mask gives back exactly the right text."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envlearn.batch import collate
from envlearn.channels import Observation, Part
from envlearn.models import load_tokenizer
from envlearn.render import ChatRenderer, PrefixBroken, TemplateError
from envlearn.transcript import Source, Transcript

pytestmark = pytest.mark.unit

TOK = load_tokenizer()
SPECIAL = set(TOK.all_special_ids)

# text with unicode, control characters, chat-template lookalikes and BPE-friendly fragments
_alphabet = st.characters(codec="utf-8", exclude_categories=("Cs",))
texts = st.one_of(
    st.text(_alphabet, max_size=60),
    st.sampled_from(
        [
            "",
            " ",
            "\n",
            "hello",
            "hel",
            "lo",
            " world",
            "<|im_end|>",
            "<|im_start|>tool\n",
            "ü€😀",
            "\r\n",
            "\t",
        ]
    ),
)
parts = st.builds(
    Part,
    channel=st.sampled_from(["stdout", "stderr", "exit_code", "http_body", "notice"]),
    text=texts,
    kind=st.sampled_from(["content", "content", "notice"]),
)
observations = st.builds(Observation, parts=st.lists(parts, max_size=5))
action_ids = st.lists(
    st.integers(min_value=0, max_value=len(TOK) - 1).filter(lambda i: i not in SPECIAL),
    max_size=12,
)


def decode(ids: list[int]) -> str:
    return TOK.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def env_ids(tr: Transcript) -> list[int]:
    mask = tr.env_mask()
    return tr.select(lambda i: mask[i])


def build(renderer: ChatRenderer, initial, turns, *, stop=True):
    tr = renderer.start("You are a test agent.", "Solve the task.", initial)
    sampled = []
    for ids, obs in turns:
        a = list(ids) + ([renderer.end_of_turn_id] if stop else [])
        sampled.append(a)
        renderer.append_action(tr, a, logprobs=[-1.0] * len(a))
        renderer.append_observation(tr, obs)
    return tr, sampled


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=st.one_of(st.none(), observations),
    turns=st.lists(st.tuples(action_ids, observations), min_size=1, max_size=4),
    stop=st.booleans(),
)
def test_masks_decode_to_exact_texts(initial, turns, stop):
    r = ChatRenderer(TOK)
    tr, sampled = build(r, initial, turns, stop=stop)
    # the sampled ids are stored exactly as sampled, in order
    assert tr.select(lambda i: tr.sources[i] == Source.ACTION) == [t for a in sampled for t in a]
    for k, a in enumerate(sampled, start=1):
        assert tr.select(lambda i, k=k: tr.sources[i] == Source.ACTION and tr.turns[i] == k) == a
    # env tokens decode to exactly the observation content of turns after the first action
    want_env = "".join(p.text for _, obs in turns for p in obs.parts if p.kind == "content")
    assert decode(env_ids(tr)) == want_env
    # per turn and channel too
    em = tr.env_mask()
    for k, (_, obs) in enumerate(turns, start=1):
        for ch in {p.channel for p in obs.parts}:
            got = decode(
                tr.select(lambda i, k=k, ch=ch: em[i] and tr.turns[i] == k and tr.channels[i] == ch)
            )
            assert got == obs.content_text(ch)
    # notices are never in the env mask, and decode to exactly the notices
    want_notice = "".join(
        p.text
        for obs in ([initial] if initial else []) + [o for _, o in turns]
        for p in obs.parts
        if p.kind == "notice"
    )
    assert decode(tr.select(lambda i: tr.sources[i] == Source.NOTICE)) == want_notice
    # the initial observation (before any action) is never trained
    if initial is not None:
        assert not any(m and t == 0 for m, t in zip(tr.env_mask(), tr.turns, strict=True))
    # the whole transcript is the template's rendering of the conversation
    assert decode(tr.token_ids) == TOK.apply_chat_template(
        tr.messages, tokenize=False, add_generation_prompt=True
    )
    # an environment printing the end-of-turn marker cannot forge a turn boundary
    n_eot = sum(1 for t in tr.token_ids if t == r.end_of_turn_id)
    assert n_eot == sum(1 for m in tr.messages)  # one per message, as the template writes


def test_boundary_inside_a_bpe_merge_stays_exact():
    r = ChatRenderer(TOK)
    word = next(w for w in ("import", "return", "self", "print") if len(r.encode_content(w)) == 1)
    head, tail = word[:3], word[3:]  # a part boundary inside a single merged token
    obs = Observation(
        parts=[
            Part(channel="stdout", text=head),
            Part(channel="notice", text=tail, kind="notice"),
            Part(channel="stdout", text=tail + " x"),
        ]
    )
    tr, _ = build(r, None, [([100, 101], obs)])
    assert decode(env_ids(tr)) == head + tail + " x"
    assert decode(tr.select(lambda i: tr.sources[i] == Source.NOTICE)) == tail
    # content followed by content of another channel inside one merge: each keeps its own text
    obs2 = Observation(parts=[Part(channel="stdout", text=head), Part(channel="stderr", text=tail)])
    tr, _ = build(r, None, [([100], obs2)])
    em = tr.env_mask()
    assert decode(tr.select(lambda i: tr.channels[i] == "stdout" and em[i])) == head
    assert decode(tr.select(lambda i: tr.channels[i] == "stderr" and em[i])) == tail


def test_very_long_output_and_token_budget():
    big = "line of output ü\n" * 4000
    r = ChatRenderer(TOK)
    tr, _ = build(r, None, [([100], Observation(parts=[Part(channel="stdout", text=big)]))])
    assert decode(env_ids(tr)) == big

    rb = ChatRenderer(TOK, max_observation_tokens=50)
    tr, _ = build(
        rb,
        None,
        [
            (
                [100],
                Observation(
                    parts=[Part(channel="stdout", text=big), Part(channel="stderr", text="err")]
                ),
            )
        ],
    )
    kept = decode(env_ids(tr))
    assert big.startswith(kept) and 0 < len(kept) < len(big)
    assert tr.count(Source.OBSERVATION) <= 50
    note = decode(tr.select(lambda i: tr.sources[i] == Source.NOTICE))
    assert "[observation cut at its 50-token budget" in note and "characters not shown" in note


def test_features_and_collate_align():
    r = ChatRenderer(TOK)
    obs1 = Observation(
        parts=[Part(channel="stdout", text="a\n"), Part(channel="stderr", text="b\n")]
    )
    t1, _ = build(r, None, [([100, 101], obs1), ([102], obs1)])
    t2, _ = build(r, None, [([103], Observation(parts=[Part(channel="stdout", text="zz")]))])
    batch = collate([t1, t2], [1.0, -1.0], pad_id=TOK.pad_token_id, channel_weights={"stderr": 0.5})
    assert batch.input_ids.shape == (2, len(t1))
    assert batch.attention_mask[1].sum().item() == len(t2)
    assert batch.action_mask[0].tolist() == t1.action_mask()
    assert not batch.action_mask[1, len(t2) :].any() and not batch.env_mask[1, len(t2) :].any()
    w = batch.env_weight[0]
    ch = batch.channel_ids[0]
    names = batch.channel_names
    assert set(w[batch.env_mask[0]].tolist()) == {1.0, 0.5}
    for i in range(len(t1)):
        if batch.env_mask[0, i]:
            assert names[ch[i]] == t1.channels[i]
            assert w[i] == (0.5 if t1.channels[i] == "stderr" else 1.0)
        else:
            assert ch[i] == -1 and w[i] == 0.0
    # round trip through JSON rows
    assert Transcript.from_dict(t1.to_dict()) == t1
    with pytest.raises(ValueError, match="advantages"):
        collate([t1], [1.0, 2.0], pad_id=0)
    b2 = collate([t1], torch.tensor([0.5]), pad_id=0, use_sampler_logprobs=True)
    assert b2.old_logprobs is not None
    assert torch.equal(
        b2.old_logprobs[0][b2.action_mask[0]], torch.full((5,), -1.0)
    )  # 2 + 1 sampled ids, 2 stop tokens


QWEN_STYLE = (
    "{%- for m in messages -%}"
    "{%- if m.role == 'tool' -%}{{- '<|im_start|>user\\n<tool_response>\\n' + m.content + '\\n</tool_response><|im_end|>\\n' -}}"
    "{%- else -%}{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- endfor -%}{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
# drops earlier assistant turns' thinking: history is rewritten, the prefix property breaks
DROPS_HISTORY = (
    "{%- for m in messages -%}"
    "{%- if m.role == 'assistant' and not loop.last -%}{{- '<|im_start|>assistant\\n' + (m.content.split('</think>')[-1]) + '<|im_end|>\\n' -}}"
    "{%- else -%}{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- endfor -%}{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def _with_template(template: str):
    tok = load_tokenizer()
    tok.chat_template = template
    return tok


def test_qwen_style_tool_response_wrapper():
    tok = _with_template(QWEN_STYLE)
    r = ChatRenderer(tok)
    tr = r.start("sys", "task")
    r.append_action(tr, [100, r.end_of_turn_id])
    r.append_observation(tr, Observation(parts=[Part(channel="stdout", text="out")]))
    assert decode(env_ids(tr)) == "out"
    scaffold = decode(tr.select(lambda i: tr.sources[i] == Source.SCAFFOLD))
    assert "<tool_response>" in scaffold and "</tool_response>" in scaffold


def test_template_that_rewrites_history_starts_a_new_sample():
    tok = _with_template(DROPS_HISTORY)
    r = ChatRenderer(tok)
    tr = r.start("sys", "task")
    think = tok("<think>x</think>ls", add_special_tokens=False, split_special_tokens=True)[
        "input_ids"
    ]
    r.append_action(tr, think + [r.end_of_turn_id])
    with pytest.raises(PrefixBroken):
        r.append_observation(tr, Observation(parts=[Part(channel="stdout", text="out")]))
    # the caller restarts: the conversation so far becomes prompt context of a new sample
    tr.messages.append({"role": "tool", "content": "out"})
    new = r.restart(tr)
    assert set(new.sources) == {Source.PROMPT} and not any(new.env_mask())
    r.append_action(new, [100, r.end_of_turn_id])
    r.append_observation(new, Observation(parts=[Part(channel="stdout", text="next")]))
    assert decode(env_ids(new)) == "next"


def test_template_errors_are_clear():
    tok = _with_template("{%- for m in messages -%}{{ m.content | upper }}{%- endfor -%}")
    with pytest.raises(TemplateError, match="verbatim|special token"):
        ChatRenderer(tok)
    tok = _with_template(
        "{%- for m in messages -%}{%- if m.role == 'tool' -%}{{ raise_exception('no tool role') }}{%- endif -%}"
        "{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' -}}{%- endfor -%}"
    )
    with pytest.raises(TemplateError, match="observation_role='user'"):
        ChatRenderer(tok)
    ChatRenderer(tok, observation_role="user")  # works with a user role instead


def test_bad_turn_order_is_an_error():
    r = ChatRenderer(TOK)
    tr = r.start(None, "task")
    with pytest.raises(ValueError, match="action first"):
        r.append_observation(tr, Observation())
    r.append_action(tr, [100])
    with pytest.raises(ValueError, match="twice"):
        r.append_action(tr, [100])


def test_rollouts_continue_in_new_samples_when_the_template_rewrites_history():
    from envlearn.config import RolloutConfig
    from envlearn.plugins import load_tasks, make_adapter
    from envlearn.rollout import oracle_rollouts

    r = ChatRenderer(_with_template(DROPS_HISTORY))
    tasks = [t for t in load_tasks("toy", "train") if len(t.oracle) >= 3][:2]
    # actions with thinking blocks, which the template drops from earlier turns
    tasks = [
        t.model_copy(update={"oracle": [f"<think>hm</think>{a}" for a in t.oracle]}) for t in tasks
    ]
    rollouts = oracle_rollouts(tasks, r, lambda t: make_adapter("toy"), RolloutConfig())
    for ro, task in zip(rollouts, tasks, strict=True):
        assert ro.status == "ok" and ro.reward == 1.0
        # every non-final observation breaks the prefix: one sample per action
        assert len(ro.samples) == len(task.oracle)
        for k, sample in enumerate(ro.samples):
            first_action = sample.sources.index(Source.ACTION)
            assert sample.count(Source.ACTION) == len(r.encode_content(task.oracle[k])) + 1
            if k:  # a restarted sample: the conversation so far is untrained prompt context
                assert set(sample.sources[:first_action]) == {Source.PROMPT}
                context = decode(sample.token_ids[:first_action])
                assert len(re.findall(r"\d+ is too (?:high|low)", context)) == k
