"""The training objective: chunked token log-probs, GRPO variants, the env CE, ECHO.

Pure tensor functions, no I/O.  The pieces, top to bottom:

- ``Batch`` (``envlearn.batch``): the padded tensors the data path produces.
- ``group_advantages``: group-relative advantages (GRPO; ``normalize_std=False`` for Dr.GRPO).
- ``token_logprobs`` (``envlearn.logprobs``, the objective's own kernel): one backbone forward,
  then the lm_head applied only at the selected positions, chunk by chunk.
- ``ObjectiveConfig`` + ``compute_loss``: a pure function of the log-probs:
  ``L = L_RL(action tokens) + λ · L_env(observation tokens)``.
- ``objective``: ``token_logprobs`` over ``action_mask | env_mask`` then ``compute_loss``.

Shift convention: ``logprobs[b, t]`` scores token ``input_ids[b, t]`` given tokens ``< t`` (it
comes from the hidden state at ``t - 1``); position 0 is never a target.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from envlearn.logprobs import ChunkedLinearLogprob, TokenLogprobModule, token_logprobs

if TYPE_CHECKING:  # pragma: no cover  (a structure only: the objective needs no data-path code)
    from envlearn.batch import Batch

__all__ = [
    "ChunkedLinearLogprob",
    "ObjectiveConfig",
    "TokenLogprobModule",
    "compute_loss",
    "group_advantages",
    "objective",
    "token_logprobs",
]

Mode = Literal["grpo", "echo", "env_only", "sft"]
Aggregation = Literal["grpo", "dr_grpo", "dapo", "gspo"]


def _describe(v: object) -> str:
    if isinstance(v, torch.Tensor):
        return f"tensor of shape {list(v.shape)}, dtype {v.dtype}"
    return type(v).__name__


# ------------------------------------------------------------------------------------ advantages


def group_advantages(
    rewards: torch.Tensor,
    group_ids: torch.Tensor,
    *,
    normalize_std: bool = True,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Group-relative advantages ``(r - mean_g) / (std_g + eps)`` per sample.

    ``std_g`` is the population std (``unbiased=False``: a group's advantages then have unit
    spread, and a group of 2 with rewards {0, 1} gets ±1).  ``normalize_std=False`` gives
    ``r - mean_g`` (Dr.GRPO).  Groups of size 1 and groups with equal rewards get 0.
    Computed in float64, returned in ``rewards.dtype``.
    """
    if not isinstance(rewards, torch.Tensor) or rewards.dim() != 1:
        raise ValueError(f"rewards must be a 1-D tensor [N]; got {_describe(rewards)}")
    if not rewards.is_floating_point():
        raise ValueError(f"rewards must be floating; got {rewards.dtype} (use rewards.float())")
    if (
        not isinstance(group_ids, torch.Tensor)
        or group_ids.shape != rewards.shape
        or group_ids.dtype != torch.long
    ):
        raise ValueError(
            f"group_ids must be a torch.long tensor of shape {list(rewards.shape)} like "
            f"rewards; got {_describe(group_ids)}"
        )
    if not bool(torch.isfinite(rewards).all()):
        raise ValueError("rewards has non-finite values (failed rollouts must be dropped first)")
    if rewards.numel() == 0:
        return rewards.clone()
    _, inv = torch.unique(group_ids, return_inverse=True)
    g = int(inv.max()) + 1
    r = rewards.double()
    count = torch.zeros(g, dtype=torch.float64, device=r.device).index_add_(
        0, inv, torch.ones_like(r)
    )
    mean = torch.zeros_like(count).index_add_(0, inv, r) / count
    centered = r - mean[inv]
    if normalize_std:
        var = torch.zeros_like(count).index_add_(0, inv, centered * centered) / count
        centered = centered / (var.sqrt()[inv] + eps)
    centered = torch.where(count[inv] > 1, centered, 0.0)
    return centered.to(rewards.dtype)


# ------------------------------------------------------------------------------------ the loss


class ObjectiveConfig(BaseModel):
    """What the loss is.  Modes:

    - ``grpo``: the RL term only (λ_eff = 0; env CE is still reported as a metric).
    - ``echo``: RL + ``env_lambda`` · L_env.
    - ``env_only``: L_env alone, unscaled (λ would only rescale the learning rate).
    - ``sft``: mean CE over action tokens (expert actions) + ``env_lambda`` · L_env
      (set ``env_lambda=0`` for plain SFT).

    Setting ``env_lambda`` explicitly in modes ``grpo``/``env_only`` is an error (it would be
    ignored), as is ``kl_beta > 0`` without an RL term (``env_only``/``sft``) and
    ``dr_grpo_norm`` with an aggregation other than ``dr_grpo``.  ``aggregation``, ``eps_*`` and
    ``kl_beta`` apply to the RL term only.  ``temperature`` divides the logits at action tokens
    (the sampling distribution) in every mode; env tokens always use temperature 1.
    ``gspo`` clips the sequence-level ratio with the same ``eps_low``/``eps_high``: the GSPO
    paper's values are about 100× smaller (3e-4 / 4e-4) than the token-level defaults.
    ``dr_grpo_norm=None`` means the batch's padded length T (set a constant, e.g. the maximum
    generation length, for a normaliser that does not move with padding).
    """

    model_config = ConfigDict(extra="forbid")

    mode: Mode = "echo"
    env_lambda: float = Field(default=0.1, ge=0.0)
    aggregation: Aggregation = "grpo"
    eps_low: float = Field(default=0.2, ge=0.0, lt=1.0)
    eps_high: float = Field(default=0.28, ge=0.0)
    kl_beta: float = Field(default=0.0, ge=0.0)
    dr_grpo_norm: int | None = Field(default=None, ge=1)
    chunk_size: int = Field(default=1024, ge=1)
    temperature: float = Field(default=1.0, gt=0.0)

    @model_validator(mode="after")
    def _check_combination(self) -> ObjectiveConfig:
        set_ = self.model_fields_set
        if self.mode in ("grpo", "env_only") and "env_lambda" in set_:
            what = (
                "GRPO uses no env term" if self.mode == "grpo" else "env_only trains L_env unscaled"
            )
            raise ValueError(
                f"env_lambda has no effect in mode {self.mode!r} ({what}); remove env_lambda "
                "or use mode 'echo'"
            )
        if self.mode in ("env_only", "sft") and self.kl_beta > 0:
            raise ValueError(
                f"kl_beta > 0 needs an RL term, but mode {self.mode!r} has none; set kl_beta=0 "
                "or use mode 'grpo'/'echo'"
            )
        if self.dr_grpo_norm is not None and self.aggregation != "dr_grpo":
            raise ValueError(
                f"dr_grpo_norm only applies to aggregation 'dr_grpo' (got {self.aggregation!r}); "
                "remove it or set aggregation='dr_grpo'"
            )
        return self

    @property
    def lambda_eff(self) -> float:
        """The weight actually applied to L_env in the total loss."""
        return {"grpo": 0.0, "echo": self.env_lambda, "env_only": 1.0, "sft": self.env_lambda}[
            self.mode
        ]


def _msum(x: torch.Tensor, m: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Sum of ``x`` where ``m`` (NaN-safe: masked entries never enter)."""
    y = torch.where(m, x, 0.0)
    return y.sum() if dim is None else y.sum(dim)


def compute_loss(
    logprobs: torch.Tensor, batch: Batch, cfg: ObjectiveConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss (a scalar tensor) and detached float metrics from per-token log-probs ``[B, T]``.

    RL term (grpo/echo): ``-min(r·A, clip(r, 1-eps_low, 1+eps_high)·A)`` per action token
    (+ ``kl_beta`` · k3 KL to ``ref_logprobs``), aggregated per ``cfg.aggregation``.
    L_env = Σ env_weight·(−lp) / #{env_mask ∧ env_weight > 0}.  Metrics: ``loss``, ``rl_loss``
    (incl. the β·KL term; 0 in env_only/sft), ``env_loss`` (weighted L_env, before λ),
    ``env_ce`` (unweighted mean −lp over env tokens, every mode), ``env_ce/<channel>`` (channels
    present in the batch), ``action_ce`` (mean −lp over action tokens, tempered), ``clip_frac``
    (share of action tokens — of sequences for gspo — where the clip is active: ratio above
    1+eps_high with A > 0 or below 1-eps_low with A < 0), ``kl`` (mean k3 over action tokens, 0
    without ref log-probs), ``ratio_mean``, ``n_action_tokens``, ``n_env_tokens``.
    """
    batch.validate()
    if logprobs.shape != batch.input_ids.shape or not logprobs.is_floating_point():
        raise ValueError(
            f"logprobs must be a floating tensor of shape {list(batch.input_ids.shape)}; got "
            f"{_describe(logprobs)}"
        )
    if cfg.kl_beta > 0 and batch.ref_logprobs is None:
        raise ValueError("kl_beta > 0 needs Batch.ref_logprobs (reference-model log-probs)")
    lp = logprobs
    am, em = batch.action_mask, batch.env_mask
    bsz, seqlen = am.shape
    n_act_i = am.sum(1)  # [B]
    n_act = n_act_i.sum()
    has_act = n_act_i > 0

    # --- RL term (token-level surrogate, or GSPO's sequence-level ratio in token form)
    adv = batch.advantages.to(lp.dtype)[:, None]
    old = lp.detach() if batch.old_logprobs is None else batch.old_logprobs.to(lp.dtype)
    log_ratio = torch.where(am, lp - old, 0.0)
    if cfg.aggregation == "gspo":
        seq_log_ratio = log_ratio.sum(1) / n_act_i.clamp(min=1)  # [B]
        log_ratio = torch.where(am, seq_log_ratio.detach()[:, None] + lp - lp.detach(), 0.0)
    ratio = torch.exp(log_ratio)
    clipped = ratio.clamp(1.0 - cfg.eps_low, 1.0 + cfg.eps_high)
    per_tok = -torch.minimum(ratio * adv, clipped * adv)
    clip_active = am & (
        ((ratio > 1.0 + cfg.eps_high) & (adv > 0)) | ((ratio < 1.0 - cfg.eps_low) & (adv < 0))
    )
    if batch.ref_logprobs is not None:
        d = torch.where(am, batch.ref_logprobs.to(lp.dtype) - lp, 0.0)
        kl_tok = torch.exp(d) - d - 1.0
    else:
        kl_tok = torch.zeros_like(lp)
    if cfg.kl_beta > 0:
        per_tok = per_tok + cfg.kl_beta * kl_tok

    if cfg.aggregation in ("grpo", "gspo"):
        per_seq = _msum(per_tok, am, 1) / n_act_i.clamp(min=1)
        rl = _msum(per_seq, has_act) / has_act.sum().clamp(min=1)
    elif cfg.aggregation == "dapo":
        rl = _msum(per_tok, am) / n_act.clamp(min=1)
    else:  # dr_grpo
        norm = cfg.dr_grpo_norm if cfg.dr_grpo_norm is not None else seqlen
        rl = _msum(per_tok, am) / (bsz * norm)

    # --- action CE (SFT term and metric) and L_env
    action_ce = _msum(-lp, am) / n_act.clamp(min=1)
    w = batch.env_weight.to(lp.dtype)
    env_count_w = (em & (batch.env_weight > 0)).sum()
    env_loss = _msum(-lp * w, em) / env_count_w.clamp(min=1)
    n_env = em.sum()
    env_ce = _msum(-lp, em) / n_env.clamp(min=1)

    lam = cfg.lambda_eff
    if cfg.mode == "grpo":
        loss = rl
    elif cfg.mode == "echo":
        loss = rl + lam * env_loss if lam != 0 else rl
    elif cfg.mode == "env_only":
        loss = env_loss
    else:  # sft
        loss = action_ce + lam * env_loss if lam != 0 else action_ce

    # --- metrics: one device sync
    with torch.no_grad():
        names = ["loss", "rl_loss", "env_loss", "env_ce", "action_ce", "kl", "ratio_mean"]
        vals = [
            loss,
            rl if cfg.mode in ("grpo", "echo") else torch.zeros_like(rl),
            env_loss,
            env_ce,
            action_ce,
            _msum(kl_tok, am) / n_act.clamp(min=1),
        ]
        if cfg.aggregation == "gspo":
            seq_ratio = _msum(ratio.detach(), am, 1) / n_act_i.clamp(min=1)  # = s_i
            vals.append(_msum(seq_ratio, has_act) / has_act.sum().clamp(min=1))
            seq_clipped = clip_active.any(1)
            names.append("clip_frac")
            vals.append(seq_clipped.sum() / has_act.sum().clamp(min=1))
        else:
            vals.append(_msum(ratio.detach(), am) / n_act.clamp(min=1))
            names.append("clip_frac")
            vals.append(clip_active.sum() / n_act.clamp(min=1))
        names += ["n_action_tokens", "n_env_tokens"]
        vals += [n_act, n_env]
        ch_names: list[str] = []
        if batch.channel_names:
            cid = torch.where(em, batch.channel_ids, -1)
            for i, ch in enumerate(batch.channel_names):
                m = cid == i
                ch_names.append(ch)
                vals.append(_msum(-lp.detach(), m) / m.sum().clamp(min=1))
                vals.append(m.sum())
        flat = torch.stack([v.detach().to(torch.float64).reshape(()) for v in vals]).tolist()
    metrics: dict[str, float] = dict(zip(names, flat[: len(names)], strict=True))
    rest = flat[len(names) :]
    for i, ch in enumerate(ch_names):
        if rest[2 * i + 1] > 0:  # channels with no env tokens in this batch are left out
            metrics[f"env_ce/{ch}"] = rest[2 * i]
    if not math.isfinite(metrics["loss"]):
        raise FloatingPointError(f"non-finite loss: {metrics}")
    # a mean over no tokens is undefined, not 0: NaN, so loggers leave a gap
    if metrics["n_env_tokens"] == 0:
        metrics["env_ce"] = math.nan
    if metrics["n_action_tokens"] == 0:
        metrics["action_ce"] = math.nan
    return loss, metrics


def objective(
    model: torch.nn.Module, batch: Batch, cfg: ObjectiveConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """Log-probs at ``action_mask | env_mask`` from one forward, then ``compute_loss``.

    GRPO gets the env-CE metric from the same pass; rows that get no gradient (env rows in
    mode ``grpo``) cost a forward of the lm_head only.
    """
    batch.validate()
    am = batch.action_mask
    temperature: float | torch.Tensor = 1.0
    if cfg.temperature != 1.0:
        temperature = torch.where(am, cfg.temperature, 1.0).to(torch.float32)
    lp = token_logprobs(
        model,
        batch.input_ids,
        batch.attention_mask,
        am | batch.env_mask,
        chunk_size=cfg.chunk_size,
        temperature=temperature,
    )
    return compute_loss(lp, batch, cfg)
