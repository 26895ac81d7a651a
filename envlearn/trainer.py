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
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from envlearn.batch import collate
from envlearn.channels import Task
from envlearn.checkpoints import load_checkpoint, save_checkpoint
from envlearn.config import RunConfig
from envlearn.evaluation import env_ce_by_channel, eval_rollouts, summarize_eval
from envlearn.health import FailureWatch
from envlearn.metrics import MetricsLog, fmt_row, make_console, make_progress
from envlearn.objective import ObjectiveConfig, group_advantages, objective
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


class Trainer:
    """Runs one recipe in ``cfg.run_dir``; ``resume=True`` continues from the last checkpoint."""

    def __init__(self, cfg: RunConfig, *, resume: bool = False, console: Any = None) -> None:
        from accelerate import Accelerator
        from accelerate.utils import set_seed
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self.cfg = cfg
        self.run_dir = Path(cfg.run_dir)
        self.accel = Accelerator(cpu=not torch.cuda.is_available())
        set_seed(cfg.seed)
        self.comp = build_components(cfg)
        self.comp.check_splits(cfg.tasks.train_split, cfg.tasks.eval_split)  # fail now
        self.failures = FailureWatch(cfg.train.max_failed_fraction, cfg.train.max_failed_steps)
        model = self.comp.model
        self.optimizer = torch.optim.AdamW(
            model.parameters(),
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
        self.step = 0
        self.t_start = time.monotonic()
        self.t_offset = 0.0  # wall time of earlier (pre-resume) segments
        self.console = console or make_console()
        self._diag: list[Transcript] | None = None
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

    def _lr_lambda(self, step: int) -> float:
        o, total = self.cfg.optim, max(1, self.cfg.train.steps)
        if o.warmup_steps and step < o.warmup_steps:
            return (step + 1) / o.warmup_steps
        if o.schedule == "cosine":
            prog = min(1.0, (step - o.warmup_steps) / max(1, total - o.warmup_steps))
            return 0.5 * (1 + math.cos(math.pi * prog))
        return 1.0

    def _step_tasks(self, step: int) -> list[Task]:
        """The step's tasks: epochs of seeded permutations, so the data position is the step."""
        train = self.comp.tasks(self.cfg.tasks.train_split)
        per = min(self.cfg.train.tasks_per_step, len(train))
        picked: list[Task] = []
        for j in range(step * per, (step + 1) * per):
            epoch, pos = divmod(j, len(train))
            perm = list(range(len(train)))
            random.Random(self.cfg.seed * 1_000_003 + epoch).shuffle(perm)
            picked.append(train[perm[pos]])
        # this process's share
        return picked[self.accel.process_index :: self.accel.num_processes]

    def _oracle_transcripts(self, split: str) -> dict[str, Transcript]:
        """Each task's oracle transcript by task id (run once per split, then cached)."""
        if split not in self._oracle_cache:
            tasks = self.comp.tasks(split)
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
        self, samples: list[Transcript], advantages: list[float], ocfg: ObjectiveConfig
    ) -> dict[str, float]:
        """One optimizer step over ``samples`` (micro-batched, weighted by sequence count)."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        mb = self.cfg.train.micro_batch_size
        n = len(samples)
        sums: dict[str, float] = {}
        for i in range(0, n, mb):
            chunk = samples[i : i + mb]
            batch = collate(
                chunk,
                advantages[i : i + mb],
                pad_id=self.comp.tokenizer.pad_token_id,
                channel_weights=self.cfg.train.env_channel_weights,
                use_sampler_logprobs=self.cfg.train.use_sampler_logprobs,
                max_len=self.cfg.rollout.max_episode_tokens,
            ).to(self.accel.device)
            loss, metrics = objective(self.accel.unwrap_model(self.model), batch, ocfg)
            w = len(chunk) / n
            self.accel.backward(loss * w)
            for k, v in metrics.items():
                if isinstance(v, int | float) and math.isfinite(v):
                    sums[k] = sums.get(k, 0.0) + float(v) * w
        if self._manual_allreduce:
            self._allreduce_grads()
        if self.cfg.optim.grad_clip:
            gn = self.accel.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
            sums["grad_norm"] = float(gn)
        self.optimizer.step()
        self.scheduler.step()
        if self.cfg.policy.kind == "vllm":
            self.policy.sync_weights(self.accel.unwrap_model(self.model))
        return sums

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
            samples, advantages = [], []
            for r, a in zip(rollouts, adv, strict=True):
                if a is None:  # failed: kept out of the batch and of group statistics
                    continue
                for sample in r.samples:
                    samples.append(sample)
                    advantages.append(a)
            # every process's rollouts, for metrics and the saved JSONL
            everyone = self._gather(rollouts) if self.accel.num_processes > 1 else rollouts
            ok_all = [r for r in everyone if r.status == "ok"]
            failed = [r for r in everyone if r.status == "failed"]
            row.update(
                reward_mean=sum(r.reward or 0.0 for r in ok_all) / max(1, len(ok_all)),
                success_rate=sum((r.reward or 0.0) >= 1.0 for r in ok_all) / max(1, len(ok_all)),
                rollouts=len(everyone),
                failed=len(failed),
                turns_mean=sum(r.turns for r in ok_all) / max(1, len(ok_all)),
            )
            if failed:
                row["failed_example"] = failed[0].error
            self.failures.record(len(everyone), [r.error for r in failed])
            if self.accel.is_main_process:
                save_rollouts(everyone, self.run_dir / "rollouts" / f"step_{step + 1:05d}.jsonl")
            metrics = (
                self._update(samples, advantages, ocfg) if samples or self._manual_allreduce else {}
            )
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
        tasks = self.comp.tasks(split)[: e.max_tasks]
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
        return {
            "step": self.step,
            "kind": "eval" if split == self.cfg.tasks.eval_split else f"eval_{split}",
            "split": split,
            **summarize_eval(rollouts, e.k),
        }

    @torch.no_grad()
    def diagnostic(self) -> dict[str, Any]:
        """Held-out env-CE: mean CE per domain and channel on fixed held-out oracle transcripts."""
        if self._diag is None:
            oracle = self._oracle_transcripts(self.cfg.tasks.eval_split)
            self._diag = list(oracle.values())[: self.cfg.diagnostic.max_transcripts]
        row: dict[str, Any] = {"step": self.step, "kind": "diag"}
        row.update(
            env_ce_by_channel(
                self.accel.unwrap_model(self.model),
                self._diag,
                pad_id=self.comp.tokenizer.pad_token_id,
                domain=self.comp.domain,
                device=self.accel.device,
                micro_batch_size=self.cfg.train.micro_batch_size,
            )
        )
        row["transcripts"] = len(self._diag)
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
            self.policy.sync_weights(self.accel.unwrap_model(self.model))
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

    def _train(self) -> dict[str, Any]:
        cfg = self.cfg
        name = self.run_dir.name
        if self.step == 0:
            if cfg.eval.at_start and cfg.objective.mode != "sft":
                self._log_evals()
            self.log(self.diagnostic())
        last_train: dict[str, Any] = {}
        progress = make_progress(self.console, enabled=cfg.progress)
        with progress:
            task = progress.add_task(name, total=cfg.train.steps, completed=self.step, info="")
            while self.step < cfg.train.steps:
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
                    ev = self._log_evals()
                    row["pass@1"] = ev["pass@1"]
                if self.step % cfg.train.checkpoint_every == 0 or self.step == cfg.train.steps:
                    self.save_checkpoint()
                info = fmt_row(row)
                progress.update(task, completed=self.step, info=info)
                if not getattr(self.console, "is_terminal", False):
                    self.console.print(f"{name} step {self.step}/{cfg.train.steps} {info}")
        return last_train
