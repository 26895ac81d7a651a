"""envlearn.objective against independent references (full logits, HF's own loss, autograd).

The references here never call the helpers under test: log-probs come from
``model(input_ids).logits`` + ``log_softmax``, losses from per-sequence Python loops.
Runtime ≈ 25 s on 2 CPU cores.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from envlearn.batch import FORMAT_PROBLEM_MARKER, Batch, collate, wellformed_actions
from envlearn.models import tiny_model
from envlearn.objective import (
    ChunkedLinearLogprob,
    ObjectiveConfig,
    TokenLogprobModule,
    compute_loss,
    group_advantages,
    objective,
    token_logprobs,
)
from envlearn.transcript import Source, Transcript

V = 320
CHANNELS = ["stdout", "stderr", "exit_code"]
PROMPT, ACTION, ENV, OBS_FIRST = 0, 1, 2, 3  # token roles used to build random batches


@functools.cache
def _model(tied: bool = True, bias: bool = False) -> torch.nn.Module:
    m = tiny_model(
        vocab_size=V,
        hidden_size=32,
        intermediate_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        tie_word_embeddings=tied,
        seed=3,
    )
    if bias:
        torch.manual_seed(4)
        head = torch.nn.Linear(32, V, bias=True)
        with torch.no_grad():
            head.bias.normal_(0, 0.5)
        m.lm_head = head
    return m


def _grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


# ------------------------------------------------------------------------- random batches


def _make_batch(
    seed: int,
    *,
    batch_size: int = 3,
    seqlen: int = 24,
    with_old: bool = True,
    with_ref: bool = True,
    model: torch.nn.Module | None = None,
) -> Batch:
    """Random roles per token (right-padded), random weights/advantages, old/ref log-probs near
    the model's own (so some ratios clip)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, V, (batch_size, seqlen), generator=g)
    att = torch.zeros(batch_size, seqlen, dtype=torch.long)
    role = torch.full((batch_size, seqlen), PROMPT)
    for b in range(batch_size):
        n = int(torch.randint(seqlen // 2, seqlen + 1, (1,), generator=g))
        att[b, :n] = 1
        seen_action = False
        for t in range(2, n):
            r = int(torch.randint(0, 4, (1,), generator=g))
            if r == ACTION:
                seen_action = True
                role[b, t] = ACTION
            elif r in (ENV, OBS_FIRST):
                role[b, t] = ENV if seen_action else OBS_FIRST
    if batch_size > 2:  # one sequence with no action tokens at all (excluded by `grpo`)
        role[-1][role[-1] == ACTION] = PROMPT
    action = role == ACTION
    env = role == ENV
    obs = env | (role == OBS_FIRST)
    weight_choices = torch.tensor([0.0, 0.5, 1.0, 2.0])
    w = weight_choices[torch.randint(0, 4, (batch_size, seqlen), generator=g)]
    env_weight = torch.where(env, w, 0.0)
    chan = torch.randint(0, len(CHANNELS), (batch_size, seqlen), generator=g)
    channel_ids = torch.where(obs, chan, -1)
    adv = torch.randn(batch_size, generator=g)
    old = ref = None
    if with_old or with_ref:
        m = model if model is not None else _model()
        with torch.no_grad():
            logits = m(input_ids=ids, attention_mask=att).logits.float()
            true_lp = torch.zeros(batch_size, seqlen)
            true_lp[:, 1:] = torch.log_softmax(logits[:, :-1], -1).gather(2, ids[:, 1:, None])[
                ..., 0
            ]
        if with_old:
            old = torch.where(action, true_lp + 0.4 * torch.randn(true_lp.shape, generator=g), 0.0)
        if with_ref:
            ref = torch.where(action, true_lp + 0.3 * torch.randn(true_lp.shape, generator=g), 0.0)
    return Batch(
        input_ids=ids,
        attention_mask=att,
        action_mask=action,
        env_mask=env,
        env_weight=env_weight,
        channel_ids=channel_ids,
        advantages=adv,
        old_logprobs=old,
        ref_logprobs=ref,
        channel_names=list(CHANNELS),
    )


# ------------------------------------------------------------------------ naive reference


def _naive_logprobs(model: torch.nn.Module, batch: Batch, temperature: float) -> torch.Tensor:
    """Full logits → log_softmax → gather; action targets use the tempered distribution."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits.float()
    bsz, seqlen = batch.input_ids.shape
    lp = torch.zeros(bsz, seqlen)
    for b in range(bsz):
        for t in range(1, seqlen):
            if batch.action_mask[b, t]:
                lp_t = torch.log_softmax(logits[b, t - 1] / temperature, -1)
            elif batch.env_mask[b, t]:
                lp_t = torch.log_softmax(logits[b, t - 1], -1)
            else:
                continue
            lp = lp.index_put((torch.tensor(b), torch.tensor(t)), lp_t[batch.input_ids[b, t]])
    return lp


def _naive_loss(
    lp: torch.Tensor, batch: Batch, cfg: ObjectiveConfig, lam: float | None = None
) -> torch.Tensor:
    """The objective written out per sequence with Python loops (λ = ``lam`` or env_lambda)."""
    lam = cfg.env_lambda if lam is None else lam
    bsz, seqlen = batch.input_ids.shape
    seq_terms, all_terms = [], []
    for b in range(bsz):
        acts = [t for t in range(seqlen) if batch.action_mask[b, t]]
        if not acts:
            continue
        a = float(batch.advantages[b])
        olds = [
            lp[b, t].detach() if batch.old_logprobs is None else batch.old_logprobs[b, t]
            for t in acts
        ]
        kls = []
        for t in acts:
            if batch.ref_logprobs is None:
                kls.append(torch.tensor(0.0))
            else:
                d = batch.ref_logprobs[b, t] - lp[b, t]
                kls.append(torch.exp(d) - d - 1)
        if cfg.aggregation == "gspo":
            s = torch.exp(sum(lp[b, t] - o for t, o in zip(acts, olds, strict=True)) / len(acts))
            s_clip = torch.clamp(s, 1 - cfg.eps_low, 1 + cfg.eps_high)
            if cfg.kl_estimator == "k3_ratio":  # × GSPO-token's ratio sg[s]·π/sg[π]
                kls = [
                    kl * s.detach() * torch.exp(lp[b, t] - lp[b, t].detach())
                    for t, kl in zip(acts, kls, strict=True)
                ]
            term = -torch.minimum(s * a, s_clip * a) + cfg.kl_beta * sum(kls) / len(acts)
            seq_terms.append(term)
            continue
        toks = []
        for t, o, kl in zip(acts, olds, kls, strict=True):
            r = torch.exp(lp[b, t] - o)
            r_clip = torch.clamp(r, 1 - cfg.eps_low, 1 + cfg.eps_high)
            if cfg.kl_estimator == "k3_ratio":
                kl = kl * r
            toks.append(-torch.minimum(r * a, r_clip * a) + cfg.kl_beta * kl)
        seq_terms.append(sum(toks) / len(toks))
        all_terms.extend(toks)
    zero = lp.sum() * 0
    if cfg.aggregation in ("grpo", "gspo"):
        rl = sum(seq_terms) / len(seq_terms) if seq_terms else zero
    elif cfg.aggregation == "dapo":
        rl = sum(all_terms) / len(all_terms) if all_terms else zero
    else:
        rl = sum(all_terms, zero) / (bsz * cfg.dr_grpo_norm)

    per_seq_env = [
        [
            (batch.env_weight[b, t], lp[b, t])
            for t in range(seqlen)
            if batch.env_mask[b, t] and batch.env_weight[b, t] > 0
        ]
        for b in range(bsz)
    ]
    if cfg.env_normalization == "token_mean":
        env_terms = [x for seq in per_seq_env for x in seq]
        env = sum(-w * x for w, x in env_terms) / len(env_terms) if env_terms else zero
    else:  # the authors': each sequence's mean, then the mean over sequences
        means = [sum(-w * x for w, x in seq) / len(seq) for seq in per_seq_env if seq]
        env = sum(means) / len(means) if means else zero
    acts_all = [lp[b, t] for b in range(bsz) for t in range(seqlen) if batch.action_mask[b, t]]
    sft = -sum(acts_all) / len(acts_all)
    if cfg.mode == "grpo":
        return rl
    if cfg.mode == "echo":
        return rl + lam * env
    if cfg.mode == "env_only":
        return env
    return sft + lam * env


MODE_AGG = [
    ("grpo", "grpo"),
    ("grpo", "dapo"),
    ("grpo", "dr_grpo"),
    ("grpo", "gspo"),
    ("echo", "grpo"),
    ("echo", "dapo"),
    ("echo", "dr_grpo"),
    ("echo", "gspo"),
    ("env_only", "grpo"),
    ("sft", "grpo"),
]


@pytest.mark.unit
@pytest.mark.parametrize(("mode", "aggregation"), MODE_AGG)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    temperature=st.sampled_from([1.0, 0.7]),
    kl_beta=st.sampled_from([0.0, 0.05]),
    with_old=st.booleans(),
    env_lambda=st.sampled_from([0.1, 1.5]),
    dr_norm=st.sampled_from([17, 40]),
    chunk_size=st.sampled_from([1, 5, 1024]),
)
def test_objective_matches_naive_loss_and_gradients(
    mode: str,
    aggregation: str,
    seed: int,
    temperature: float,
    kl_beta: float,
    with_old: bool,
    env_lambda: float,
    dr_norm: int,
    chunk_size: int,
) -> None:
    """objective() == full-logits reference for every mode/aggregation: loss and all grads."""
    kw: dict = {"mode": mode, "aggregation": aggregation, "temperature": temperature}
    kw["chunk_size"] = chunk_size
    if mode in ("grpo", "echo"):
        kw["kl_beta"] = kl_beta
    if mode in ("echo", "sft"):
        kw["env_lambda"] = env_lambda
    if aggregation == "dr_grpo":
        kw["dr_grpo_norm"] = dr_norm
    cfg = ObjectiveConfig(**kw)
    model = _model()
    batch = _make_batch(seed, with_old=with_old, with_ref=True)

    model.zero_grad(set_to_none=True)
    loss, metrics = objective(model, batch, cfg)
    loss.backward()
    got = _grads(model)

    model.zero_grad(set_to_none=True)
    t_act = temperature if mode in ("grpo", "echo") else 1.0  # sft scores actions at T=1
    ref_loss = _naive_loss(_naive_logprobs(model, batch, t_act), batch, cfg)
    ref_loss.backward()
    want = _grads(model)

    torch.testing.assert_close(loss.detach(), ref_loss.detach(), rtol=1e-5, atol=1e-5)
    assert metrics["loss"] == pytest.approx(float(ref_loss.detach()), rel=1e-5, abs=1e-5)
    assert got.keys() == want.keys() and len(got) > 0
    for name in want:
        scale = want[name].abs().max().item()
        torch.testing.assert_close(
            got[name], want[name], rtol=1e-5, atol=1e-5 * max(scale, 1e-3), msg=name
        )


@pytest.mark.unit
@pytest.mark.parametrize("aggregation", ["grpo", "dapo"])
def test_untied_head_with_bias_matches_naive(aggregation: str) -> None:
    """An lm_head with a bias (untied): loss and every gradient, bias included, match."""
    model = _model(tied=False, bias=True)
    cfg = ObjectiveConfig(mode="echo", aggregation=aggregation, env_lambda=0.5, chunk_size=4)
    batch = _make_batch(11, model=model)
    model.zero_grad(set_to_none=True)
    loss, _ = objective(model, batch, cfg)
    loss.backward()
    got = _grads(model)
    model.zero_grad(set_to_none=True)
    ref = _naive_loss(_naive_logprobs(model, batch, 1.0), batch, cfg)
    ref.backward()
    want = _grads(model)
    assert "lm_head.bias" in got
    torch.testing.assert_close(loss.detach(), ref.detach(), rtol=1e-5, atol=1e-6)
    for name in want:
        scale = want[name].abs().max().item()
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-5 * scale, msg=name)


@pytest.mark.unit
def test_tied_embedding_gets_head_and_embedding_gradient() -> None:
    """With tied embeddings the one weight collects both uses (as plain autograd does)."""
    model = _model()
    assert model.lm_head.weight is model.get_input_embeddings().weight
    batch = _make_batch(5)
    cfg = ObjectiveConfig(mode="env_only")
    model.zero_grad(set_to_none=True)
    objective(model, batch, cfg)[0].backward()
    got = model.lm_head.weight.grad.clone()
    model.zero_grad(set_to_none=True)
    _naive_loss(_naive_logprobs(model, batch, 1.0), batch, cfg).backward()
    want = model.lm_head.weight.grad.clone()
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    # the head gradient reaches rows of tokens that never occur (softmax), as autograd says
    unused = torch.ones(V, dtype=torch.bool)
    unused[batch.input_ids.flatten()] = False
    assert unused.any() and (got[unused] != 0).any()  # softmax reaches every row of the head


# --------------------------------------------------------------------- HF loss / λ / masks


@pytest.mark.unit
def test_env_ce_equals_transformers_loss_on_observation_labels() -> None:
    """env_ce (and L_env with unit weights) == model(labels=obs tokens, -100 elsewhere).loss."""
    model = _model()
    batch = _make_batch(7, with_old=False, with_ref=False)
    batch.env_weight = batch.env_mask.float()
    labels = torch.where(batch.env_mask, batch.input_ids, -100)
    with torch.no_grad():
        hf = model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=labels
        ).loss
        loss, metrics = objective(model, batch, ObjectiveConfig(mode="env_only"))
    assert metrics["env_ce"] == pytest.approx(float(hf), rel=1e-6)
    assert float(loss) == pytest.approx(float(hf), rel=1e-6)
    assert metrics["env_loss"] == pytest.approx(float(hf), rel=1e-6)
    assert metrics["n_env_tokens"] == float(batch.env_mask.sum())


@pytest.mark.unit
@pytest.mark.parametrize("aggregation", ["grpo", "dapo", "dr_grpo", "gspo"])
def test_echo_with_zero_lambda_has_exactly_grpo_gradient(aggregation: str) -> None:
    """λ = 0: ECHO's loss and every gradient equal GRPO's bit for bit."""
    model = _model()
    batch = _make_batch(21)
    out = {}
    for mode, extra in (("grpo", {}), ("echo", {"env_lambda": 0.0})):
        if aggregation == "dr_grpo":
            extra = {**extra, "dr_grpo_norm": 30}
        cfg = ObjectiveConfig(mode=mode, aggregation=aggregation, kl_beta=0.05, **extra)
        model.zero_grad(set_to_none=True)
        loss, metrics = objective(model, batch, cfg)
        loss.backward()
        out[mode] = (loss.detach(), _grads(model), metrics)
    assert torch.equal(out["grpo"][0], out["echo"][0])
    for name, g in out["grpo"][1].items():
        assert torch.equal(g, out["echo"][1][name]), name
    assert out["grpo"][2] == out["echo"][2]


def _hidden_and_lp_grads(
    model: torch.nn.Module, batch: Batch, cfg: ObjectiveConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """d loss / d (final hidden state) per position, and d loss / d logprob per position."""
    store: dict[str, torch.Tensor] = {}

    def hook(_mod, _inp, out):
        out.last_hidden_state.retain_grad()
        store["h"] = out.last_hidden_state

    handle = model.get_decoder().register_forward_hook(hook)
    try:
        lp = token_logprobs(
            model,
            batch.input_ids,
            batch.attention_mask,
            batch.action_mask | batch.env_mask,
            chunk_size=cfg.chunk_size,
        )
        lp.retain_grad()
        model.zero_grad(set_to_none=True)
        loss, _ = compute_loss(lp, batch, cfg)
        loss.backward()
    finally:
        handle.remove()
    return store["h"].grad.norm(dim=-1), lp.grad


@pytest.mark.unit
def test_env_only_gives_gradient_only_at_env_positions() -> None:
    """env_only: the hidden state at t-1 gets gradient iff token t is a weighted env token."""
    model = _model()
    batch = _make_batch(9)
    h_grad, lp_grad = _hidden_and_lp_grads(model, batch, ObjectiveConfig(mode="env_only"))
    trained = batch.env_mask & (batch.env_weight > 0)
    assert torch.all(lp_grad[~trained] == 0)
    assert torch.all(lp_grad[trained] < 0)
    h_trained = torch.zeros_like(trained)
    h_trained[:, :-1] = trained[:, 1:]
    assert torch.all(h_grad[~h_trained] == 0)
    assert torch.all(h_grad[h_trained] > 0)


@pytest.mark.unit
def test_grpo_gives_gradient_only_at_action_positions() -> None:
    """grpo: env log-probs are computed (for the metric) but get exactly zero gradient."""
    model = _model()
    batch = _make_batch(10, with_old=False)
    h_grad, lp_grad = _hidden_and_lp_grads(model, batch, ObjectiveConfig(mode="grpo"))
    assert torch.all(lp_grad[~batch.action_mask] == 0)
    live = batch.action_mask & (batch.advantages[:, None] != 0)
    assert torch.all(lp_grad[live] != 0)
    h_act = torch.zeros_like(batch.action_mask)
    h_act[:, :-1] = batch.action_mask[:, 1:]
    assert torch.all(h_grad[~h_act] == 0)


# ------------------------------------------------------------------------ chunked log-probs


@pytest.mark.unit
@pytest.mark.parametrize("chunk_size", [1, 7, 10_000])
def test_token_logprobs_equals_full_log_softmax(chunk_size: int) -> None:
    """Chunked head == log_softmax(full logits) gathered, at chunk sizes 1, 7 and > N."""
    model = _model()
    batch = _make_batch(13, batch_size=4, seqlen=30, with_old=False, with_ref=False)
    pos = batch.attention_mask.bool().clone()
    pos[:, 0] = False
    temp = torch.where(batch.action_mask, 0.6, 1.0)
    with torch.no_grad():
        lp = token_logprobs(
            model,
            batch.input_ids,
            batch.attention_mask,
            pos,
            chunk_size=chunk_size,
            temperature=temp,
        )
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    full = torch.log_softmax(logits[:, :-1] / temp[:, 1:, None], -1)
    want = torch.zeros_like(lp)
    want[:, 1:] = full.gather(2, batch.input_ids[:, 1:, None])[..., 0]
    want = torch.where(pos, want, 0.0)
    assert lp.dtype == torch.float32
    assert int(pos.sum()) < 10_000
    torch.testing.assert_close(lp, want, rtol=1e-5, atol=2e-6)
    assert torch.all(lp[~pos] == 0)


@pytest.mark.unit
def test_token_logprob_module_equals_function() -> None:
    """The wrapper module (for DDP/accelerate) returns exactly token_logprobs' values."""
    model = _model()
    batch = _make_batch(14, with_old=False, with_ref=False)
    pos = batch.action_mask | batch.env_mask
    mod = TokenLogprobModule(model, chunk_size=6)
    assert any(p is model.lm_head.weight for p in mod.parameters())
    with torch.no_grad():
        a = mod(batch.input_ids, batch.attention_mask, pos)
        b = token_logprobs(model, batch.input_ids, batch.attention_mask, pos, chunk_size=6)
    assert torch.equal(a, b)


@pytest.mark.unit
@pytest.mark.parametrize("chunk_size", [1, 3, 100])
def test_chunked_function_passes_gradcheck_float64(chunk_size: int) -> None:
    """The custom backward == autograd (float64 gradcheck), with bias, temperature, and rows
    whose incoming gradient is zero (the skipped-row path)."""
    g = torch.Generator().manual_seed(0)
    n, h, v = 9, 5, 11
    hidden = torch.randn(n, h, dtype=torch.float64, generator=g, requires_grad=True)
    weight = torch.randn(v, h, dtype=torch.float64, generator=g, requires_grad=True)
    bias = torch.randn(v, dtype=torch.float64, generator=g, requires_grad=True)
    targets = torch.randint(0, v, (n,), generator=g)
    inv_temp = torch.rand(n, dtype=torch.float64, generator=g) + 0.5
    keep = torch.tensor([1, 0, 1, 1, 0, 0, 1, 1, 1], dtype=torch.float64)

    def f(hd: torch.Tensor, w: torch.Tensor, bs: torch.Tensor) -> torch.Tensor:
        return ChunkedLinearLogprob.apply(hd, w, bs, targets, inv_temp, chunk_size)[0] * keep

    assert torch.autograd.gradcheck(f, (hidden, weight, bias))
    out, _ = ChunkedLinearLogprob.apply(hidden, weight, bias, targets, inv_temp, chunk_size)
    ref = torch.log_softmax((hidden @ weight.T + bias) * inv_temp[:, None], -1)
    torch.testing.assert_close(out, ref.gather(1, targets[:, None])[:, 0], rtol=0, atol=1e-12)


@pytest.mark.unit
def test_chunked_function_without_bias_and_no_rows() -> None:
    """No bias → no bias gradient; zero selected rows → zero gradients, graph still connected."""
    hidden = torch.randn(0, 4, requires_grad=True)
    weight = torch.randn(6, 4, requires_grad=True)
    out, _ = ChunkedLinearLogprob.apply(
        hidden, weight, None, torch.zeros(0, dtype=torch.long), torch.ones(0), 3
    )
    assert out.shape == (0,)
    out.sum().backward()
    assert torch.equal(weight.grad, torch.zeros_like(weight))


@pytest.mark.unit
def test_bfloat16_model_returns_float32_logprobs_close_to_float32() -> None:
    """A bf16 model: log-probs come back float32, close to the float32 model's."""
    model32 = _model()
    model16 = tiny_model(
        vocab_size=V,
        hidden_size=32,
        intermediate_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        seed=3,
    ).to(torch.bfloat16)
    batch = _make_batch(2, with_old=False, with_ref=False)
    pos = batch.action_mask | batch.env_mask
    lp16 = token_logprobs(model16, batch.input_ids, batch.attention_mask, pos, chunk_size=8)
    with torch.no_grad():
        lp32 = token_logprobs(model32, batch.input_ids, batch.attention_mask, pos)
    assert lp16.dtype == torch.float32
    torch.testing.assert_close(lp16.detach(), lp32, rtol=0, atol=0.1)
    lp16.sum().backward()
    assert model16.lm_head.weight.grad.dtype == torch.bfloat16


# ------------------------------------------------------------------ compute_loss by hand


def _hand_batch(**over) -> Batch:
    am = torch.tensor([[0, 1, 1, 0, 0], [0, 0, 1, 0, 0]], dtype=torch.bool)
    em = torch.tensor([[0, 0, 0, 1, 1], [0, 1, 0, 1, 0]], dtype=torch.bool)
    kw = {
        "input_ids": torch.zeros(2, 5, dtype=torch.long),
        "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]),
        "action_mask": am,
        "env_mask": em,
        "env_weight": em.float(),
        "channel_ids": torch.tensor([[-1, -1, -1, 0, 1], [-1, 1, -1, 1, -1]]),
        "advantages": torch.tensor([1.0, -2.0]),
        "old_logprobs": None,
        "ref_logprobs": None,
        "channel_names": ["a", "b"],
    }
    kw.update(over)
    return Batch(**kw)


HAND_LP = torch.tensor([[0.0, -1.0, -2.0, -0.5, -1.5], [0.0, -3.0, -0.2, -1.0, 0.0]])


@pytest.mark.unit
def test_on_policy_gradient_is_advantage_over_token_count() -> None:
    """old_logprobs=None: ratio 1, d loss/d lp_t = -A_i / n_i / #sequences (grpo)."""
    lp = HAND_LP.clone().requires_grad_(True)
    loss, m = compute_loss(lp, _hand_batch(), ObjectiveConfig(mode="grpo"))
    loss.backward()
    want = torch.zeros(2, 5)
    want[0, 1:3] = -1.0 / 2 / 2
    want[1, 2] = 2.0 / 1 / 2
    torch.testing.assert_close(lp.grad, want)
    assert float(loss.detach()) == pytest.approx(-(1.0 + -2.0) / 2)
    assert m["ratio_mean"] == 1.0 and m["clip_frac"] == 0.0
    assert m["n_action_tokens"] == 3.0 and m["n_env_tokens"] == 4.0


@pytest.mark.unit
def test_hand_computed_dapo_clip_and_metrics() -> None:
    """DAPO with clip-higher on hand numbers; per-channel env CE; action CE."""
    old = HAND_LP.clone()
    old[0, 1] = -1.0 - math.log(1.5)  # ratio 1.5 > 1.28, A>0 → clipped at 1.28
    old[0, 2] = -2.0  # ratio 1
    old[1, 2] = -0.2 + math.log(2.0)  # ratio 0.5 < 0.8, A<0 → clipped at 0.8
    b = _hand_batch(old_logprobs=old)
    loss, m = compute_loss(HAND_LP, b, ObjectiveConfig(mode="echo", aggregation="dapo"))
    rl = (-(1.28 * 1.0) - 1.0 * 1.0 - (0.8 * -2.0)) / 3
    env = (0.5 + 1.5 + 3.0 + 1.0) / 4
    assert m["rl_loss"] == pytest.approx(rl, rel=1e-6)
    assert m["env_loss"] == pytest.approx(env) and m["env_ce"] == pytest.approx(env)
    assert float(loss) == pytest.approx(rl + 0.1 * env, rel=1e-6)
    assert m["clip_frac"] == pytest.approx(2 / 3)
    assert m["ratio_mean"] == pytest.approx((1.5 + 1.0 + 0.5) / 3, rel=1e-6)
    assert m["action_ce"] == pytest.approx((1.0 + 2.0 + 0.2) / 3, rel=1e-6)
    assert m["env_ce/a"] == pytest.approx(0.5)
    assert m["env_ce/b"] == pytest.approx((1.5 + 3.0 + 1.0) / 3)
    assert all(isinstance(v, float) for v in m.values())


@pytest.mark.unit
def test_env_weights_and_zero_weight_denominator() -> None:
    """L_env = Σ w·(−lp) / #{w > 0}; env_ce stays the unweighted mean over env_mask."""
    w = torch.tensor([[0, 0, 0, 2.0, 0.0], [0, 0.5, 0, 1.0, 0]])
    _, m = compute_loss(HAND_LP, _hand_batch(env_weight=w), ObjectiveConfig(mode="env_only"))
    assert m["env_loss"] == pytest.approx((2 * 0.5 + 0.5 * 3.0 + 1.0) / 3)
    assert m["env_ce"] == pytest.approx((0.5 + 1.5 + 3.0 + 1.0) / 4)
    assert m["rl_loss"] == 0.0 and m["loss"] == m["env_loss"]


@pytest.mark.unit
def test_lambda_eff_per_mode() -> None:
    """grpo ignores λ, env_only trains L_env unscaled, echo and sft use env_lambda."""
    assert ObjectiveConfig(mode="grpo").lambda_eff == 0.0
    assert ObjectiveConfig(mode="env_only").lambda_eff == 1.0
    assert ObjectiveConfig(mode="echo", env_lambda=0.3).lambda_eff == 0.3
    assert ObjectiveConfig(mode="sft").lambda_eff == 0.1
    lp = HAND_LP
    sft, _ = compute_loss(lp, _hand_batch(), ObjectiveConfig(mode="sft", env_lambda=0.0))
    assert float(sft) == pytest.approx((1.0 + 2.0 + 0.2) / 3, rel=1e-6)


# --------------------------------------------------------------------------- advantages


@pytest.mark.unit
def test_group_advantages_hand_values() -> None:
    """Population std; singleton and constant groups → 0; group ids need not be contiguous."""
    r = torch.tensor([1.0, 0.0, 5.0, 0.5, 0.5, 3.0, 1.0, 2.0])
    gid = torch.tensor([7, 7, 2, 9, 9, 4, 4, 4])
    a = group_advantages(r, gid)
    s = math.sqrt(2 / 3)
    want = torch.tensor([1, -1, 0, 0, 0, 1 / s, -1 / s, 0], dtype=torch.float32)
    torch.testing.assert_close(a, want, rtol=1e-5, atol=1e-5)
    raw = group_advantages(r, gid, normalize_std=False)
    torch.testing.assert_close(raw, torch.tensor([0.5, -0.5, 0, 0, 0, 1, -1, 0]))


@pytest.mark.unit
@settings(max_examples=40, deadline=None)
@given(
    groups=st.lists(
        st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=2, max_size=6),
        min_size=1,
        max_size=5,
    )
)
def test_group_advantages_zero_mean_unit_spread(groups: list[list[float]]) -> None:
    """Within each group: mean 0; population std 1 when rewards differ."""
    r = torch.tensor([x for g in groups for x in g], dtype=torch.float32)
    gid = torch.tensor([i for i, g in enumerate(groups) for _ in g])
    a = group_advantages(r, gid).double()
    for i, g in enumerate(groups):
        ai = a[gid == i]
        assert abs(float(ai.mean())) < 1e-4
        spread = float(torch.tensor(g, dtype=torch.float64).std(unbiased=False))
        if spread > 1e-3:
            assert float(ai.std(unbiased=False)) == pytest.approx(1.0, abs=1e-3)


# ------------------------------------------------------------------------------- errors


@pytest.mark.unit
@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"action_mask": torch.zeros(2, 4, dtype=torch.bool)}, "action_mask must be a tensor"),
        ({"action_mask": torch.zeros(2, 5, dtype=torch.long)}, "action_mask must be a torch.bool"),
        ({"advantages": torch.zeros(3)}, "advantages must be a 1-D floating"),
        ({"advantages": torch.zeros(2, dtype=torch.long)}, "advantages must be a 1-D floating"),
        ({"input_ids": torch.zeros(2, 5)}, "input_ids must be a 2-D torch.long"),
        ({"env_weight": torch.zeros(2, 5, dtype=torch.long)}, "env_weight must be a floating"),
        ({"channel_ids": torch.zeros(2, 5, dtype=torch.int32)}, "channel_ids must be torch.long"),
        ({"old_logprobs": torch.zeros(2, 4)}, "old_logprobs must be a tensor of shape"),
    ],
)
def test_malformed_batch_structure_is_one_clear_error(override: dict, match: str) -> None:
    """Wrong shape/dtype/size is rejected when the Batch is built, naming the field."""
    with pytest.raises(ValueError, match=match):
        _hand_batch(**override)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b: b.action_mask.__setitem__((0, 0), True), "position 0"),
        (lambda b: b.action_mask.__setitem__((0, 3), True), "overlap"),
        (lambda b: b.env_mask.__setitem__((1, 4), True), "padding"),
        (lambda b: b.env_weight.__setitem__((0, 1), 1.0), "nonzero outside env_mask"),
        (lambda b: b.env_weight.__setitem__((0, 3), -1.0), "negative"),
        (lambda b: b.channel_ids.__setitem__((0, 3), 2), "channel_ids outside"),
        (lambda b: b.advantages.__setitem__(0, float("nan")), "advantages has non-finite"),
    ],
)
def test_malformed_batch_values_are_one_clear_error(mutate, match: str) -> None:
    """Inconsistent masks/weights are rejected by compute_loss with a message naming them."""
    b = _hand_batch()
    mutate(b)
    with pytest.raises(ValueError, match=match):
        compute_loss(HAND_LP, b, ObjectiveConfig())


@pytest.mark.unit
@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"mode": "grpo", "env_lambda": 0.5}, "env_lambda has no effect in mode 'grpo'"),
        ({"mode": "env_only", "env_lambda": 0.5}, "env_lambda has no effect in mode 'env_only'"),
        ({"mode": "env_only", "kl_beta": 0.1}, "kl_beta > 0 needs an RL term"),
        ({"mode": "sft", "kl_beta": 0.1}, "kl_beta > 0 needs an RL term"),
        ({"aggregation": "dapo", "dr_grpo_norm": 100}, "dr_grpo_norm only applies"),
        ({"eps_low": 1.0}, "eps_low"),
        ({"mode": "ppo"}, "mode"),
        ({"lambda": 0.1}, "Extra inputs are not permitted"),
        ({"temperature": 0.0}, "temperature"),
    ],
)
def test_bad_config_is_one_clear_error(kw: dict, match: str) -> None:
    """Invalid values and combinations fail at construction with a message saying what."""
    with pytest.raises(ValidationError, match=match):
        ObjectiveConfig(**kw)


@pytest.mark.unit
def test_call_errors() -> None:
    """kl without ref log-probs, wrong logprobs shape, target at position 0, bad chunk size."""
    with pytest.raises(ValueError, match="ref_logprobs"):
        compute_loss(HAND_LP, _hand_batch(), ObjectiveConfig(kl_beta=0.1))
    with pytest.raises(ValueError, match="logprobs must be a floating tensor of shape"):
        compute_loss(HAND_LP[:, :4], _hand_batch(), ObjectiveConfig())
    model = _model()
    ids = torch.ones(1, 6, dtype=torch.long)
    pos = torch.ones(1, 6, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"positions\[:, 0\]"):
        token_logprobs(model, ids, torch.ones_like(ids), pos)
    pos[0, 0] = False
    with pytest.raises(ValueError, match="chunk_size"):
        token_logprobs(model, ids, torch.ones_like(ids), pos, chunk_size=0)
    with pytest.raises(TypeError, match="not a Hugging Face causal LM"):
        token_logprobs(torch.nn.Linear(2, 2), ids, torch.ones_like(ids), pos)
    bad_lp = HAND_LP.clone()
    bad_lp[0, 3] = -math.inf
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        compute_loss(bad_lp, _hand_batch(), ObjectiveConfig())


@pytest.mark.unit
def test_group_advantages_errors() -> None:
    """Wrong dtype/shape or non-finite rewards are one clear error each."""
    gid = torch.tensor([0, 0, 1])
    with pytest.raises(ValueError, match="rewards must be floating"):
        group_advantages(torch.tensor([1, 0, 1]), gid)
    with pytest.raises(ValueError, match="group_ids must be a torch.long tensor of shape"):
        group_advantages(torch.tensor([1.0, 0.0]), gid)
    with pytest.raises(ValueError, match="non-finite"):
        group_advantages(torch.tensor([1.0, math.nan, 0.0]), gid)
    assert group_advantages(torch.zeros(0), torch.zeros(0, dtype=torch.long)).shape == (0,)


@pytest.mark.unit
def test_batch_to_moves_every_tensor() -> None:
    """Batch.to returns a new, equal Batch on the device; None fields stay None."""
    b = _hand_batch(old_logprobs=HAND_LP.clone())
    c = b.to("cpu")
    assert c is not b and c.ref_logprobs is None and c.channel_names == b.channel_names
    assert torch.equal(c.old_logprobs, b.old_logprobs)
    assert c.shape == (2, 5)
    m = b.to("meta")
    assert m.input_ids.device.type == "meta" and m.old_logprobs.device.type == "meta"


@pytest.mark.unit
def test_means_over_no_tokens_are_nan_not_zero() -> None:
    """A batch without observation tokens has no env CE (NaN, so loggers leave a gap)."""
    none = torch.zeros(2, 5, dtype=torch.bool)
    b = _hand_batch(env_mask=none, env_weight=none.float(), channel_ids=torch.full((2, 5), -1))
    loss, m = compute_loss(HAND_LP, b, ObjectiveConfig(mode="grpo"))
    assert math.isnan(m["env_ce"]) and m["n_env_tokens"] == 0
    assert math.isfinite(m["action_ce"]) and math.isfinite(float(loss))
    assert not any(k.startswith("env_ce/") for k in m)


# ------------------------------------------------- the trainer's step: micro-batches, processes


@pytest.fixture(scope="module")
def step_trainer(tmp_path_factory):
    """One Trainer (tiny model, toy suite, KL reference built), its fixed transcripts, weights
    moved off the reference, and the one-process full-batch reference of every combo."""
    import objective_step_cases as cases

    trainer = cases.build_trainer(tmp_path_factory.mktemp("step") / "run")
    samples, adv = cases.make_samples(trainer)
    state = cases.moved_state(trainer)
    refs = []
    for combo in cases.COMBOS:
        ocfg = cases.objective_config(trainer, combo)
        refs.append(cases.run_update(trainer, samples, adv, ocfg, len(samples), state))
    return trainer, samples, adv, state, refs


def _assert_step_equal(metrics, grads, ref_metrics, ref_grads, what: str) -> None:
    """Loss and every metric within 1e-6 (relative to max(1, |value|)); every gradient within
    1e-6 of the reference's."""
    for k, v in ref_metrics.items():
        if math.isnan(v):
            assert math.isnan(metrics[k]), (what, k)
        else:
            assert abs(metrics[k] - v) <= 1e-6 * max(1.0, abs(v)), (what, k, metrics[k], v)
    assert metrics.keys() == ref_metrics.keys(), what
    for name, g in ref_grads.items():
        assert float((grads[name] - g).abs().max()) <= 1e-6, (what, name)


@pytest.mark.integration
def test_trainer_update_is_the_same_for_every_micro_batch_size(step_trainer) -> None:
    """Trainer._update with micro-batches of 1, 2 and all: same loss, metrics and gradient of
    every parameter, for every aggregation × mode (KL, ECHO variants included)."""
    import objective_step_cases as cases

    trainer, samples, adv, state, refs = step_trainer
    assert any(sum(s.action_mask()) == 0 for s in samples)
    assert any(sum(s.env_mask()) == 0 and sum(s.action_mask()) > 0 for s in samples)
    for combo, (ref_m, ref_g) in zip(cases.COMBOS, refs, strict=True):
        ocfg = cases.objective_config(trainer, combo)
        assert ref_m["n_action_tokens"] > 0 and ref_m["n_env_tokens"] > 0
        assert any(float(g.abs().max()) > 0 for g in ref_g.values())
        for mb in (1, 2):
            m, g = cases.run_update(trainer, samples, adv, ocfg, mb, state)
            _assert_step_equal(m, g, ref_m, ref_g, f"{combo} mb={mb}")
    kl_rows = [m for c, (m, _) in zip(cases.COMBOS, refs, strict=True) if c.get("kl_beta")]
    assert kl_rows and all(m["kl"] > 0 for m in kl_rows)  # the policy moved off the reference


@pytest.mark.integration
@pytest.mark.slow
def test_trainer_update_is_the_same_on_two_processes(step_trainer, tmp_path) -> None:
    """Two CPU processes (gloo, torchrun): the processes' shares give the one-process
    loss and gradients, micro-batches 1, 3 and all; also when one process has no samples, or
    only a transcript without action and observation tokens (it still joins every collective:
    the run finishes)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    import objective_step_cases as cases

    _, _, _, _, refs = step_trainer
    refs_path = tmp_path / "refs.pt"
    torch.save(refs, refs_path)
    out = tmp_path / "out.json"
    worker = Path(__file__).with_name("objective_step_worker.py")
    # torchrun, not `accelerate launch --cpu --num_processes 2`: accelerate 1.15 starts ONE
    # process for that on CPU (its simple launcher spawns several only through mpirun); the
    # Accelerator picks up torchrun's environment (gloo).  The worker asserts world size 2.
    launcher = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            str(launcher), "--standalone", "--nproc_per_node", "2",
            str(worker), str(tmp_path / "run"), str(refs_path), str(out),
        ],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert {r["split"] for r in rows} == {"interleaved", "empty_rank", "no_tokens_rank"}
    assert {r["combo"] for r in rows if r["split"] == "interleaved"} == set(
        range(len(cases.COMBOS))
    )
    for r in rows:
        what = f"{r['split']} {cases.COMBOS[r['combo']]} mb={r['mb']}"
        assert r["grad_diff"] <= 1e-6 and r["grad_scale"] > 0, what
        m, ref = r["metrics"], r["ref_metrics"]
        assert m.keys() == ref.keys(), what
        for k, v in ref.items():
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            assert abs(m[k] - v) <= 1e-6 * max(1.0, abs(v)), (what, k, m[k], v)


# ------------------------------------------------------------------------------ KL in training


@pytest.mark.integration
def test_kl_recipe_trains_and_logs_the_independent_kl(tmp_path) -> None:
    """recipes/toy/tiny_echo_kl.yaml (kl_beta 0.04) trains; the logged ``kl`` of step 2 equals
    mean k3 over step 2's action tokens computed here from full logits of the step-1 checkpoint
    and a freshly built initial model (the reference); step 1's is 0 (policy = reference)."""
    import json
    from pathlib import Path

    from envlearn.config import load_config
    from envlearn.models import load_model
    from envlearn.rollout import load_rollouts
    from envlearn.trainer import Trainer

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "toy" / "tiny_echo_kl.yaml"
    run = tmp_path / "kl"
    cfg = load_config(
        recipe,
        [
            f"run_dir={run}", "train.steps=2", "train.checkpoint_every=1", "train.tasks_per_step=2",
            "rollout.group_size=2", "eval.at_start=false", "eval.every=100", "eval.max_tasks=1",
            "eval.samples_per_task=1", "diagnostic.every=100", "tensorboard=false",
            "progress=false",
        ],
    )  # fmt: skip
    assert cfg.objective.kl_beta == 0.04 and cfg.objective.kl_estimator == "k3"
    Trainer(cfg).train()
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["kind"] == "train"]
    assert len(train) == 2 and abs(train[0]["kl"]) < 1e-6

    ref = tiny_model(cfg.model.tiny)
    policy = load_model(run / "checkpoints" / "step_00001" / "model", dtype=torch.float32)
    rollouts = load_rollouts(run / "rollouts" / "step_00002.jsonl")
    temp = cfg.rollout.temperature
    kls = []
    with torch.no_grad():
        for r in rollouts:
            if r.status != "ok":
                continue
            for tr in r.samples:
                ids = torch.tensor([tr.token_ids])
                lp_pol = torch.log_softmax(policy(input_ids=ids).logits[0, :-1] / temp, -1)
                lp_ref = torch.log_softmax(ref(input_ids=ids).logits[0, :-1] / temp, -1)
                for t, is_action in enumerate(tr.action_mask()):
                    if is_action and t > 0:
                        d = lp_ref[t - 1, tr.token_ids[t]] - lp_pol[t - 1, tr.token_ids[t]]
                        kls.append(float(torch.exp(d) - d - 1))
    assert kls and train[1]["n_action_tokens"] == len(kls)
    want = sum(kls) / len(kls)
    assert want > 0
    assert train[1]["kl"] == pytest.approx(want, rel=1e-4, abs=1e-8)


# ------------------------------------------------------------------------------ ECHO variants


def _grads_of(model, loss_fn) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss = loss_fn()
    loss.backward()
    return loss.detach(), _grads(model)


def _assert_grads_close(got: dict, want: dict, tol: float = 1e-6) -> None:
    assert got.keys() == want.keys() and len(got) > 0
    for name, w in want.items():
        scale = max(float(w.abs().max()), 1.0)
        assert float((got[name] - w).abs().max()) <= tol * scale, name


@pytest.mark.unit
@pytest.mark.parametrize("env_normalization", ["token_mean", "sequence_mean"])
@pytest.mark.parametrize(
    ("aggregation", "kl_estimator"), [("dapo", "k3_ratio"), ("gspo", "k3_ratio"), ("grpo", "k3")]
)
@pytest.mark.parametrize("fused", [True, False])
def test_echo_variants_match_naive(
    env_normalization: str, aggregation: str, kl_estimator: str, fused: bool
) -> None:
    """Env normalisations × KL estimators × fused/recomputed env gradients == the per-sequence
    Python reference: loss and every gradient."""
    cfg = ObjectiveConfig(
        mode="echo",
        env_lambda=0.7,
        aggregation=aggregation,
        kl_beta=0.3,
        kl_estimator=kl_estimator,
        env_normalization=env_normalization,
        fused_env_grad=fused,
        chunk_size=5,
    )
    model = _model()
    batch = _make_batch(31, batch_size=4)
    loss, got = _grads_of(model, lambda: objective(model, batch, cfg)[0])
    ref, want = _grads_of(
        model, lambda: _naive_loss(_naive_logprobs(model, batch, 1.0), batch, cfg)
    )
    assert float(loss) == pytest.approx(float(ref), rel=1e-6, abs=1e-6)
    _assert_grads_close(got, want)


@pytest.mark.unit
def test_sequence_mean_differs_from_token_mean_by_hand() -> None:
    """Hand numbers: token_mean = Σ CE / #tokens; sequence_mean = mean of per-sequence means."""
    b = _hand_batch()  # env CE: seq 0 {0.5, 1.5}, seq 1 {3.0, 1.0}; weights 1
    b.env_weight[1, 1] = 0.0  # seq 1 keeps one weighted token (CE 1.0)
    _, tok = compute_loss(HAND_LP, b, ObjectiveConfig(mode="env_only"))
    _, seq = compute_loss(
        HAND_LP, b, ObjectiveConfig(mode="env_only", env_normalization="sequence_mean")
    )
    assert tok["env_loss"] == pytest.approx((0.5 + 1.5 + 1.0) / 3)
    assert seq["env_loss"] == pytest.approx(((0.5 + 1.5) / 2 + 1.0) / 2)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("schedule", "want"),
    [
        ({}, [0.2, 0.2, 0.2, 0.2, 0.2]),
        ({"warmup_steps": 2}, [0.1, 0.2, 0.2, 0.2, 0.2]),
        ({"kind": "linear", "end": 0.0, "decay_steps": 4}, [0.2, 0.15, 0.1, 0.05, 0.0]),
        (
            {"kind": "linear", "end": 0.1, "decay_steps": 2, "warmup_steps": 1},
            [0.2, 0.2, 0.15, 0.1, 0.1],
        ),
        ({"kind": "step", "step_size": 2, "gamma": 0.5}, [0.2, 0.2, 0.1, 0.1, 0.05]),
    ],
)
def test_lambda_schedule_hand_values(schedule: dict, want: list[float]) -> None:
    """λ per step for each schedule (hand values), and the loss uses the step's λ."""
    cfg = ObjectiveConfig(mode="echo", env_lambda=0.2, env_lambda_schedule=schedule)
    got = [cfg.lambda_at(k) for k in range(5)]
    assert got == pytest.approx(want)
    b = _hand_batch()
    for k in (0, 3):
        loss, m = compute_loss(HAND_LP, b, cfg, step=k)
        assert float(loss) == pytest.approx(m["rl_loss"] + want[k] * m["env_loss"], rel=1e-6)
    assert ObjectiveConfig(mode="grpo", env_lambda_schedule=schedule).lambda_at(3) == 0.0
    assert ObjectiveConfig(mode="env_only", env_lambda_schedule=schedule).lambda_at(3) == 1.0


@pytest.mark.unit
def test_linear_schedule_length_and_dr_grpo_norm_come_from_the_run_config() -> None:
    """decay_steps defaults to train.steps − warm-up; dr_grpo_norm to the maximum completion
    tokens (max_action_tokens × max_turns, else max_episode_tokens); explicit values win."""
    from envlearn.config import load_config

    c = load_config(
        None,
        [
            "train.steps=10", "objective.env_lambda_schedule={kind: linear, warmup_steps: 2}",
            "objective.aggregation=dr_grpo", "rollout.max_action_tokens=8", "rollout.max_turns=3",
        ],
    )  # fmt: skip
    assert c.objective.env_lambda_schedule.decay_steps == 8
    assert c.objective.dr_grpo_norm == 24
    c = load_config(None, ["objective.aggregation=dr_grpo", "rollout.max_episode_tokens=300"])
    assert c.objective.dr_grpo_norm == 300
    c = load_config(None, ["objective.aggregation=dr_grpo", "objective.dr_grpo_norm=50"])
    assert c.objective.dr_grpo_norm == 50
    with pytest.raises(ValueError, match="dr_grpo_norm"):
        compute_loss(HAND_LP, _hand_batch(), ObjectiveConfig(aggregation="dr_grpo"))


@pytest.mark.unit
def test_dr_grpo_divides_by_the_configured_completion_length_not_the_padded_one() -> None:
    """Padding the batch wider changes nothing: Σ per-token terms / (B · dr_grpo_norm)."""
    cfg = ObjectiveConfig(mode="grpo", aggregation="dr_grpo", dr_grpo_norm=7)
    _, m = compute_loss(HAND_LP, _hand_batch(), cfg)
    assert m["rl_loss"] == pytest.approx(-(1.0 + 1.0 - 2.0) / (2 * 7))
    wide = {
        k: torch.cat([v, torch.zeros(2, 9, dtype=v.dtype)], 1)
        for k, v in {
            "input_ids": torch.zeros(2, 5, dtype=torch.long),
            "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]),
            "action_mask": _hand_batch().action_mask,
            "env_mask": _hand_batch().env_mask,
            "env_weight": _hand_batch().env_weight,
        }.items()
    }
    wide["channel_ids"] = torch.cat([_hand_batch().channel_ids, torch.full((2, 9), -1)], 1)
    b = _hand_batch(**wide)
    _, m2 = compute_loss(torch.cat([HAND_LP, torch.zeros(2, 9)], 1), b, cfg)
    assert m2["rl_loss"] == pytest.approx(m["rl_loss"])


@pytest.mark.unit
def test_sft_scores_actions_at_temperature_one() -> None:
    """mode sft with temperature 0.7 (the sampler's): action CE is at T = 1, as plain SFT."""
    model = _model()
    batch = _make_batch(3, with_old=False, with_ref=False)
    _, m = objective(model, batch, ObjectiveConfig(mode="sft", env_lambda=0.0, temperature=0.7))
    with torch.no_grad():
        lp = _naive_logprobs(model, batch, 1.0)
    want = float(-lp[batch.action_mask].mean())
    assert m["action_ce"] == pytest.approx(want, rel=1e-5)
    _, m_rl = objective(model, batch, ObjectiveConfig(mode="grpo", temperature=0.7))
    assert m_rl["action_ce"] != pytest.approx(want, rel=1e-3)  # RL modes do temper


@pytest.mark.unit
def test_fused_env_gradient_is_exact_and_skips_the_backward_recompute(monkeypatch) -> None:
    """env_only: the fused kernel's gradients == the naive reference (≤ 1e-6) and its backward
    recomputes no logits; without fusion backward recomputes every trained env row."""
    import envlearn.logprobs as lpmod

    calls = {"n": 0}
    real = lpmod._chunk_logits

    def counting(*a, **k):
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(lpmod, "_chunk_logits", counting)
    model = _model()
    batch = _make_batch(8, batch_size=4, with_old=False, with_ref=False)
    n_rows = int((batch.env_mask | batch.action_mask).sum())  # forward: every scored row
    out = {}
    for fused in (True, False):
        cfg = ObjectiveConfig(mode="env_only", chunk_size=4, fused_env_grad=fused)
        model.zero_grad(set_to_none=True)
        loss, _ = objective(model, batch, cfg)
        fwd = calls["n"]
        loss.backward()
        out[fused] = (calls["n"] - fwd, _grads(model), fwd)
        calls["n"] = 0
    n_trained = int((batch.env_mask & (batch.env_weight > 0)).sum())  # weight-0 rows: no grad
    assert out[True][0] == 0 and out[False][0] == math.ceil(n_trained / 4)
    assert out[True][2] == out[False][2] == math.ceil(n_rows / 4)
    ref, want = _grads_of(
        model,
        lambda: _naive_loss(
            _naive_logprobs(model, batch, 1.0), batch, ObjectiveConfig(mode="env_only")
        ),
    )
    _assert_grads_close(out[True][1], want)
    _assert_grads_close(out[False][1], want)


@pytest.mark.unit
def test_env_token_fraction_is_unbiased() -> None:
    """fraction 0.25: the mean of many sampled gradients approaches the full gradient (the error
    falls like 1/√K), while a single sample is far off; the loss and env CE are unbiased too."""
    model = _model()
    batch = _make_batch(12, batch_size=3, with_old=False, with_ref=False)
    full_cfg = ObjectiveConfig(mode="env_only")
    loss_full, full = _grads_of(model, lambda: objective(model, batch, full_cfg)[0])
    flat_full = torch.cat([g.flatten() for g in full.values()])
    cfg = ObjectiveConfig(mode="env_only", env_token_fraction=0.25)
    gen = torch.Generator().manual_seed(0)
    acc = torch.zeros_like(flat_full)
    losses, errs = [], {}
    for k in range(1, 401):
        loss, g = _grads_of(model, lambda: objective(model, batch, cfg, generator=gen)[0])
        flat = torch.cat([g[n].flatten() for n in full])
        if k == 1:
            one = float((flat - flat_full).norm() / flat_full.norm())
        acc += flat
        losses.append(float(loss))
        if k in (25, 400):
            errs[k] = float((acc / k - flat_full).norm() / flat_full.norm())
    assert one > 0.3  # one draw is a poor estimate
    assert errs[400] < 0.1 and errs[400] < errs[25] / 2.5  # ~1/√K: 4× fewer error at 16× K
    assert sum(losses) / len(losses) == pytest.approx(float(loss_full), rel=0.03)


# --------------------------------------------------------------------- rollout filters (L_env)


def _char_transcript(turns: list[tuple[str, str, str]]) -> Transcript:
    """A transcript of char-code tokens: prompt, then per turn (action, observation, notice)."""
    tr = Transcript()
    tr.extend([ord(c) for c in "task:"], Source.PROMPT, turn=0)
    for k, (act, obs, note) in enumerate(turns, start=1):
        tr.n_actions = k
        tr.extend([ord(c) for c in act], Source.ACTION, turn=k)
        if obs:
            tr.extend([ord(c) for c in obs], Source.OBSERVATION, channel="out", turn=k)
        if note:
            tr.extend([ord(c) for c in note], Source.NOTICE, channel="notice", turn=k)
    return tr


def _chars(ids: list[int]) -> str:
    return "".join(map(chr, ids))


@pytest.mark.unit
def test_wellformed_actions_counts_format_notices() -> None:
    """An action is broken when its observation's notice says nothing ran (the wording of every
    envlearn.actions problem); other notices (truncation) do not count."""
    from envlearn.actions import parse_action

    problem = parse_action("no block here", languages={"bash"}).problem
    assert problem is not None and FORMAT_PROBLEM_MARKER in problem
    tr = _char_transcript(
        [("ls", "a b", ""), ("??", "", f"[{problem}]"), ("cat", "x", "[output truncated]")]
    )
    assert wellformed_actions(tr, _chars) == (2, 3)
    assert wellformed_actions(_char_transcript([("ls", "a", "")]), _chars) == (1, 1)


@pytest.mark.unit
def test_filtered_rollouts_leave_l_env_but_keep_the_rl_term() -> None:
    """collate(env_keep=…): L_env == the naive L_env over the kept transcripts only; the RL
    term and env_ce (a metric over every observation) are unchanged."""
    good = _char_transcript([("ls", "alpha", ""), ("cat", "beta", "")])
    bad = _char_transcript([("x", "", "[nothing ran]"), ("ls", "gamma!", "")])
    trs, adv = [good, bad], [1.0, -1.0]
    b_all = collate(trs, adv, pad_id=0)
    b_kept = collate(trs, adv, pad_id=0, env_keep=[True, False])
    assert torch.equal(b_kept.env_mask, b_all.env_mask)
    assert float(b_kept.env_weight[1].sum()) == 0 and float(b_kept.env_weight[0].sum()) > 0
    lp = -torch.rand(b_all.input_ids.shape, generator=torch.Generator().manual_seed(1)) - 0.1
    cfg = ObjectiveConfig(mode="echo")
    _, m_all = compute_loss(lp, b_all, cfg)
    _, m_kept = compute_loss(lp, b_kept, cfg)
    only_good = [float(-lp[0, t]) for t in range(lp.shape[1]) if b_all.env_mask[0, t]]
    assert m_kept["env_loss"] == pytest.approx(sum(only_good) / len(only_good), rel=1e-6)
    assert m_kept["env_loss"] != pytest.approx(m_all["env_loss"])
    assert m_kept["rl_loss"] == m_all["rl_loss"] and m_kept["env_ce"] == m_all["env_ce"]
    with pytest.raises(ValueError, match="env_keep"):
        collate(trs, adv, pad_id=0, env_keep=[True])


@pytest.mark.integration
def test_trainer_env_filter_decides_per_rollout(step_trainer) -> None:
    """objective.env_filter: drop_format_broken drops a rollout with any broken action;
    min_wellformed_fraction keeps one whose share of readable actions reaches it."""
    from types import SimpleNamespace

    from envlearn.objective import EnvFilterConfig

    trainer = step_trainer[0]
    saved = trainer.cfg.objective
    decode = trainer.comp.tokenizer.decode
    enc = trainer.comp.tokenizer.encode
    tr = Transcript()
    tr.extend(enc("task"), Source.PROMPT, turn=0)
    for k, note in enumerate(["", "[Your reply has no code block, so nothing ran.]", "", ""], 1):
        tr.n_actions = k
        tr.extend(enc("act"), Source.ACTION, turn=k)
        if note:
            tr.extend(enc(note), Source.NOTICE, channel="notice", turn=k)
    assert wellformed_actions(tr, decode) == (3, 4)
    rollout = SimpleNamespace(samples=[tr])
    try:
        for filt, keep in [
            ({}, True),
            ({"drop_format_broken": True}, False),
            ({"min_wellformed_fraction": 0.75}, True),
            ({"min_wellformed_fraction": 0.8}, False),
        ]:
            trainer.cfg.objective = saved.model_copy(update={"env_filter": EnvFilterConfig(**filt)})
            assert trainer._feeds_env_term(rollout) is keep, filt
    finally:
        trainer.cfg.objective = saved


@pytest.mark.unit
def test_train_env_channel_weights_is_a_deprecated_alias() -> None:
    """train.env_channel_weights still works (moved to objective, with a DeprecationWarning);
    both places at once is one clear error."""
    from envlearn.config import ConfigError, load_config

    with pytest.warns(DeprecationWarning, match="objective.env_channel_weights"):
        c = load_config(None, ["train.env_channel_weights={stdout: 0.5}"])
    assert c.objective.env_channel_weights == {"stdout": 0.5}
    with pytest.raises(ConfigError, match="set twice"):
        load_config(
            None,
            ["train.env_channel_weights={a: 1}", "objective.env_channel_weights={a: 2}"],
        )
