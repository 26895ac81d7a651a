"""The wiring of a run: from a recipe to its config, tokenizer, renderer, model, policy and tasks.

The top layer: the trainer, ``envlearn rollout``/``eval`` and the demo build their pieces here;
nothing below (rollout, render, objective) imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from envlearn.channels import Adapter, Task
from envlearn.config import RunConfig, load_config
from envlearn.plugins import get_task_suites, load_tasks, make_adapter
from envlearn.render import ChatRenderer

__all__ = ["Components", "build_components", "build_model", "build_policy"]


@dataclass
class Components:
    """What a run is made of.  ``model``/``policy`` are ``None`` when built ``with_model=False``."""

    cfg: RunConfig
    tokenizer: Any
    renderer: ChatRenderer
    model: Any = None
    policy: Any = None
    _tasks: dict[str, list[Task]] = field(default_factory=dict)

    def make_adapter(self, task: Task) -> Adapter:
        """A new adapter for ``task`` with the run's adapter options."""
        return make_adapter(task.adapter, **self.cfg.tasks.adapter_options)

    @property
    def domain(self) -> str:
        """The adapter the run's suite belongs to (``env_ce/<domain>`` metric keys)."""
        return get_task_suites()[self.cfg.tasks.suite].adapter

    def tasks(self, split: str) -> list[Task]:
        """The run's tasks of one split (``tasks.limit`` of them, evenly spread; cached)."""
        if split not in self._tasks:
            tasks = load_tasks(self.cfg.tasks.suite, split)
            n = self.cfg.tasks.limit
            if n and len(tasks) > n:  # evenly spread over the suite (categories stay mixed)
                tasks = [tasks[(i * len(tasks)) // n] for i in range(n)]
            if not tasks:
                raise ValueError(
                    f"task suite {self.cfg.tasks.suite!r} has no {split!r} tasks; pick another "
                    "suite or split (see `envlearn adapters`)"
                )
            self._tasks[split] = tasks
        return list(self._tasks[split])


def build_model(cfg: RunConfig) -> Any:
    """The model to train: ``init_from`` a checkpoint, the shipped tiny one, or ``from_pretrained``."""
    from envlearn.models import load_model, tiny_model

    m = cfg.model
    if m.init_from:
        model = load_model(m.init_from, dtype=getattr(torch, m.dtype))
    elif m.name_or_path == "tiny":
        model = tiny_model(m.tiny)
        model = model.to(getattr(torch, m.dtype))
    else:
        model = load_model(m.name_or_path, dtype=getattr(torch, m.dtype))
    if m.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model


def build_policy(cfg: RunConfig, model: Any, tokenizer: Any) -> Any:
    """Who generates: ``hf`` (the model being trained, in this process) or ``vllm``."""
    if cfg.policy.kind == "vllm":
        from envlearn.policies.vllm import VLLMPolicy

        return VLLMPolicy(
            cfg.model.init_from or cfg.model.name_or_path,
            gpu_memory_utilization=cfg.policy.vllm_gpu_memory_utilization,
            tensor_parallel_size=cfg.policy.vllm_tensor_parallel_size,
            seed=cfg.seed,
        )
    from envlearn.policies import HFPolicy

    return HFPolicy(model, tokenizer, batch_size=cfg.policy.batch_size)


def build_components(
    recipe: str | Path | RunConfig | None, overrides: Sequence[str] = (), *, with_model: bool = True
) -> Components:
    """Config, tokenizer, renderer and (optionally) model + policy for a recipe."""
    from envlearn.models import load_tokenizer

    cfg = recipe if isinstance(recipe, RunConfig) else load_config(recipe, list(overrides))
    suites = get_task_suites()
    if cfg.tasks.suite not in suites:
        known = ", ".join(sorted(suites)) or "none"
        raise ValueError(
            f"tasks.suite={cfg.tasks.suite!r} is not registered (known: {known}); install its "
            "adapter plugin or check ENVLEARN_PLUGINS"
        )
    m = cfg.model
    tokenizer = load_tokenizer(
        m.tokenizer or m.init_from or (None if m.name_or_path == "tiny" else m.name_or_path)
    )
    renderer = ChatRenderer(
        tokenizer,
        observation_role=cfg.rollout.observation_role,
        max_observation_tokens=cfg.rollout.max_observation_tokens,
    )
    comp = Components(cfg=cfg, tokenizer=tokenizer, renderer=renderer)
    if with_model:
        comp.model = build_model(cfg)
        comp.policy = build_policy(cfg, comp.model, tokenizer)
    return comp
