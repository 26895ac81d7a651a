"""Evaluation: pass@k of a policy on a split, and the held-out env-CE diagnostic.

Both are pure functions of their inputs (policy/model, tasks or transcripts, settings), so the
trainer, ``envlearn eval`` and the transfer tools share them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from envlearn.batch import collate
from envlearn.channels import Adapter, Task
from envlearn.config import RolloutConfig
from envlearn.logprobs import token_logprobs
from envlearn.render import ChatRenderer
from envlearn.rollout import Rollout, run_rollouts
from envlearn.transcript import Transcript

__all__ = ["env_ce_by_channel", "pass_at_k", "successes", "summarize_eval"]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c successes (Chen et al. 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def successes(rollouts: Sequence[Rollout]) -> dict[str, tuple[int, int]]:
    """(samples, successes) per task over the ``ok`` rollouts (success = reward 1)."""
    by_task: dict[str, tuple[int, int]] = {}
    for r in rollouts:
        if r.status != "ok":
            continue
        n, c = by_task.get(r.task_id, (0, 0))
        by_task[r.task_id] = (n + 1, c + int((r.reward or 0.0) >= 1.0))
    return by_task


def eval_rollouts(
    tasks: Sequence[Task],
    policy: Any,
    renderer: ChatRenderer,
    make_adapter: Callable[[Task], Adapter],
    cfg: RolloutConfig,
    *,
    seed: int,
    samples_per_task: int,
    temperature: float,
) -> list[Rollout]:
    """``samples_per_task`` rollouts of each task at the eval temperature."""
    return run_rollouts(
        tasks,
        policy,
        renderer,
        make_adapter,
        cfg,
        seed=seed,
        group_size=samples_per_task,
        temperature=temperature,
    )


def summarize_eval(rollouts: Sequence[Rollout], k: int) -> dict[str, Any]:
    """pass@1, pass@k, mean reward, failures and task count of eval rollouts."""
    per = successes(rollouts)
    ok = [r for r in rollouts if r.status == "ok"]
    p1 = [pass_at_k(n, c, 1) for n, c in per.values()]
    pk = [pass_at_k(n, c, k) for n, c in per.values()]
    return {
        "pass@1": sum(p1) / max(1, len(p1)),
        f"pass@{k}": sum(pk) / max(1, len(pk)),
        "reward_mean": sum(r.reward or 0.0 for r in ok) / max(1, len(ok)),
        "failed": len(rollouts) - len(ok),
        "tasks": len(per),
    }


@torch.no_grad()
def env_ce_by_channel(
    model: torch.nn.Module,
    transcripts: Sequence[Transcript],
    *,
    pad_id: int,
    domain: str,
    device: torch.device | str,
    micro_batch_size: int,
) -> dict[str, float]:
    """Mean cross-entropy (nats/token) of the observation tokens of ``transcripts``, per channel
    (``env_ce/<domain>/<channel>``) and over all channels (``env_ce/<domain>``), and the mean
    per-step surprise (``surprise/<domain>``: each turn's observation's mean CE, averaged over
    turns, so long observations don't outweigh short ones; see :mod:`envlearn.predict`)."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    try:
        for i in range(0, len(transcripts), micro_batch_size):
            chunk = list(transcripts[i : i + micro_batch_size])
            batch = collate(chunk, [0.0] * len(chunk), pad_id=pad_id).to(device)
            lp = token_logprobs(model, batch.input_ids, batch.attention_mask, batch.env_mask)
            for b in range(len(chunk)):
                # per-turn surprise: mean CE of each turn's observation, then the mean over turns
                turn_sum: dict[int, float] = {}
                turn_n: dict[int, int] = {}
                em = batch.env_mask[b].tolist()
                row = lp[b].tolist()
                for t, (m, turn) in enumerate(zip(em, chunk[b].turns, strict=False)):
                    if m:
                        turn_sum[turn] = turn_sum.get(turn, 0.0) - row[t]
                        turn_n[turn] = turn_n.get(turn, 0) + 1
                for turn in turn_sum:
                    key = f"surprise/{domain}"
                    sums[key] = sums.get(key, 0.0) + turn_sum[turn] / turn_n[turn]
                    counts[key] = counts.get(key, 0) + 1
                for c, name in enumerate(batch.channel_names):
                    m = batch.env_mask[b] & (batch.channel_ids[b] == c)
                    k = int(m.sum())
                    if k:
                        ce = float(-lp[b][m].sum())
                        for key in (f"env_ce/{domain}/{name}", f"env_ce/{domain}"):
                            sums[key] = sums.get(key, 0.0) + ce
                            counts[key] = counts.get(key, 0) + k
    finally:
        model.train(was_training)
    return {k: sums[k] / counts[k] for k in sorted(sums)}
