"""The padded training batch: what the data path hands the objective.

``collate`` right-pads :class:`~envlearn.transcript.Transcript` s into a :class:`Batch` of
aligned ``[B, T]`` tensors (token ids, attention, the action and observation masks, per-token
env weights and channel ids, advantages).  The transcript code needs no loss code, and the
objective needs nothing of the data path but this structure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # pragma: no cover
    from envlearn.transcript import Transcript

__all__ = ["FORMAT_PROBLEM_MARKER", "Batch", "collate", "wellformed_actions"]

_BT_FIELDS = (
    "attention_mask",
    "action_mask",
    "env_mask",
    "env_weight",
    "channel_ids",
    "old_logprobs",
    "ref_logprobs",
)


# ----------------------------------------------------------------------------------------- batch


@dataclass(kw_only=True)
class Batch:
    """One padded training batch (right padding); every ``[B, T]`` tensor is aligned with
    ``input_ids`` and a mask at ``t`` refers to *target* token ``t`` (predicted from ``t - 1``).

    - ``action_mask``: token sampled by the policy (including the sampled stop token).
    - ``env_mask``: observation *content* of a turn after the first action (trained by L_env).
    - ``env_weight``: per-token channel weight λ_c on ``env_mask`` tokens, 0 elsewhere.
    - ``channel_ids``: index into ``channel_names`` for observation tokens, -1 elsewhere.
    - ``advantages``: one per sequence (``group_advantages``).
    - ``old_logprobs``: behaviour-policy log-probs at action tokens; ``None`` means on-policy
      (ratio 1, gradient still flows).  ``ref_logprobs``: reference log-probs, for the KL term.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    action_mask: torch.Tensor
    env_mask: torch.Tensor
    env_weight: torch.Tensor
    channel_ids: torch.Tensor
    advantages: torch.Tensor
    old_logprobs: torch.Tensor | None = None
    ref_logprobs: torch.Tensor | None = None
    channel_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._check_structure()

    @property
    def shape(self) -> tuple[int, int]:
        """``(B, T)``."""
        b, t = self.input_ids.shape
        return b, t

    def to(self, device: torch.device | str) -> Batch:
        """A copy with every tensor moved to ``device`` (non-blocking where possible)."""
        moved: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            moved[f.name] = v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        moved["channel_names"] = list(self.channel_names)
        return Batch(**moved)

    def _check_structure(self) -> None:
        """Shapes, dtypes, devices: cheap checks, no device sync."""
        ids = self.input_ids
        if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.dtype != torch.long:
            raise ValueError(
                f"Batch.input_ids must be a 2-D torch.long tensor [B, T]; got {_describe(ids)}"
            )
        shape = tuple(ids.shape)
        for name in _BT_FIELDS:
            v = getattr(self, name)
            if v is None and name in ("old_logprobs", "ref_logprobs"):
                continue
            if not isinstance(v, torch.Tensor) or tuple(v.shape) != shape:
                raise ValueError(
                    f"Batch.{name} must be a tensor of shape {list(shape)} like input_ids; got "
                    f"{_describe(v)}"
                )
            if v.device != ids.device:
                raise ValueError(
                    f"Batch.{name} is on {v.device} but input_ids on {ids.device}; "
                    "build the batch on one device, then call Batch.to(device)"
                )
        if self.attention_mask.dtype not in (torch.bool, torch.long, torch.int, torch.int8):
            raise ValueError(
                "Batch.attention_mask must be bool or integer (1 real, 0 pad); got "
                f"{self.attention_mask.dtype}"
            )
        for name in ("action_mask", "env_mask"):
            if getattr(self, name).dtype != torch.bool:
                raise ValueError(
                    f"Batch.{name} must be a torch.bool tensor; got {getattr(self, name).dtype} "
                    f"(use `mask.bool()`)"
                )
        for name in ("env_weight", "old_logprobs", "ref_logprobs"):
            v = getattr(self, name)
            if v is not None and not v.is_floating_point():
                raise ValueError(f"Batch.{name} must be a floating tensor; got {v.dtype}")
        if self.channel_ids.dtype != torch.long:
            raise ValueError(f"Batch.channel_ids must be torch.long; got {self.channel_ids.dtype}")
        adv = self.advantages
        if (
            not isinstance(adv, torch.Tensor)
            or adv.dim() != 1
            or adv.shape[0] != shape[0]
            or not adv.is_floating_point()
        ):
            raise ValueError(
                f"Batch.advantages must be a 1-D floating tensor with one value per sequence "
                f"(B={shape[0]}); got {_describe(adv)}"
            )
        if adv.device != ids.device:
            raise ValueError(f"Batch.advantages is on {adv.device} but input_ids on {ids.device}")
        if not isinstance(self.channel_names, list) or not all(
            isinstance(c, str) for c in self.channel_names
        ):
            raise ValueError("Batch.channel_names must be a list of str")

    def validate(self) -> None:
        """Full check (structure and values); raises ``ValueError`` naming what to fix."""
        self._check_structure()
        real = self.attention_mask.bool()
        am, em = self.action_mask, self.env_mask
        problems: list[str] = []
        if bool((am[:, :1] | em[:, :1]).any()):
            problems.append("action_mask/env_mask set at position 0 (never a target: no context)")
        if bool((am & em).any()):
            problems.append("action_mask and env_mask overlap (a token is either sampled or not)")
        if bool(((am | em) & ~real).any()):
            problems.append("action_mask/env_mask set on padding (attention_mask == 0)")
        w = self.env_weight
        if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
            problems.append("env_weight has negative or non-finite values")
        if bool(((w != 0) & ~em).any()):
            problems.append("env_weight is nonzero outside env_mask (it must be 0 there)")
        n_ch = len(self.channel_names)
        c = self.channel_ids
        if bool(((c < -1) | (c >= n_ch)).any()):
            problems.append(
                f"channel_ids outside [-1, {n_ch - 1}] (index into channel_names, -1 = none)"
            )
        if not bool(torch.isfinite(self.advantages).all()):
            problems.append("advantages has non-finite values")
        for name in ("old_logprobs", "ref_logprobs"):
            v = getattr(self, name)
            if v is not None and not bool(torch.isfinite(torch.where(am, v, 0)).all()):
                problems.append(f"{name} is non-finite at action tokens")
        if problems:
            raise ValueError("invalid Batch: " + "; ".join(problems))


#: The words every action-format problem of ``envlearn.actions`` ends with ("…, so nothing
#: ran."); a notice holding them marks a turn whose action could not be read.
FORMAT_PROBLEM_MARKER = "nothing ran"


def wellformed_actions(
    transcript: Transcript, decode: Callable[[list[int]], str]
) -> tuple[int, int]:
    """``(well-formed, total)`` actions of a transcript, for the L_env rollout filters.

    An action (turn ``k``) is broken when a notice of its observation (tokens of source
    ``NOTICE`` and turn ``k``) contains :data:`FORMAT_PROBLEM_MARKER`, the wording of every
    format problem in ``envlearn.actions`` (adapters show ``action.problem`` as a notice).
    ``decode`` turns token ids into text (the tokenizer's ``decode``).
    """
    from envlearn.transcript import Source

    notices: dict[int, list[int]] = {}
    for tid, src, turn in zip(
        transcript.token_ids, transcript.sources, transcript.turns, strict=True
    ):
        if src == Source.NOTICE and turn >= 1:
            notices.setdefault(turn, []).append(tid)
    broken = sum(1 for ids in notices.values() if FORMAT_PROBLEM_MARKER in decode(ids))
    total = transcript.n_actions
    return max(0, total - broken), total


def _describe(v: object) -> str:
    if isinstance(v, torch.Tensor):
        return f"tensor of shape {list(v.shape)}, dtype {v.dtype}"
    return type(v).__name__


def collate(
    transcripts: Sequence[Transcript],
    advantages: Sequence[float] | torch.Tensor,
    *,
    pad_id: int,
    channel_weights: Mapping[str, float] | Sequence[Mapping[str, float]] | None = None,
    channel_names: Iterable[str] | None = None,
    use_sampler_logprobs: bool = False,
    max_len: int | None = None,
    env_keep: Sequence[bool] | None = None,
    env_scale: Sequence[float] | None = None,
) -> Batch:
    """Right-pad transcripts into an :class:`Batch`.

    ``use_sampler_logprobs`` puts the policy's sampling log-probs in ``old_logprobs`` (needed
    when the sampler's weights lag the trainer's, e.g. vLLM); otherwise the objective uses the
    detached current log-probs (on-policy).  ``max_len`` truncates from the right.
    ``env_keep[b] = False`` keeps transcript ``b`` out of L_env (its env weights are 0; its
    observation tokens stay in ``env_mask`` for the env-CE metric): the rollout filters.
    ``channel_weights`` may be one mapping for every transcript or one per transcript, and
    ``env_scale[b]`` multiplies transcript ``b``'s env weights: a mixture's per-domain λ and
    per-channel weights, relative to the objective's λ.
    """
    if env_scale is not None and len(env_scale) != len(transcripts):
        raise ValueError(f"{len(env_scale)} env_scale values for {len(transcripts)} transcripts")
    per_transcript_weights = channel_weights is not None and not isinstance(
        channel_weights, Mapping
    )
    if per_transcript_weights and len(channel_weights) != len(transcripts):  # type: ignore[arg-type]
        raise ValueError(
            f"{len(channel_weights)} channel_weights mappings for {len(transcripts)} transcripts"  # type: ignore[arg-type]
        )
    if env_keep is not None and len(env_keep) != len(transcripts):
        raise ValueError(f"{len(env_keep)} env_keep flags for {len(transcripts)} transcripts")
    if len(transcripts) == 0:
        raise ValueError("collate() needs at least one transcript")
    adv = torch.as_tensor(advantages, dtype=torch.float32).reshape(-1)
    if adv.numel() != len(transcripts):
        raise ValueError(f"{adv.numel()} advantages for {len(transcripts)} transcripts")
    names = sorted(
        set(channel_names or ())
        | {
            c
            for tr in transcripts
            for c, m in zip(tr.channels, tr.env_mask(), strict=True)
            if m and c
        }
    )
    index = {c: i for i, c in enumerate(names)}
    T = max(len(tr) for tr in transcripts)
    if max_len is not None:
        T = min(T, max_len)
    B = len(transcripts)
    input_ids = torch.full((B, T), pad_id, dtype=torch.long)
    attention = torch.zeros((B, T), dtype=torch.long)
    action = torch.zeros((B, T), dtype=torch.bool)
    env = torch.zeros((B, T), dtype=torch.bool)
    weight = torch.zeros((B, T), dtype=torch.float32)
    chan = torch.full((B, T), -1, dtype=torch.long)
    old = torch.zeros((B, T), dtype=torch.float32) if use_sampler_logprobs else None
    for b, tr in enumerate(transcripts):
        n = min(len(tr), T)
        input_ids[b, :n] = torch.tensor(tr.token_ids[:n], dtype=torch.long)
        attention[b, :n] = 1
        action[b, :n] = torch.tensor(tr.action_mask()[:n], dtype=torch.bool)
        em = tr.env_mask()[:n]
        env[b, :n] = torch.tensor(em, dtype=torch.bool)
        if env_keep is None or env_keep[b]:
            cw = channel_weights[b] if per_transcript_weights else channel_weights  # type: ignore[index]
            scale = 1.0 if env_scale is None else float(env_scale[b])
            weight[b, :n] = (
                torch.tensor(tr.env_weight(cw)[:n], dtype=torch.float32) * scale  # type: ignore[arg-type]
            )
        chan[b, :n] = torch.tensor(
            [index[c] if m and c else -1 for m, c in zip(em, tr.channels[:n], strict=True)],
            dtype=torch.long,
        )
        if old is not None:
            lps = tr.logprobs[:n]
            missing = [
                i
                for i, (a, lp) in enumerate(zip(tr.action_mask()[:n], lps, strict=True))
                if a and lp is None
            ]
            if missing:
                raise ValueError(
                    f"transcript {b} has action tokens without sampling log-probs (first at "
                    f"{missing[0]}); use a policy that returns log-probs or use_sampler_logprobs=False"
                )
            old[b, :n] = torch.tensor([lp if lp is not None else 0.0 for lp in lps])
    return Batch(
        input_ids=input_ids,
        attention_mask=attention,
        action_mask=action,
        env_mask=env,
        env_weight=weight,
        channel_ids=chan,
        channel_names=names,
        advantages=adv,
        old_logprobs=old,
        ref_logprobs=None,
    )
