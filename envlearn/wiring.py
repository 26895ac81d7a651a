"""The wiring of a run: from a recipe to its config, tokenizer, renderer, model, policy and tasks.

The top layer: the trainer, ``envlearn rollout``/``eval`` and the demo build their pieces here;
nothing below (rollout, render, objective) imports it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from envlearn.channels import Adapter, Task
from envlearn.config import RunConfig, load_config
from envlearn.plugins import get_task_suites, load_tasks, make_adapter
from envlearn.render import ChatRenderer
from envlearn.suggest import did_you_mean

__all__ = [
    "Components",
    "build_components",
    "build_model",
    "build_policy",
    "check_adapter_builds",
    "check_model_sources",
]


@dataclass
class Components:
    """What a run is made of.  ``model``/``policy`` are ``None`` when built ``with_model=False``."""

    cfg: RunConfig
    tokenizer: Any
    renderer: ChatRenderer
    model: Any = None
    policy: Any = None
    _tasks: dict[str, dict[str, list[Task]]] = field(default_factory=dict)

    def make_adapter(self, task: Task) -> Adapter:
        """A new adapter for ``task`` with its suite's adapter options."""
        return make_adapter(task.adapter, **self._options().get(task.adapter, {}))

    def _options(self) -> dict[str, dict[str, Any]]:
        suites = get_task_suites()
        out: dict[str, dict[str, Any]] = {}
        for e in self.cfg.tasks.entries():
            out.setdefault(suites[e.suite].adapter, e.adapter_options)
        return out

    @property
    def domains(self) -> list[str]:
        """The adapters of the run's suites, in mixture order (``env_ce/<domain>`` keys)."""
        suites = get_task_suites()
        return list(dict.fromkeys(suites[e.suite].adapter for e in self.cfg.tasks.entries()))

    @property
    def domain(self) -> str:
        """The run's domain (the first one of a mixture)."""
        return self.domains[0]

    def tasks_by_suite(self, split: str) -> dict[str, list[Task]]:
        """Each suite's tasks of one split (its ``limit`` of them, evenly spread; cached)."""
        if split not in self._tasks:
            by: dict[str, list[Task]] = {}
            for e in self.cfg.tasks.entries():
                tasks = load_tasks(e.suite, split)
                n = e.limit
                if n and len(tasks) > n:  # evenly spread over the suite (categories stay mixed)
                    tasks = [tasks[(i * len(tasks)) // n] for i in range(n)]
                if not tasks:
                    raise ValueError(self._no_tasks(split, e.suite))
                by[e.suite] = tasks
            self._tasks[split] = by
        return {k: list(v) for k, v in self._tasks[split].items()}

    def tasks(self, split: str) -> list[Task]:
        """The run's tasks of one split, every suite's (in mixture order)."""
        return [t for ts in self.tasks_by_suite(split).values() for t in ts]

    def check_splits(self, *splits: str) -> None:
        """Fail now, with one clear error, if the run needs a split its suite does not have."""
        for split in dict.fromkeys(splits):
            self.tasks(split)

    def _no_tasks(self, split: str, suite: str) -> str:
        t = self.cfg.tasks
        other = "train" if split == "heldout" else "heldout"
        pairs = (("tasks.train_split", t.train_split), ("tasks.eval_split", t.eval_split))
        keys = [k for k, v in pairs if v == split]
        if not load_tasks(suite, other):
            return f"task suite {suite!r} has no tasks at all; check the suite's plugin"
        use = " and ".join(f"{k}={other}" for k in keys) or f"a split it has ({other})"
        return (
            f"task suite {suite!r} has no {split!r} tasks, which this run uses "
            f"({', '.join(keys) or 'split'}={split}); set {use}, or add {split} tasks to the suite"
        )


def check_adapter_builds(name: str, options: dict[str, Any]) -> None:
    """Build (and close) one adapter with the run's options, once at start-up: a run whose
    adapter cannot be built at all fails now with one clear error, not with every rollout."""
    try:
        adapter = make_adapter(name, **options)
    except Exception as e:
        raise ValueError(
            f"adapter {name!r} cannot be built with tasks.adapter_options={options!r}: "
            f"{type(e).__name__}: {e}; fix tasks.adapter_options (the adapter's README lists "
            "its options)"
        ) from e
    try:
        adapter.close()
    except Exception:  # closing an unused adapter is not what this checks
        pass


_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


def check_model_sources(cfg: RunConfig) -> None:
    """One clear error for a model or tokenizer path that does not exist (before any loading:
    ``from_pretrained`` would take a missing directory for a hub id and fail 80 lines later)."""
    m = cfg.model
    for key, value in (
        ("model.tokenizer", m.tokenizer),
        ("model.init_from", m.init_from),
        ("model.name_or_path", None if m.name_or_path == "tiny" else m.name_or_path),
    ):
        if not value:
            continue
        path = Path(value).expanduser()
        if path.exists():
            if key != "model.tokenizer" and path.is_dir() and not (path / "config.json").exists():
                raise ValueError(
                    f"{key}={value!r} is a directory without config.json, not a saved model; "
                    "point it at a model directory (a run's RUN_DIR/model)"
                )
            continue
        if _HUB_ID_RE.match(value) and ".." not in value:
            continue  # a Hugging Face Hub id: loading says if it is not there
        raise ValueError(
            f"{key}={value!r} does not exist; point it at a saved model directory (e.g. a "
            "finished run's RUN_DIR/model) or a Hugging Face Hub id such as Qwen/Qwen3-0.6B"
        )


@contextmanager
def _loading(key: str, source: str | None) -> Iterator[None]:
    """Loading errors of ``from_pretrained`` (not a local directory, not on the hub, offline)
    as one line naming the config key."""
    try:
        yield
    except (OSError, ValueError) as e:
        if isinstance(e, ValueError) and type(e).__name__ != "HFValidationError":
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"{key}={source!r} could not be loaded: {first[:300]} (check the name, or point it "
            "at a local model directory)"
        ) from None


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
    if m.lora is not None:
        from envlearn.lora import apply_lora

        model = apply_lora(
            model,
            r=m.lora.r,
            alpha=m.lora.alpha,
            dropout=m.lora.dropout,
            target_modules=m.lora.target_modules,
        )
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
    for e in cfg.tasks.entries():
        if e.suite not in suites:
            known = ", ".join(sorted(suites)) or "none"
            key = "tasks.mixture[].suite" if cfg.tasks.mixture else "tasks.suite"
            raise ValueError(
                f"{key}={e.suite!r} is not registered{did_you_mean(e.suite, suites)} (known: "
                f"{known}); install its adapter "
                "plugin or check ENVLEARN_PLUGINS"
            )
        check_adapter_builds(suites[e.suite].adapter, e.adapter_options)
    check_model_sources(cfg)
    m = cfg.model
    tok_key = (
        "model.tokenizer"
        if m.tokenizer
        else "model.init_from"
        if m.init_from
        else "model.name_or_path"
    )
    tok_src = m.tokenizer or m.init_from or (None if m.name_or_path == "tiny" else m.name_or_path)
    with _loading(tok_key, tok_src):
        tokenizer = load_tokenizer(tok_src)
    renderer = ChatRenderer(
        tokenizer,
        observation_role=cfg.rollout.observation_role,
        max_observation_tokens=cfg.rollout.max_observation_tokens,
    )
    comp = Components(cfg=cfg, tokenizer=tokenizer, renderer=renderer)
    if with_model:
        key = "model.init_from" if m.init_from else "model.name_or_path"
        with _loading(key, m.init_from or m.name_or_path):
            comp.model = build_model(cfg)
        comp.policy = build_policy(cfg, comp.model, tokenizer)
    return comp
