"""LoRA through peft (``model.lora``): the chunked head's gradients, the KL reference (adapters
disabled), merged weights for a separate sampler, and checkpoint/resume."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from envlearn.config import load_config
from envlearn.logprobs import token_logprobs
from envlearn.lora import apply_lora, merged_state_dict
from envlearn.models import tiny_model
from envlearn.objective import ObjectiveConfig, objective
from envlearn.rollout import load_rollouts
from envlearn.trainer import Trainer
from envlearn.wiring import build_model

BASE = [
    "tasks.suite=toy",
    "rollout.group_size=2",
    "rollout.max_action_tokens=6",
    "rollout.max_episode_tokens=400",
    "train.tasks_per_step=2",
    "eval.at_start=false",
    "eval.every=100",
    "eval.max_tasks=1",
    "eval.samples_per_task=1",
    "diagnostic.every=100",
    "tensorboard=false",
    "progress=false",
    "model.lora={r: 4, alpha: 8, dropout: 0.0}",
    "optim.lr=0.01",
]


def _lora_model() -> torch.nn.Module:
    model = apply_lora(
        tiny_model(vocab_size=320, hidden_size=32, intermediate_size=64, head_dim=8, seed=3),
        r=4,
        alpha=8,
        dropout=0.0,
        target_modules="all-linear",
    )
    with torch.no_grad():  # B starts at 0 in peft: move it so the adapters change the outputs
        g = torch.Generator().manual_seed(0)
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return model


def _batch(seed: int = 0):
    from envlearn.batch import Batch

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 320, (3, 20), generator=g)
    role = torch.randint(0, 3, (3, 20), generator=g)
    role[:, 0] = 0
    act, env = role == 1, role == 2
    return Batch(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        action_mask=act,
        env_mask=env,
        env_weight=env.float(),
        channel_ids=torch.where(env, 0, -1),
        channel_names=["out"],
        advantages=torch.randn(3, generator=g),
    )


@pytest.mark.unit
def test_lora_chunked_objective_matches_full_logits_and_trains_adapters_only() -> None:
    """ECHO through the chunked head on a peft model: loss and every adapter gradient equal the
    full-logits reference; base weights get no gradient."""
    model = _lora_model()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    batch = _batch()
    cfg = ObjectiveConfig(mode="echo", aggregation="dapo", env_lambda=0.5)
    model.zero_grad(set_to_none=True)
    loss, _ = objective(model, batch, cfg)
    loss.backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert got.keys() == trainable

    model.zero_grad(set_to_none=True)
    logits = model(input_ids=batch.input_ids).logits.float()
    lp = torch.zeros(3, 20)
    lp[:, 1:] = torch.log_softmax(logits[:, :-1], -1).gather(2, batch.input_ids[:, 1:, None])[
        ..., 0
    ]
    am, em = batch.action_mask, batch.env_mask
    ratio = torch.exp(lp - lp.detach())  # on-policy: 1, with the policy gradient
    per_seq = [(-ratio[b][am[b]] * batch.advantages[b]).sum() for b in range(3)]
    rl = sum(per_seq) / am.sum()
    env = -lp[em].mean()
    ref = rl + 0.5 * env
    ref.backward()
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
    for n in trainable:
        torch.testing.assert_close(got[n], model.get_parameter(n).grad, rtol=1e-5, atol=1e-6)


@pytest.mark.unit
def test_merged_state_dict_is_peft_merge_and_a_plain_model_reproduces_the_outputs() -> None:
    """merged_state_dict == peft's own merge_and_unload weights; loaded into a plain model it
    gives the peft model's logits; the peft model is left unmerged."""
    model = _lora_model()
    merged = merged_state_dict(model)
    plain = copy.deepcopy(model).merge_and_unload()
    want = plain.state_dict()
    assert merged.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(merged[k], want[k], rtol=1e-6, atol=1e-6, msg=k)
    fresh = tiny_model(vocab_size=320, hidden_size=32, intermediate_size=64, head_dim=8, seed=9)
    fresh.load_state_dict(merged)
    ids = _batch().input_ids
    with torch.no_grad():
        torch.testing.assert_close(fresh(input_ids=ids).logits, model(input_ids=ids).logits)
    assert not any(getattr(m, "merged", False) for m in model.modules())


@pytest.mark.integration
def test_lora_kl_reference_is_the_base_and_the_logged_kl_is_independent(tmp_path) -> None:
    """With model.lora and kl_beta 0.04: no second model is built (reference = adapters
    disabled); step 2's logged kl equals k3 between the merged step-1 weights and a freshly
    built base model, over step 2's saved rollouts; lm_head stays frozen."""
    cfg = load_config(None, [*BASE, f"run_dir={tmp_path / 'r'}", "objective.kl_beta=0.04"])
    trainer = Trainer(cfg)
    assert trainer.ref_model is None
    head_before = trainer.model.get_output_embeddings().weight.detach().clone()
    trainer.train_step()
    policy_state = {k: v.clone() for k, v in merged_state_dict(trainer.model).items()}
    row = trainer.train_step()
    assert torch.equal(trainer.model.get_output_embeddings().weight, head_before)

    base = build_model(load_config(None, [f"run_dir={tmp_path / 'x'}"]))  # no adapters
    policy = copy.deepcopy(base)
    policy.load_state_dict(policy_state)
    rollouts = load_rollouts(tmp_path / "r" / "rollouts" / "step_00002.jsonl")
    kls = []
    with torch.no_grad():
        for r in rollouts:
            for tr in r.samples if r.status == "ok" else []:
                ids = torch.tensor([tr.token_ids])
                am = torch.tensor([tr.action_mask()])
                lp_p = token_logprobs(policy, ids, torch.ones_like(ids), am)
                lp_r = token_logprobs(base, ids, torch.ones_like(ids), am)
                d = (lp_r - lp_p)[am]
                kls += (torch.exp(d) - d - 1).tolist()
    assert kls and row["n_action_tokens"] == len(kls)
    assert sum(kls) / len(kls) > 0
    assert row["kl"] == pytest.approx(sum(kls) / len(kls), rel=1e-4)


@pytest.mark.integration
def test_lora_resume_matches_the_uninterrupted_run(tmp_path) -> None:
    """A LoRA run stopped after step 1 and resumed logs step 2 exactly like the run that never
    stopped (accelerate's state holds the adapters, the optimizer and the RNGs)."""

    def run(name: str, steps: int, resume: bool = False) -> list[dict]:
        cfg = load_config(
            None,
            [
                *BASE,
                f"run_dir={tmp_path / name}",
                f"train.steps={steps}",
                "train.checkpoint_every=1",
            ],
        )
        Trainer(cfg, resume=resume).train()
        lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        return [r for r in map(json.loads, lines) if r["kind"] == "train"]

    full = run("full", 2)
    run("cut", 1)
    resumed = run("cut", 2, resume=True)
    assert [r["step"] for r in resumed] == [1, 2]
    for k in ("loss", "rl_loss", "env_ce", "n_action_tokens"):
        assert resumed[1][k] == full[1][k], k
    assert (Path(tmp_path / "full" / "model") / "adapter_config.json").exists()
