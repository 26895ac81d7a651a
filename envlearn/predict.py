"""Predict-before-act: the policy says what an action will make the environment answer.

ECHO trains the model on observation tokens, so the same model can be *asked* for them: the
transcript up to the action, plus the scaffold the chat template puts before an observation
(:meth:`ChatRenderer.observation_prompt`), is exactly the context L_env trains the observation
in.  Sampling from there is a prediction of the environment's answer.  Three uses:

* :func:`predict_observations`: the predicted text of each transcript's next observation;
* :func:`surprise_per_turn`: once the real observation is in, the mean cross-entropy (nats per
  token) of its content tokens, per turn: how surprised the model was by what the environment
  really said.  It falls as the model learns the environment's dynamics;
* :class:`Guard`: refuse an action whose predicted outcome matches a user rule (a predicted
  deletion outside the work dir, a predicted non-2xx status on a write) before it runs; the
  policy gets a notice instead of the observation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from envlearn.batch import collate
from envlearn.config import GuardConfig, GuardRule
from envlearn.logprobs import token_logprobs
from envlearn.policies import Policy, SamplingParams
from envlearn.render import ChatRenderer
from envlearn.transcript import Transcript

__all__ = ["Guard", "GuardDecision", "predict_observations", "surprise_per_turn"]


def predict_observations(
    policy: Policy,
    renderer: ChatRenderer,
    transcripts: Sequence[Transcript],
    *,
    max_tokens: int,
    temperature: float = 0.0,
    seed: int | None = None,
) -> list[str]:
    """The policy's prediction of the next observation of each transcript (each must end with
    an action).  Generation stops at the template's end of turn, which closes an observation as
    it closes an action."""
    if not transcripts:
        return []
    prompts = [list(tr.token_ids) + renderer.observation_prompt(tr) for tr in transcripts]
    params = SamplingParams(
        max_new_tokens=max_tokens,
        temperature=temperature,
        stop_token_ids=renderer.stop_token_ids,
        seed=seed,
    )
    out = []
    for g in policy.generate(prompts, params):
        ids = g.token_ids[:-1] if g.finish_reason == "stop" else g.token_ids
        out.append(renderer.decode(ids))
    return out


@torch.no_grad()
def surprise_per_turn(
    model: torch.nn.Module,
    transcripts: Sequence[Transcript],
    *,
    pad_id: int,
    device: torch.device | str = "cpu",
    micro_batch_size: int = 8,
) -> list[dict[int, float]]:
    """For each transcript, ``{turn: mean CE of that turn's observation content tokens}`` over
    the turns after the first action (the tokens L_env trains; notices excluded)."""
    was_training = model.training
    model.eval()
    out: list[dict[int, float]] = []
    try:
        for i in range(0, len(transcripts), micro_batch_size):
            chunk = list(transcripts[i : i + micro_batch_size])
            batch = collate(chunk, [0.0] * len(chunk), pad_id=pad_id).to(device)
            lp = token_logprobs(model, batch.input_ids, batch.attention_mask, batch.env_mask)
            for b, tr in enumerate(chunk):
                sums: dict[int, float] = {}
                counts: dict[int, int] = {}
                mask = batch.env_mask[b].tolist()
                row = lp[b].tolist()
                for t, (m, turn) in enumerate(zip(mask, tr.turns, strict=False)):
                    if m:
                        sums[turn] = sums.get(turn, 0.0) - row[t]
                        counts[turn] = counts.get(turn, 0) + 1
                out.append({k: sums[k] / counts[k] for k in sorted(sums)})
    finally:
        model.train(was_training)
    return out


@dataclass(frozen=True)
class GuardDecision:
    """A refused action: the rule that matched and the prediction it matched."""

    rule: GuardRule
    prediction: str

    def notice(self) -> str:
        """What the policy is told instead of the observation (short; the prediction cut)."""
        shown = self.prediction.strip().replace("\n", " ")
        if len(shown) > 120:
            shown = shown[:117] + "..."
        why = f" {self.rule.message}" if self.rule.message else ""
        return (
            f"[guard: action not run: its predicted outcome matches rule {self.rule.name!r}.{why}"
            f" Predicted: {shown!r}. Try another action.]\n"
        )


class Guard:
    """Rules over (adapter, action text, predicted observation); see :class:`GuardConfig`."""

    def __init__(self, cfg: GuardConfig) -> None:
        self.cfg = cfg
        self._rules = [
            (
                r,
                re.compile(r.prediction, re.M),
                re.compile(r.action, re.M) if r.action is not None else None,
            )
            for r in cfg.rules
        ]

    @property
    def active(self) -> bool:
        return bool(self._rules)

    def applies(self, adapter: str, action: str) -> bool:
        """Whether any rule could refuse this action (only those need a prediction)."""
        return any(
            (not r.adapters or adapter in r.adapters) and (a is None or a.search(action))
            for r, _, a in self._rules
        )

    def check(self, adapter: str, action: str, prediction: str) -> GuardDecision | None:
        """The first rule the (action, prediction) pair matches, or None (the action runs)."""
        for rule, pred_re, act_re in self._rules:
            if rule.adapters and adapter not in rule.adapters:
                continue
            if act_re is not None and not act_re.search(action):
                continue
            if pred_re.search(prediction):
                return GuardDecision(rule, prediction)
        return None


def mean_surprise(per_turn: Sequence[dict[int, float]]) -> float | None:
    """Mean over every (transcript, turn) of the per-turn surprise; None when there is none."""
    vals: list[Any] = [v for d in per_turn for v in d.values()]
    return sum(vals) / len(vals) if vals else None
