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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from envlearn.logprobs import (
    ChunkedLinearLogprob,
    TokenLogprobModule,
    token_logprobs,
    token_logprobs_fixed,
)

if TYPE_CHECKING:  # pragma: no cover  (a structure only: the objective needs no data-path code)
    from envlearn.batch import Batch

__all__ = [
    "ChunkedLinearLogprob",
    "EnvFilterConfig",
    "LambdaSchedule",
    "ObjectiveConfig",
    "StepNorms",
    "TokenLogprobModule",
    "compute_loss",
    "count_norms",
    "env_coefficients",
    "env_sample_weights",
    "finalize_metrics",
    "group_advantages",
    "objective",
    "token_logprobs",
    "token_logprobs_fixed",
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


# ------------------------------------------------------------------------------------ config


class LambdaSchedule(BaseModel):
    """λ over optimizer steps (0-based): ``warmup_steps`` of linear ramp from 0 to
    ``env_lambda``, then with ``k`` = steps since warm-up:

    - ``constant``: ``env_lambda``.
    - ``linear``: from ``env_lambda`` to ``end`` over ``decay_steps`` steps, then ``end``
      (``decay_steps`` defaults to the run's ``train.steps - warmup_steps``).
    - ``step``: ``env_lambda · gamma ** (k // step_size)``.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["constant", "linear", "step"] = "constant"
    warmup_steps: int = Field(default=0, ge=0)
    end: float = Field(default=0.0, ge=0.0)
    decay_steps: int | None = Field(default=None, ge=1)
    step_size: int = Field(default=1, ge=1)
    gamma: float = Field(default=0.5, ge=0.0)


class EnvFilterConfig(BaseModel):
    """Which rollouts feed L_env (they still feed the RL term).

    Failed rollouts (infrastructure faults) never enter any term.  ``drop_format_broken``
    drops a rollout with any action the harness could not read (a notice with a format
    problem); ``min_wellformed_fraction`` drops one whose share of readable actions is below
    it (the paper's env-only result used clean tool-call trajectories).  See
    ``envlearn.batch.wellformed_actions`` for how a broken action is recognised.
    """

    model_config = ConfigDict(extra="forbid")

    drop_format_broken: bool = False
    min_wellformed_fraction: float = Field(default=0.0, ge=0.0, le=1.0)

    @property
    def active(self) -> bool:
        """Whether the filter can drop anything."""
        return self.drop_format_broken or self.min_wellformed_fraction > 0


class ObjectiveConfig(BaseModel):
    """What the loss is.  Modes:

    - ``grpo``: the RL term only (λ_eff = 0; env CE is still reported as a metric).
    - ``echo``: RL + λ · L_env (λ = ``env_lambda`` under ``env_lambda_schedule``).
    - ``env_only``: L_env alone, unscaled (λ would only rescale the learning rate).
    - ``sft``: mean CE over action tokens (expert actions, temperature 1) + λ · L_env
      (set ``env_lambda=0`` for plain SFT).

    Setting ``env_lambda`` explicitly in modes ``grpo``/``env_only`` is an error (it would be
    ignored), as is ``kl_beta > 0`` without an RL term (``env_only``/``sft``) and
    ``dr_grpo_norm`` with an aggregation other than ``dr_grpo``.  ``aggregation``, ``eps_*`` and
    ``kl_*`` apply to the RL term only.  ``temperature`` divides the logits at action tokens
    (the sampling distribution) in modes grpo/echo; sft actions and env tokens use 1.
    ``gspo`` clips the sequence-level ratio with the same ``eps_low``/``eps_high``: the GSPO
    paper's values are about 100× smaller (3e-4 / 4e-4) than the token-level defaults.
    ``dr_grpo_norm``: the maximum completion (action) tokens per sequence, Dr.GRPO's constant
    normaliser; a run config fills it from ``rollout`` (see ``envlearn.config``).

    The KL term: ``kl_estimator='k3'`` (default) is Schulman's k3, ``exp(ref − lp) − (ref −
    lp) − 1`` per action token; ``'k3_ratio'`` multiplies it by the importance ratio
    (with gradient), the bias-corrected estimator TRL offers as ``use_bias_correction_kl``.

    The env term: ``env_normalization='token_mean'`` (prime-rl: Σ w·CE / #weighted tokens of the
    whole step) or ``'sequence_mean'`` (the ECHO authors: each sequence's weighted mean, then
    the mean over sequences with env tokens); ``env_channel_weights`` are the per-channel
    weights λ_c (unlisted channels: 1); ``env_token_fraction`` < 1 trains L_env on a random
    subset of observation tokens, weighted by 1/fraction (an unbiased estimate).
    """

    model_config = ConfigDict(extra="forbid")

    mode: Mode = "echo"
    env_lambda: float = Field(default=0.1, ge=0.0)
    env_lambda_schedule: LambdaSchedule = Field(default_factory=LambdaSchedule)
    env_normalization: Literal["token_mean", "sequence_mean"] = "token_mean"
    env_channel_weights: dict[str, float] = Field(default_factory=dict)
    env_filter: EnvFilterConfig = Field(default_factory=EnvFilterConfig)
    env_token_fraction: float = Field(default=1.0, gt=0.0, le=1.0)
    aggregation: Aggregation = "grpo"
    eps_low: float = Field(default=0.2, ge=0.0, lt=1.0)
    eps_high: float = Field(default=0.28, ge=0.0)
    kl_beta: float = Field(default=0.0, ge=0.0)
    kl_estimator: Literal["k3", "k3_ratio"] = "k3"
    dr_grpo_norm: int | None = Field(default=None, ge=1)
    chunk_size: int = Field(default=1024, ge=1)
    temperature: float = Field(default=1.0, gt=0.0)
    fused_env_grad: bool = True  # env rows' head gradients in forward (exact; see logprobs)

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
        bad = {k: v for k, v in self.env_channel_weights.items() if v < 0}
        if bad:
            raise ValueError(f"env_channel_weights must be >= 0, got {bad}")
        return self

    @property
    def lambda_eff(self) -> float:
        """The weight applied to L_env in the total loss at step 0 (before any schedule)."""
        return {"grpo": 0.0, "echo": self.env_lambda, "env_only": 1.0, "sft": self.env_lambda}[
            self.mode
        ]

    def lambda_at(self, step: int) -> float:
        """The weight applied to L_env at optimizer step ``step`` (0-based), schedule included.

        ``env_only`` is always 1 and ``grpo`` 0; the schedule applies to ``echo`` and ``sft``.
        """
        if self.mode in ("grpo", "env_only"):
            return self.lambda_eff
        sch, base = self.env_lambda_schedule, self.env_lambda
        if step < sch.warmup_steps:
            return base * (step + 1) / sch.warmup_steps
        k = step - sch.warmup_steps
        if sch.kind == "constant":
            return base
        if sch.kind == "step":
            return base * sch.gamma ** (k // sch.step_size)
        if sch.decay_steps is None:
            raise ValueError(
                "env_lambda_schedule.kind='linear' needs decay_steps (a run config sets it to "
                "train.steps - warmup_steps)"
            )
        return base + (sch.end - base) * min(1.0, k / sch.decay_steps)


# ------------------------------------------------------------------------ step normalisers

_N_FIXED = 6


@dataclass(frozen=True)
class StepNorms:
    """The counts each term is normalised by, over a whole optimizer step (every micro-batch of
    every process), so that the loss and its gradient do not depend on how the step is split.

    Build with ``StepNorms.from_counts(sum of count_norms(batch) over micro-batches, all-reduced
    over processes)``; ``channel_tokens`` follows the ``channel_names`` the batches share.
    """

    n_seqs: float  # all sequences (dr_grpo's B)
    n_action_seqs: float  # sequences with >= 1 action token (grpo/gspo)
    n_action_tokens: float  # dapo, sft's action CE, token metrics
    n_env_tokens: float  # env_mask tokens (the env CE metric)
    n_env_weighted: float  # env tokens with weight > 0 (token_mean L_env)
    n_env_seqs: float  # sequences with >= 1 weighted env token (sequence_mean L_env)
    channel_tokens: tuple[float, ...] = ()

    @classmethod
    def from_counts(cls, counts: torch.Tensor) -> StepNorms:
        """From a vector laid out as ``count_norms`` returns it (summed over the step)."""
        v = [float(x) for x in counts.detach().double().cpu().tolist()]
        return cls(*v[:_N_FIXED], channel_tokens=tuple(v[_N_FIXED:]))


def count_norms(batch: Batch) -> torch.Tensor:
    """This batch's contribution to ``StepNorms`` as one float64 vector (sum it over
    micro-batches, all-reduce it once over processes, then ``StepNorms.from_counts``)."""
    am, em = batch.action_mask, batch.env_mask
    ew = em & (batch.env_weight > 0)
    vals = [
        torch.tensor(float(am.shape[0]), device=am.device),
        am.any(1).sum(),
        am.sum(),
        em.sum(),
        ew.sum(),
        ew.any(1).sum(),
    ]
    cid = torch.where(em, batch.channel_ids, -1)
    vals += [(cid == i).sum() for i in range(len(batch.channel_names))]
    return torch.stack([v.to(torch.float64) for v in vals])


def env_coefficients(batch: Batch, cfg: ObjectiveConfig, norms: StepNorms) -> torch.Tensor:
    """``c`` with ``L_env = −Σ c · lp`` (``[B, T]``, 0 off the weighted env tokens): the weight
    of each observation token in L_env under ``cfg.env_normalization`` and the step's norms."""
    em = batch.env_mask
    w = torch.where(em, batch.env_weight, 0.0).to(torch.float64)
    if cfg.env_normalization == "token_mean":
        c = w / max(norms.n_env_weighted, 1.0)
    else:  # sequence_mean: each sequence's own weighted mean, then the mean over sequences
        n_i = (em & (batch.env_weight > 0)).sum(1, keepdim=True).clamp(min=1).to(torch.float64)
        c = w / n_i / max(norms.n_env_seqs, 1.0)
    return c


def env_sample_weights(
    batch: Batch, fraction: float, generator: torch.Generator | None = None
) -> torch.Tensor | None:
    """Importance weights for ``env_token_fraction``: each observation token is kept with
    probability ``fraction`` and weighted ``1 / fraction`` (0 when dropped), so every sum over
    env tokens keeps its expectation.  ``None`` for ``fraction == 1`` (every token, weight 1)."""
    if fraction >= 1.0:
        return None
    u = torch.rand(batch.env_mask.shape, generator=generator, device="cpu").to(
        batch.env_mask.device
    )
    keep = batch.env_mask & (u < fraction)
    return torch.where(keep, 1.0 / fraction, 0.0).to(torch.float32)


# ------------------------------------------------------------------------------------ the loss


def _msum(x: torch.Tensor, m: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Sum of ``x`` where ``m`` (NaN-safe: masked entries never enter)."""
    y = torch.where(m, x, 0.0)
    return y.sum() if dim is None else y.sum(dim)


def compute_loss(
    logprobs: torch.Tensor,
    batch: Batch,
    cfg: ObjectiveConfig,
    *,
    norms: StepNorms | None = None,
    step: int = 0,
    env_sample: torch.Tensor | None = None,
    env_term: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss (a scalar tensor) and detached float metrics from per-token log-probs ``[B, T]``.

    RL term (grpo/echo): ``-min(r·A, clip(r, 1-eps_low, 1+eps_high)·A)`` per action token
    (+ ``kl_beta`` · KL to ``ref_logprobs``, see ``kl_estimator``), aggregated per
    ``cfg.aggregation``: ``grpo``/``gspo`` mean per sequence then over sequences with action
    tokens, ``dapo`` mean over all action tokens, ``dr_grpo`` sum / (#sequences ·
    ``dr_grpo_norm``).  L_env per ``env_normalization`` (see ``env_coefficients``).

    ``norms``: the whole step's counts (``StepNorms``).  Without them the batch is the step and
    the metrics are final.  With them the loss is this micro-batch's share of the step's loss
    and every metric is additive: sum them over micro-batches and processes, then
    ``finalize_metrics``.  ``env_sample``: ``env_sample_weights`` (None = every env token).
    ``env_term``: λ·L_env already computed by the kernel (``token_logprobs_fixed``); the env
    log-probs in ``logprobs`` are then used for metrics only.

    Metrics: ``loss``, ``rl_loss`` (incl. the β·KL term; 0 in env_only/sft), ``env_loss``
    (weighted L_env, before λ), ``env_ce`` (unweighted mean −lp over env tokens, every mode),
    ``env_ce/<channel>``, ``action_ce`` (mean −lp over action tokens, as scored), ``clip_frac``
    (share of action tokens — of sequences for gspo — where the clip is active), ``kl`` (mean
    KL estimate over action tokens, 0 without ref log-probs), ``ratio_mean``,
    ``n_action_tokens``, ``n_env_tokens``.
    """
    batch.validate()
    if logprobs.shape != batch.input_ids.shape or not logprobs.is_floating_point():
        raise ValueError(
            f"logprobs must be a floating tensor of shape {list(batch.input_ids.shape)}; got "
            f"{_describe(logprobs)}"
        )
    if cfg.kl_beta > 0 and batch.ref_logprobs is None:
        raise ValueError("kl_beta > 0 needs Batch.ref_logprobs (reference-model log-probs)")
    if cfg.aggregation == "dr_grpo" and cfg.dr_grpo_norm is None and cfg.mode in ("grpo", "echo"):
        raise ValueError(
            "aggregation 'dr_grpo' needs dr_grpo_norm (the maximum completion tokens per "
            "sequence); set objective.dr_grpo_norm (a run config derives it from rollout)"
        )
    final = norms is None
    if norms is None:
        norms = StepNorms.from_counts(count_norms(batch))
    if len(norms.channel_tokens) not in (0, len(batch.channel_names)):
        raise ValueError(
            f"norms count {len(norms.channel_tokens)} channels but the batch has "
            f"{len(batch.channel_names)}; collate every micro-batch with the same channel_names"
        )
    lp = logprobs
    am, em = batch.action_mask, batch.env_mask
    n_act_i = am.sum(1)  # [B]
    has_act = n_act_i > 0
    n_act = max(norms.n_action_tokens, 1.0)
    n_act_seqs = max(norms.n_action_seqs, 1.0)

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
        if cfg.kl_estimator == "k3_ratio":
            kl_tok = kl_tok * ratio
    else:
        kl_tok = torch.zeros_like(lp)
    if cfg.kl_beta > 0:
        per_tok = per_tok + cfg.kl_beta * kl_tok

    if cfg.aggregation in ("grpo", "gspo"):
        per_seq = _msum(per_tok, am, 1) / n_act_i.clamp(min=1)
        rl = _msum(per_seq, has_act) / n_act_seqs
    elif cfg.aggregation == "dapo":
        rl = _msum(per_tok, am) / n_act
    else:  # dr_grpo
        rl = _msum(per_tok, am) / (max(norms.n_seqs, 1.0) * float(cfg.dr_grpo_norm or 1))

    # --- action CE (SFT term and metric) and L_env
    action_ce = _msum(-lp, am) / n_act
    s_env = em.to(lp.dtype) if env_sample is None else env_sample.to(lp.dtype)
    c_env = env_coefficients(batch, cfg, norms).to(lp.dtype) * s_env
    lam = cfg.lambda_at(step)
    if env_term is not None:
        env_loss_det = _msum(-lp.detach() * c_env, em)
        env_scaled = env_term
    else:
        env_loss_det = None
        env_scaled = lam * _msum(-lp * c_env, em) if lam != 0 else None
    env_loss = env_loss_det if env_loss_det is not None else _msum(-lp.detach() * c_env, em)
    env_ce = _msum(-lp.detach() * s_env, em) / max(norms.n_env_tokens, 1.0)

    if cfg.mode == "grpo":
        loss = rl
    elif cfg.mode == "echo":
        loss = rl + env_scaled if env_scaled is not None else rl
    elif cfg.mode == "env_only":
        loss = env_scaled if env_scaled is not None else _msum(-lp * c_env, em)
    else:  # sft
        loss = action_ce + env_scaled if env_scaled is not None else action_ce

    # --- metrics: one device sync
    with torch.no_grad():
        names = ["loss", "rl_loss", "env_loss", "env_ce", "action_ce", "kl", "ratio_mean"]
        vals = [
            loss,
            rl if cfg.mode in ("grpo", "echo") else torch.zeros_like(rl),
            env_loss,
            env_ce,
            action_ce,
            _msum(kl_tok, am) / n_act,
        ]
        if cfg.aggregation == "gspo":
            seq_ratio = _msum(ratio.detach(), am, 1) / n_act_i.clamp(min=1)  # = s_i
            vals.append(_msum(seq_ratio, has_act) / n_act_seqs)
            names.append("clip_frac")
            vals.append(clip_active.any(1).sum() / n_act_seqs)
        else:
            vals.append(_msum(ratio.detach(), am) / n_act)
            names.append("clip_frac")
            vals.append(clip_active.sum() / n_act)
        names += ["n_action_tokens", "n_env_tokens"]
        vals += [am.sum(), em.sum()]
        ch_names: list[str] = []
        if batch.channel_names:
            cid = torch.where(em, batch.channel_ids, -1)
            for i, ch in enumerate(batch.channel_names):
                n_ch = norms.channel_tokens[i] if norms.channel_tokens else 0.0
                if n_ch <= 0:  # channels with no env tokens in the step are left out
                    continue
                ch_names.append(f"env_ce/{ch}")
                vals.append(_msum(-lp.detach() * s_env, cid == i) / n_ch)
        flat = torch.stack([v.detach().to(torch.float64).reshape(()) for v in vals]).tolist()
    metrics: dict[str, float] = dict(zip(names + ch_names, flat, strict=True))
    if not math.isfinite(metrics["loss"]):
        raise FloatingPointError(f"non-finite loss: {metrics}")
    if final:
        metrics = finalize_metrics(metrics)
    return loss, metrics


def finalize_metrics(sums: dict[str, float]) -> dict[str, float]:
    """Summed per-micro-batch metrics → the step's: a mean over no tokens is undefined, not 0
    (NaN, so loggers leave a gap)."""
    out = dict(sums)
    if out.get("n_env_tokens", 0) == 0:
        out["env_ce"] = math.nan
    if out.get("n_action_tokens", 0) == 0:
        out["action_ce"] = math.nan
    return out


def objective(
    model: torch.nn.Module,
    batch: Batch,
    cfg: ObjectiveConfig,
    *,
    norms: StepNorms | None = None,
    step: int = 0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Log-probs at ``action_mask | env_mask`` from one forward, then ``compute_loss``.

    GRPO gets the env-CE metric from the same pass; rows that get no gradient (env rows in
    mode ``grpo``) cost a forward of the lm_head only.  With ``fused_env_grad`` the env term's
    head gradients are computed in the forward (``token_logprobs_fixed``).  With
    ``env_token_fraction < 1`` (and an env term) only the sampled env rows are scored
    (``generator`` drives the sampling); ``norms``/``step`` as in ``compute_loss``.
    """
    batch.validate()
    am, em = batch.action_mask, batch.env_mask
    lam = cfg.lambda_at(step)
    temperature: float | torch.Tensor = 1.0
    if cfg.temperature != 1.0 and cfg.mode in ("grpo", "echo"):
        temperature = torch.where(am, cfg.temperature, 1.0).to(torch.float32)
    sample = None
    env_rows = em
    if lam != 0 and cfg.env_token_fraction < 1.0:
        sample = env_sample_weights(batch, cfg.env_token_fraction, generator)
        assert sample is not None
        env_rows = sample > 0
    fixed = None
    if cfg.fused_env_grad and lam != 0:
        local = norms if norms is not None else StepNorms.from_counts(count_norms(batch))
        c = env_coefficients(batch, cfg, local).to(torch.float32)
        if sample is not None:
            c = c * sample
        fixed = torch.where(env_rows, -lam * c, 0.0)
    lp, fixed_sum = token_logprobs_fixed(
        model,
        batch.input_ids,
        batch.attention_mask,
        am | env_rows,
        chunk_size=cfg.chunk_size,
        temperature=temperature,
        fixed_coef=fixed,
    )
    return compute_loss(
        lp,
        batch,
        cfg,
        norms=norms,
        step=step,
        env_sample=sample,
        env_term=fixed_sum if fixed is not None else None,
    )
