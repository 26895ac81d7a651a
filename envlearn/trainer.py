"""The training loop: sample → verify → advantages → update.  Blind to the algorithm: the
objective's mode says what the loss is (``grpo`` | ``echo`` | ``env_only`` | ``sft``).

Its parts live beside it: the wiring of a run (``envlearn.wiring``), evaluation and the held-out
env-CE diagnostic (``envlearn.evaluation``), checkpoints (``envlearn.checkpoints``) and metrics
logging (``envlearn.metrics``).

One process (CPU or one GPU) or many (``accelerate launch``): each process rolls out its own
share of the step's tasks, so groups never straddle processes and advantages stay local;
gradients are averaged across processes.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from envlearn.batch import collate, wellformed_actions
from envlearn.channels import Task
from envlearn.checkpoints import load_checkpoint, save_checkpoint
from envlearn.config import RunConfig
from envlearn.evaluation import env_ce_by_channel, eval_rollouts, summarize_eval
from envlearn.health import FailureWatch
from envlearn.logprobs import token_logprobs
from envlearn.metrics import MetricsLog, eta_text, fmt_row, make_console, make_progress
from envlearn.objective import (
    ObjectiveConfig,
    StepNorms,
    count_norms,
    finalize_metrics,
    group_advantages,
    objective,
)
from envlearn.plugins import get_task_suites
from envlearn.predict import surprise_per_turn
from envlearn.resources import run_scope
from envlearn.rollout import Rollout, oracle_rollouts, run_rollouts, save_rollouts
from envlearn.transcript import Transcript
from envlearn.wiring import build_components

__all__ = ["Trainer", "group_advantages_for"]


def group_advantages_for(
    rollouts: Sequence[Rollout], *, normalize_std: bool = True
) -> list[float | None]:
    """Group-relative advantages aligned with ``rollouts`` (groups = same task), over the ``ok``
    rollouts only; a failed rollout gets ``None`` (it never enters the batch)."""
    ok = [i for i, r in enumerate(rollouts) if r.status == "ok"]
    out: list[float | None] = [None] * len(rollouts)
    if not ok:
        return out
    keys = sorted({rollouts[i].task_id for i in ok})
    gid = {k: j for j, k in enumerate(keys)}
    rewards = torch.tensor([float(rollouts[i].reward or 0.0) for i in ok])
    groups = torch.tensor([gid[rollouts[i].task_id] for i in ok])
    adv = group_advantages(rewards, groups, normalize_std=normalize_std)
    for i, a in zip(ok, adv.tolist(), strict=True):
        out[i] = float(a)
    return out


def _size_cpu_threads(cfg: RunConfig) -> None:
    """Torch's CPU threads for this run (see ``RunConfig.cpu_threads``)."""
    if torch.cuda.is_available():
        return
    if "cpu_threads" not in cfg.model_fields_set and os.environ.get("OMP_NUM_THREADS"):
        return
    if cfg.cpu_threads == "auto":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        try:
            busy = os.getloadavg()[0]
        except OSError:
            busy = 0.0
        torch.set_num_threads(max(1, min(cores, int(cores - busy + 0.5))))
    else:
        torch.set_num_threads(cfg.cpu_threads)


class Trainer:
    """Runs one recipe in ``cfg.run_dir``; ``resume=True`` continues from the last checkpoint."""

    def __init__(self, cfg: RunConfig, *, resume: bool = False, console: Any = None) -> None:
        from accelerate import Accelerator
        from accelerate.utils import set_seed
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        _size_cpu_threads(cfg)

        self.cfg = cfg
        self.run_dir = Path(cfg.run_dir)
        self.accel = Accelerator(cpu=not torch.cuda.is_available())
        set_seed(cfg.seed)
        self.comp = build_components(cfg)
        self.comp.check_splits(cfg.tasks.train_split, cfg.tasks.eval_split)  # fail now
        self.failures = FailureWatch(cfg.train.max_failed_fraction, cfg.train.max_failed_steps)
        model = self.comp.model
        self.optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad],  # LoRA: the adapters only
            lr=cfg.optim.lr,
            betas=cfg.optim.betas,
            weight_decay=cfg.optim.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_lambda)
        from accelerate.utils import DistributedType

        if self.accel.distributed_type == DistributedType.DEEPSPEED:
            # ZeRO-1/2 keep full parameters on every rank, so the objective's backbone/head
            # split works on the unwrapped module; the engine reduces gradients in backward.
            self.model, self.optimizer, self.scheduler = self.accel.prepare(
                model, self.optimizer, self.scheduler
            )
            self._manual_allreduce = False
        else:
            # The objective runs the decoder and the lm_head separately (chunked log-probs), which
            # bypasses DDP's forward; so no DDP wrapper: same init everywhere, gradients averaged
            # explicitly after backward (see _update).
            self.model = model.to(self.accel.device)
            self.optimizer, self.scheduler = self.accel.prepare(self.optimizer, self.scheduler)
            self.accel.register_for_checkpointing(self.model)
            self._manual_allreduce = self.accel.num_processes > 1
            if self._manual_allreduce:
                import torch.distributed as dist

                for p in self.model.parameters():
                    dist.broadcast(p.data, src=0)
        self.policy = self.comp.policy  # HFPolicy over the very model being trained, or vLLM
        self.ref_model = self._build_reference() if cfg.objective.kl_beta > 0 else None
        self.step = 0
        self.t_start = time.monotonic()
        self.t_offset = 0.0  # wall time of earlier (pre-resume) segments
        self.console = console or make_console()
        self._diag: dict[str, list[Transcript]] | None = None  # per domain
        self._oracle_cache: dict[str, dict[str, Transcript]] = {}
        self.metrics = MetricsLog(
            self.run_dir, tensorboard=cfg.tensorboard, enabled=self.accel.is_main_process
        )
        if self.accel.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self._resume()
        elif self.accel.is_main_process:
            if (self.run_dir / "metrics.jsonl").exists():
                raise FileExistsError(
                    f"{self.run_dir} already holds a run; pass --resume to continue it or choose "
                    "another run_dir"
                )
            (self.run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))

    # -- pieces ----------------------------------------------------------------------------

    def _build_reference(self) -> torch.nn.Module | None:
        """The KL reference: ``None`` for a LoRA model (its base, adapters disabled, is the
        reference: no second model in memory), else the run's initial weights built afresh
        (also after a resume), frozen, on this process's device."""
        if getattr(self.accel.unwrap_model(self.model), "peft_config", None):
            return None
        from envlearn.wiring import build_model

        ref = build_model(self.cfg).to(self.accel.device).eval()
        ref.requires_grad_(False)
        return ref

    def _lr_lambda(self, step: int) -> float:
        o, total = self.cfg.optim, max(1, self.cfg.train.steps)
        if o.warmup_steps and step < o.warmup_steps:
            return (step + 1) / o.warmup_steps
        if o.schedule == "cosine":
            prog = min(1.0, (step - o.warmup_steps) / max(1, total - o.warmup_steps))
            return 0.5 * (1 + math.cos(math.pi * prog))
        return 1.0

    def _step_tasks(self, step: int) -> list[Task]:
        """The step's tasks: epochs of seeded permutations, so the data position is the step.

        A mixture gives each suite a fixed share of every step (by weight, largest remainder)
        and each suite its own permutation stream."""
        by_suite = self.comp.tasks_by_suite(self.cfg.tasks.train_split)
        entries = [e for e in self.cfg.tasks.entries() if e.suite in by_suite]
        total = sum(len(v) for v in by_suite.values())
        per = min(self.cfg.train.tasks_per_step, total)
        weights = [e.weight for e in entries]
        raw = [per * w / sum(weights) for w in weights]
        counts = [int(x) for x in raw]
        for i in sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))[
            : per - sum(counts)
        ]:
            counts[i] += 1
        picked: list[Task] = []
        for si, (e, n) in enumerate(zip(entries, counts, strict=True)):
            train = by_suite[e.suite]
            for j in range(step * n, (step + 1) * n):
                epoch, pos = divmod(j, len(train))
                perm = list(range(len(train)))
                salt = 0 if si == 0 else 7919 * si  # a single suite samples as it always did
                random.Random(self.cfg.seed * 1_000_003 + epoch + salt).shuffle(perm)
                picked.append(train[perm[pos]])
        # this process's share
        return picked[self.accel.process_index :: self.accel.num_processes]

    def _oracle_transcripts(self, split: str) -> dict[str, Transcript]:
        """Each task's oracle transcript by task id (run once per split, then cached)."""
        if split not in self._oracle_cache:
            tasks = self.comp.tasks(split)
            sft = split == self.cfg.tasks.train_split and self.cfg.objective.mode == "sft"
            why = "the SFT data" if sft else "the held-out env-CE diagnostic"
            self._say(f"running the oracles of {len(tasks)} {split} tasks for {why}")
            ros = oracle_rollouts(
                tasks, self.comp.renderer, self.comp.make_adapter, self.cfg.rollout
            )
            bad = [r for r in ros if r.status != "ok"]
            if bad:
                self.console.print(f"[yellow]{len(bad)} oracle rollouts failed: {bad[0].error}")
            self._oracle_cache[split] = {
                r.task_id: r.samples[0] for r in ros if r.status == "ok" and r.samples
            }
        return self._oracle_cache[split]

    def _update(
        self,
        samples: list[Transcript],
        advantages: list[float],
        ocfg: ObjectiveConfig,
        env_keep: list[bool] | None = None,
        domains: list[str] | None = None,
    ) -> dict[str, float]:
        """One optimizer step over ``samples`` (micro-batched).

        Every term is normalised by counts over the whole step (all micro-batches of all
        processes, all-reduced once before the first backward), so the loss and the gradient
        do not depend on ``micro_batch_size`` or the process count; each process's loss is its
        share of the step's loss, and as gradient reduction averages over processes, it is
        scaled by the process count.  Every process joins every collective, with or without
        samples (and runs as many backward passes as the busiest one, for engines that reduce
        in backward).  ``env_keep``: per sample, whether it feeds L_env (rollout filters);
        ``domains``: per sample, its adapter (a mixture's per-domain λ and channel weights).
        """
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        mb = self.cfg.train.micro_batch_size
        world = self.accel.num_processes
        model = self.accel.unwrap_model(self.model)
        names = self._step_channel_names(samples)
        channel_weights, env_scale = self._domain_weights(ocfg, domains, len(samples))
        batches = [
            collate(
                samples[i : i + mb],
                advantages[i : i + mb],
                pad_id=self.comp.tokenizer.pad_token_id,
                channel_weights=channel_weights
                if isinstance(channel_weights, dict)
                else channel_weights[i : i + mb],
                channel_names=names,
                use_sampler_logprobs=self.cfg.train.use_sampler_logprobs,
                max_len=self.cfg.rollout.max_episode_tokens,
                env_keep=None if env_keep is None else env_keep[i : i + mb],
                env_scale=None if env_scale is None else env_scale[i : i + mb],
            ).to(self.accel.device)
            for i in range(0, len(samples), mb)
        ]
        if ocfg.kl_beta > 0 or self.ref_model is not None:
            for b in batches:
                b.ref_logprobs = self._ref_logprobs(b, ocfg)
        counts = torch.zeros(6 + len(names), dtype=torch.float64, device=self.accel.device)
        for b in batches:
            counts += count_norms(b)
        n_mb = torch.tensor([float(len(batches))], dtype=torch.float64, device=counts.device)
        if world > 1:  # the one collective before the backward passes
            import torch.distributed as dist

            gathered = torch.cat([counts, n_mb])
            out = [torch.zeros_like(gathered) for _ in range(world)]
            dist.all_gather(out, gathered)
            stacked = torch.stack(out)
            counts, n_mb_max = stacked[:, :-1].sum(0), int(stacked[:, -1].max())
        else:
            n_mb_max = len(batches)
        norms = StepNorms.from_counts(counts)
        gen = torch.Generator().manual_seed(
            self.cfg.seed * 1_000_033 + self.step * 1_009 + self.accel.process_index
        )
        sums: dict[str, float] = {}
        for b in batches:
            loss, metrics = objective(model, b, ocfg, norms=norms, step=self.step, generator=gen)
            self.accel.backward(loss * world)
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + float(v)
        if not self._manual_allreduce and world > 1:
            # an engine that reduces gradients in backward needs the same number of backward
            # calls on every process: a zero loss that touches every trainable parameter
            for _ in range(n_mb_max - len(batches)):
                zero = sum(p.reshape(-1)[:1].sum() for p in model.parameters() if p.requires_grad)
                self.accel.backward(zero * 0.0)
        if self._manual_allreduce:
            self._allreduce_grads()
        out = self._reduce_metrics(sums, names, norms)
        out["env_lambda"] = ocfg.lambda_at(self.step)
        if self.cfg.optim.grad_clip:
            gn = self.accel.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
            out["grad_norm"] = float(gn)
        self.optimizer.step()
        self.scheduler.step()
        if self.cfg.policy.kind == "vllm":
            self.policy.sync_weights(self._policy_weights())
        return out

    def _domain_weights(
        self, ocfg: ObjectiveConfig, domains: list[str] | None, n: int
    ) -> tuple[dict[str, float] | list[dict[str, float]], list[float] | None]:
        """Per-sample channel weights and env scale for a mixture (λ_domain ÷ objective λ, the
        domain's channel weights over the objective's); one mapping and no scale otherwise."""
        if not self.cfg.tasks.mixture or domains is None:
            return dict(ocfg.env_channel_weights), None
        suites = get_task_suites()
        mix = {suites[e.suite].adapter: e for e in self.cfg.tasks.mixture}
        weights, scale = [], []
        for dom in domains:
            e = mix.get(dom)
            weights.append({**ocfg.env_channel_weights, **(e.env_channel_weights if e else {})})
            lam = e.env_lambda if e is not None else None
            scale.append(lam / ocfg.env_lambda if lam is not None and ocfg.env_lambda > 0 else 1.0)
        assert len(weights) == n
        return weights, scale

    @torch.no_grad()
    def _log_surprise(self, rollouts: list[Rollout]) -> None:
        """Each ok rollout's per-step surprise, from the policy before this step's update."""
        ok = [r for r in rollouts if r.status == "ok"]
        samples = [(r, s) for r in ok for s in r.samples]
        if not samples:
            return
        per = surprise_per_turn(
            self.accel.unwrap_model(self.model),
            [s for _, s in samples],
            pad_id=self.comp.tokenizer.pad_token_id,
            device=self.accel.device,
            micro_batch_size=self.cfg.train.micro_batch_size,
        )
        for (r, _), turns in zip(samples, per, strict=True):
            r.surprise.update({str(k): round(v, 4) for k, v in turns.items()})

    def _feeds_env_term(self, rollout: Rollout) -> bool:
        """Whether an ok rollout passes ``objective.env_filter`` (it feeds L_env)."""
        f = self.cfg.objective.env_filter
        if not f.active:
            return True
        ok = total = 0
        for sample in rollout.samples:
            good, n = wellformed_actions(sample, self.comp.tokenizer.decode)
            ok, total = ok + good - n, max(total, n)  # broken actions add up over restarts
        ok += total
        if f.drop_format_broken and ok < total:
            return False
        return total == 0 or ok / total >= f.min_wellformed_fraction

    def _policy_weights(self) -> Any:
        """What a separate sampler (vLLM) loads: the model, or for LoRA its merged weights."""
        model = self.accel.unwrap_model(self.model)
        if getattr(model, "peft_config", None):
            from envlearn.lora import merged_state_dict

            return merged_state_dict(model)
        return model

    def _step_channel_names(self, samples: list[Transcript]) -> list[str]:
        """The observation channels of the step's samples, on every process (so all
        micro-batches share one ``channel_names`` and per-channel counts reduce in one vector)."""
        local = sorted(
            {
                c
                for tr in samples
                for c, m in zip(tr.channels, tr.env_mask(), strict=True)
                if m and c
            }
        )
        if self.accel.num_processes == 1:
            return local
        from accelerate.utils import gather_object

        return sorted({c for names in gather_object([local]) for c in names})

    def _reduce_metrics(
        self, sums: dict[str, float], names: list[str], norms: StepNorms
    ) -> dict[str, float]:
        """The step's metrics: per-micro-batch shares summed here, then over processes."""
        keys = [
            "loss", "rl_loss", "env_loss", "env_ce", "action_ce", "kl", "ratio_mean",
            "clip_frac", "n_action_tokens", "n_env_tokens",
        ]  # fmt: skip
        keys += [f"env_ce/{c}" for c, n in zip(names, norms.channel_tokens, strict=True) if n > 0]
        vec = torch.tensor([sums.get(k, 0.0) for k in keys], dtype=torch.float64)
        if self.accel.num_processes > 1:
            import torch.distributed as dist

            vec = vec.to(self.accel.device)
            dist.all_reduce(vec)
        return finalize_metrics(dict(zip(keys, vec.tolist(), strict=True)))

    @torch.no_grad()
    def _ref_logprobs(self, batch: Any, ocfg: ObjectiveConfig) -> torch.Tensor:
        """Reference log-probs at the action tokens (the sampling temperature, as the policy's):
        the initial weights, frozen (``self.ref_model``), or for a LoRA model the same model
        with its adapters disabled."""
        temperature: float | torch.Tensor = 1.0
        if ocfg.temperature != 1.0:
            temperature = torch.where(batch.action_mask, ocfg.temperature, 1.0).to(torch.float32)
        model = self.accel.unwrap_model(self.model)
        args = (batch.input_ids, batch.attention_mask, batch.action_mask)
        kw = {"chunk_size": ocfg.chunk_size, "temperature": temperature}
        if self.ref_model is not None:
            return token_logprobs(self.ref_model, *args, **kw)
        if not getattr(model, "peft_config", None):
            raise RuntimeError("kl_beta > 0 but the trainer built no reference model")
        with model.disable_adapter():  # a peft model: the base weights are the reference
            return token_logprobs(model, *args, **kw)

    def _allreduce_grads(self) -> None:
        """Average gradients over processes (every rank calls this, with or without samples)."""
        import torch.distributed as dist

        params = [p for p in self.model.parameters() if p.requires_grad]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.accel.num_processes
        offset = 0
        for p, g in zip(params, grads, strict=True):
            n = g.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n

    def _gather(self, items: list[Any]) -> list[Any]:
        """Concatenate a per-process list over all processes."""
        if self.accel.num_processes == 1:
            return items
        from accelerate.utils import gather_object

        return gather_object(items)

    # -- one training step -------------------------------------------------------------------

    def train_step(self) -> dict[str, Any]:
        cfg, step = self.cfg, self.step
        t0 = time.monotonic()
        tasks = self._step_tasks(step)
        ocfg = cfg.objective
        row: dict[str, Any] = {"step": step + 1, "kind": "train"}
        if ocfg.mode == "sft":
            oracle = self._oracle_transcripts(cfg.tasks.train_split)
            samples = [oracle[t.id] for t in tasks if t.id in oracle]
            advantages = [0.0] * len(samples)
            metrics: dict[str, float] = {}
            for _ in range(cfg.train.sft_epochs_per_step):
                metrics = self._update(samples, advantages, ocfg)
            t_roll = 0.0
        else:
            tr0 = time.monotonic()
            rollouts = run_rollouts(
                tasks,
                self.policy,
                self.comp.renderer,
                self.comp.make_adapter,
                cfg.rollout,
                seed=cfg.seed * 100_003 + step * 101 + self.accel.process_index,
            )
            t_roll = time.monotonic() - tr0
            adv = group_advantages_for(rollouts)
            samples, advantages, env_keep, domains = [], [], [], []
            for r, a in zip(rollouts, adv, strict=True):
                if a is None:  # failed: kept out of the batch and of group statistics
                    continue
                keep = self._feeds_env_term(r)
                for sample in r.samples:
                    samples.append(sample)
                    advantages.append(a)
                    env_keep.append(keep)
                    domains.append(r.adapter)
            if cfg.train.log_surprise:
                self._log_surprise(rollouts)
            # every process's rollouts, for metrics and the saved JSONL
            everyone = self._gather(rollouts) if self.accel.num_processes > 1 else rollouts
            ok_all = [r for r in everyone if r.status == "ok"]
            failed = [r for r in everyone if r.status == "failed"]
            row.update(
                reward_mean=sum(r.reward or 0.0 for r in ok_all) / max(1, len(ok_all)),
                success_rate=sum((r.reward or 0.0) >= 1.0 for r in ok_all) / max(1, len(ok_all)),
                rollouts=len(everyone),
                processes=self.accel.num_processes,
                failed=len(failed),
                turns_mean=sum(r.turns for r in ok_all) / max(1, len(ok_all)),
            )
            if cfg.train.log_surprise:
                for dom in self.comp.domains:
                    vals = [v for r in ok_all if r.adapter == dom for v in r.surprise.values()]
                    if vals:
                        row[f"surprise/{dom}"] = sum(vals) / len(vals)
            if len(self.comp.domains) > 1:  # a mixture: each domain's reward too
                for dom in self.comp.domains:
                    mine = [r for r in ok_all if r.adapter == dom]
                    if mine:
                        row[f"reward_mean/{dom}"] = sum(r.reward or 0.0 for r in mine) / len(mine)
            if failed:
                row["failed_example"] = failed[0].error
            self.failures.record(len(everyone), [r.error for r in failed])
            if self.accel.is_main_process:
                save_rollouts(everyone, self.run_dir / "rollouts" / f"step_{step + 1:05d}.jsonl")
            metrics = (
                self._update(samples, advantages, ocfg, env_keep, domains)
                if samples or self.accel.num_processes > 1  # every process joins the collectives
                else {}
            )
            if ocfg.env_filter.active:
                kept = self._gather(env_keep) if self.accel.num_processes > 1 else env_keep
                row["env_filtered"] = sum(1 for k in kept if not k)
        n_tokens = sum(len(s) for s in samples)
        dt = time.monotonic() - t0
        row.update(metrics)
        row.update(
            tokens=n_tokens,
            tokens_per_s=n_tokens / dt if dt > 0 else 0.0,
            step_s=dt,
            rollout_s=t_roll,
            lr=self.scheduler.get_last_lr()[0],
        )
        self.step += 1
        return row

    # -- evaluation and diagnostics ------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, split: str | None = None) -> dict[str, Any]:
        """pass@1 / pass@k on the eval split (greedy when eval.temperature == 0)."""
        e = self.cfg.eval
        split = split or self.cfg.tasks.eval_split
        # eval.max_tasks per suite (a mixture evaluates every domain)
        tasks = [t for ts in self.comp.tasks_by_suite(split).values() for t in ts[: e.max_tasks]]
        tasks = tasks[self.accel.process_index :: self.accel.num_processes]
        rollouts = eval_rollouts(
            tasks,
            self.policy,
            self.comp.renderer,
            self.comp.make_adapter,
            self.cfg.rollout,
            seed=self.cfg.seed * 7 + 424_242,
            samples_per_task=e.samples_per_task,
            temperature=e.temperature,
        )
        rollouts = self._gather(rollouts)
        row = {
            "step": self.step,
            "kind": "eval" if split == self.cfg.tasks.eval_split else f"eval_{split}",
            "split": split,
            **summarize_eval(rollouts, e.k),
        }
        if len(self.comp.domains) > 1:  # a mixture: every domain's numbers too
            for dom in self.comp.domains:
                mine = [r for r in rollouts if r.adapter == dom]
                if mine:
                    for k, v in summarize_eval(mine, e.k).items():
                        row[f"{k}/{dom}"] = v
        return row

    @torch.no_grad()
    def diagnostic(self) -> dict[str, Any]:
        """Held-out env-CE: mean CE per domain and channel on fixed held-out oracle transcripts."""
        if self._diag is None:
            oracle = self._oracle_transcripts(self.cfg.tasks.eval_split)
            split_tasks = self.comp.tasks_by_suite(self.cfg.tasks.eval_split)
            self._diag = {}
            for suite_tasks in split_tasks.values():  # per domain, up to max_transcripts each
                for t in suite_tasks:
                    mine = self._diag.setdefault(t.adapter, [])
                    if t.id in oracle and len(mine) < self.cfg.diagnostic.max_transcripts:
                        mine.append(oracle[t.id])
        row: dict[str, Any] = {"step": self.step, "kind": "diag"}
        for dom, transcripts in self._diag.items():
            row.update(
                env_ce_by_channel(
                    self.accel.unwrap_model(self.model),
                    transcripts,
                    pad_id=self.comp.tokenizer.pad_token_id,
                    domain=dom,
                    device=self.accel.device,
                    micro_batch_size=self.cfg.train.micro_batch_size,
                )
            )
        row["transcripts"] = sum(len(v) for v in self._diag.values())
        return row

    def _log_evals(self) -> dict[str, Any]:
        ev = self.evaluate()
        self.log(ev)
        if (
            self.cfg.eval.also_train_split
            and self.cfg.tasks.train_split != self.cfg.tasks.eval_split
        ):
            self.log(self.evaluate(self.cfg.tasks.train_split))
        return ev

    # -- checkpoints ---------------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        """Model, optimizer, scheduler, RNG states and data position; written atomically."""
        if self.accel.num_processes > 1:
            self._check_replicas_agree()
        return save_checkpoint(
            self.accel,
            self.model,
            self.comp.tokenizer,
            self.run_dir,
            step=self.step,
            wall_s=self._wall(),
            keep=self.cfg.train.keep_checkpoints,
        )

    def _check_replicas_agree(self) -> None:
        """Every process must hold the same weights (gradients are averaged explicitly)."""
        with torch.no_grad():
            sig = [
                float(p.double().sum()) for p in self.accel.unwrap_model(self.model).parameters()
            ]
        sigs = self._gather([sig])
        if any(x != sigs[0] for x in sigs[1:]):
            raise RuntimeError(
                f"model replicas diverged across {len(sigs)} processes at step {self.step}; "
                "gradient averaging is broken (please report this)"
            )

    def _resume(self) -> None:
        self.step, self.t_offset, last = load_checkpoint(self.accel, self.run_dir)
        self.metrics.truncate_after(self.step)  # the killed segment will be redone
        if self.cfg.policy.kind == "vllm":
            self.policy.sync_weights(self._policy_weights())
        self.console.print(f"resumed {self.run_dir} at step {self.step} from {last.name}")

    # -- logging ---------------------------------------------------------------------------

    def _wall(self) -> float:
        return self.t_offset + time.monotonic() - self.t_start

    def log(self, row: dict[str, Any]) -> None:
        self.metrics.write({**row, "time_s": round(self._wall(), 3)})

    # -- the loop ----------------------------------------------------------------------------

    def train(self) -> dict[str, Any]:
        """Run to ``train.steps``; run-scoped resources (a browser, a game cache) live as long as
        this call and are closed when it ends, also on error or Ctrl-C."""
        with run_scope(f"train {self.run_dir.name}"):
            try:
                return self._train()
            finally:
                self.metrics.close()

    def _say(self, text: str) -> None:
        """One line on what a long, otherwise silent phase is doing (main process only)."""
        if self.accel.is_main_process:
            self.console.print(f"{self.run_dir.name}: {text} …")

    def _eval_text(self) -> str:
        e, n = (
            self.cfg.eval,
            len(self.comp.tasks(self.cfg.tasks.eval_split)[: self.cfg.eval.max_tasks]),
        )
        also = " (and the train tasks)" if e.also_train_split else ""
        samples = f"{e.samples_per_task} sample{'s' if e.samples_per_task != 1 else ''}"
        return f"{n} {self.cfg.tasks.eval_split} tasks × {samples}{also}"

    def _train(self) -> dict[str, Any]:
        cfg = self.cfg
        name = self.run_dir.name
        if self.step == 0:
            if cfg.eval.at_start and cfg.objective.mode != "sft":
                self._say(f"evaluating the starting model: {self._eval_text()}")
                self._log_evals()
            self._say("held-out env-CE diagnostic of the starting model")
            self.log(self.diagnostic())
        last_train: dict[str, Any] = {}
        progress = make_progress(self.console, enabled=cfg.progress)
        tty = getattr(self.console, "is_terminal", False)
        t_loop, step0 = time.monotonic(), self.step

        def phase(text: str) -> None:  # on the bar where there is one, else a line
            if tty and cfg.progress:
                progress.update(task, info=f"{text} …")
            else:
                self._say(text)

        with progress:
            task = progress.add_task(name, total=cfg.train.steps, completed=self.step, info="")
            while self.step < cfg.train.steps:
                if tty and cfg.progress:
                    progress.update(task, info=f"step {self.step + 1}: rollouts, update …")
                row = self.train_step()
                self.log(row)
                self.failures.check(self.step)  # too many failed rollouts: stop
                last_train = row
                if self.step % cfg.diagnostic.every == 0 or self.step == cfg.train.steps:
                    d = self.diagnostic()
                    self.log(d)
                    row["env_ce_heldout"] = d.get(f"env_ce/{self.comp.domain}")
                if cfg.objective.mode != "sft" and (
                    self.step % cfg.eval.every == 0 or self.step == cfg.train.steps
                ):
                    phase(f"evaluating at step {self.step}: {self._eval_text()}")
                    ev = self._log_evals()
                    row["pass@1"] = ev["pass@1"]
                if self.step % cfg.train.checkpoint_every == 0 or self.step == cfg.train.steps:
                    self.save_checkpoint()
                info = fmt_row(row)
                progress.update(task, completed=self.step, info=info)
                # each step's numbers stay on screen as a line (above the bar on a terminal,
                # whose info field then says what the next phase is doing)
                eta = eta_text(
                    self.step - step0, cfg.train.steps - self.step, time.monotonic() - t_loop
                )
                self.console.print(f"{name} step {self.step}/{cfg.train.steps} {info}  {eta}")
        return last_train
