"""Shared by tests/test_objective.py and its 2-process worker: one Trainer, fixed transcripts,
and ``Trainer._update`` run for an objective config and a micro-batch size.

Not a test module (no ``test_`` prefix); the worker (``objective_step_worker.py``) imports it
under ``accelerate launch``.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

import torch

from envlearn.config import load_config
from envlearn.objective import ObjectiveConfig
from envlearn.trainer import Trainer
from envlearn.transcript import Transcript

BASE = [
    "tasks.suite=toy",
    "rollout.max_episode_tokens=400",
    "eval.at_start=false",
    "tensorboard=false",
    "progress=false",
    "optim.grad_clip=null",
    "train.use_sampler_logprobs=true",
    "objective.mode=echo",
    "objective.kl_beta=0.04",  # so the trainer builds its reference model
]

# every aggregation under each RL mode, the two modes without an RL term, the KL term (both
# estimators) and the ECHO variants
COMBOS: list[dict] = [
    {"mode": m, "aggregation": a}
    for m in ("grpo", "echo")
    for a in ("grpo", "dapo", "dr_grpo", "gspo")
] + [
    {"mode": "env_only"},
    {"mode": "sft"},
    {"mode": "echo", "aggregation": "dapo", "kl_beta": 0.04},
    {"mode": "grpo", "aggregation": "gspo", "kl_beta": 0.04, "kl_estimator": "k3_ratio"},
    {"mode": "echo", "aggregation": "dapo", "env_normalization": "sequence_mean"},
    {"mode": "echo", "env_channel_weights": {"feedback": 0.5}, "env_lambda": 0.3},
]


def build_trainer(run_dir: Path) -> Trainer:
    """A trainer over the tiny model and the toy suite (no rollouts are run)."""
    cfg = load_config(None, [*BASE, f"run_dir={run_dir}"])
    return Trainer(cfg)


def objective_config(trainer: Trainer, combo: dict) -> ObjectiveConfig:
    """``combo`` over the run's objective (temperature, dr_grpo_norm from the run config)."""
    kw = dict(combo)
    if kw.get("aggregation") == "dr_grpo":
        kw["dr_grpo_norm"] = 64
    kw.setdefault("temperature", trainer.cfg.objective.temperature)
    return ObjectiveConfig(**kw)


def make_samples(trainer: Trainer) -> tuple[list[Transcript], list[float]]:
    """Oracle transcripts of the toy train split, plus variants: one cut before its first
    observation (no env tokens), one cut to its prompt (no action tokens); sampler
    log-probs off the model's own so that ratios differ from 1 and some clip."""
    oracle = list(trainer._oracle_transcripts("train").values())[:6]
    rng = random.Random(7)
    out: list[Transcript] = []
    for tr in oracle:
        out.append(copy.deepcopy(tr))
    no_env = copy.deepcopy(oracle[0])
    first_env = next(i for i, m in enumerate(no_env.env_mask()) if m)
    no_env.truncate(first_env)
    no_act = copy.deepcopy(oracle[1])
    first_act = next(i for i, m in enumerate(no_act.action_mask()) if m)
    no_act.truncate(first_act)
    out += [no_env, no_act]
    for tr in out:
        tr.logprobs = [(-rng.uniform(0.5, 6.0) if a else None) for a in tr.action_mask()]
    advantages = [rng.uniform(-1.5, 1.5) for _ in out]
    return out, advantages


def moved_state(trainer: Trainer) -> dict[str, torch.Tensor]:
    """The initial weights plus small seeded noise: the policy differs from the KL reference."""
    g = torch.Generator().manual_seed(11)
    model = trainer.accel.unwrap_model(trainer.model)
    return {
        k: v + 0.02 * torch.randn(v.shape, generator=g, dtype=v.dtype)
        for k, v in model.state_dict().items()
    }


def run_update(
    trainer: Trainer,
    samples: list[Transcript],
    advantages: list[float],
    ocfg: ObjectiveConfig,
    micro_batch_size: int,
    state: dict[str, torch.Tensor],
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """``Trainer._update`` from the weights ``state``; the step's metrics and every gradient."""
    model = trainer.accel.unwrap_model(trainer.model)
    model.load_state_dict(state)
    trainer.cfg.train.micro_batch_size = micro_batch_size
    metrics = trainer._update(samples, advantages, ocfg)
    grads = {
        n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
        for n, p in model.named_parameters()
    }
    return metrics, grads
