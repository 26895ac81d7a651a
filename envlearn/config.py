"""Run configuration: pydantic models loaded from YAML, with dotted command-line overrides.

``envlearn train recipes/terminal/tiny_echo.yaml train.steps=20 objective.env_lambda=0.2``

An unknown or ill-typed key is one :class:`ConfigError` naming the key and what it expects.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from envlearn.models import TinyModelConfig
from envlearn.objective import ObjectiveConfig
from envlearn.suggest import did_you_mean

__all__ = [
    "ConfigError",
    "DiagnosticConfig",
    "EvalConfig",
    "LoraSettings",
    "ModelConfig",
    "OptimConfig",
    "PolicyConfig",
    "RolloutConfig",
    "RunConfig",
    "TasksConfig",
    "TrainConfig",
    "apply_overrides",
    "config_keys",
    "load_config",
]


class ConfigError(ValueError):
    """A config file or override is invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoraSettings(_Strict):
    """LoRA adapters through peft (``envlearn.lora``); only the adapters train and the KL
    reference is the base model with the adapters disabled."""

    r: int = Field(default=8, ge=1)
    alpha: float = Field(default=16.0, gt=0)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: list[str] | str = "all-linear"  # peft's name: every linear but lm_head


class ModelConfig(_Strict):
    """``name_or_path: tiny`` builds the shipped tiny model; anything else is ``from_pretrained``."""

    name_or_path: str = "tiny"
    tokenizer: str | None = None  # default: the model's own, or the shipped tiny one
    tiny: TinyModelConfig = Field(default_factory=TinyModelConfig)
    init_from: str | None = None  # a checkpoint dir (…/model) to start from, e.g. an SFT warm start
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    gradient_checkpointing: bool = False
    lora: LoraSettings | None = None  # e.g. {r: 16, alpha: 32, dropout: 0.05}


class PolicyConfig(_Strict):
    """Who generates rollouts: ``hf`` (the trained model itself, CPU or GPU) or ``vllm``
    (a vLLM engine on the GPU, weights synced from the trainer after every update)."""

    kind: Literal["hf", "vllm"] = "hf"
    batch_size: int = Field(default=32, ge=1)
    vllm_gpu_memory_utilization: float = Field(default=0.3, gt=0, le=1)
    vllm_tensor_parallel_size: int = Field(default=1, ge=1)


class SuiteMix(_Strict):
    """One suite of a mixture: its share of each step's tasks (``weight``), its own task limit
    and adapter options, and this domain's λ and per-channel weights (default: the objective's)."""

    suite: str
    weight: float = Field(default=1.0, gt=0)
    limit: int | None = Field(default=None, ge=1)
    adapter_options: dict[str, Any] = Field(default_factory=dict)
    env_lambda: float | None = Field(default=None, ge=0)
    env_channel_weights: dict[str, float] = Field(default_factory=dict)


class TasksConfig(_Strict):
    suite: str = "toy"
    adapter_options: dict[str, Any] = Field(default_factory=dict)
    train_split: Literal["train", "heldout"] = "train"
    eval_split: Literal["train", "heldout"] = "heldout"
    limit: int | None = Field(default=None, ge=1)  # N tasks of each split, evenly spread
    # several suites in one run (cross-domain): each step's tasks drawn by weight
    mixture: list[SuiteMix] = Field(default_factory=list)

    @model_validator(mode="after")
    def _suite_or_mixture(self) -> TasksConfig:
        if self.mixture and {"suite", "limit", "adapter_options"} & self.model_fields_set:
            raise ValueError(
                "set either tasks.suite (with tasks.limit/adapter_options) or tasks.mixture "
                "(each entry with its own limit/adapter_options), not both"
            )
        names = [m.suite for m in self.mixture]
        if len(set(names)) != len(names):
            raise ValueError(f"tasks.mixture names a suite twice: {names}")
        return self

    def entries(self) -> list[SuiteMix]:
        """The run's suites: the mixture, or the one suite as a mixture of one."""
        if self.mixture:
            return list(self.mixture)
        return [SuiteMix(suite=self.suite, limit=self.limit, adapter_options=self.adapter_options)]


class GuardRule(_Strict):
    """Refuse an action whose *predicted* observation matches ``prediction`` (a regex), when its
    text matches ``action`` (a regex; any action when unset) on the named adapters (all when
    empty).  ``message`` is shown to the policy in the refusal notice."""

    name: str
    prediction: str
    action: str | None = None
    adapters: list[str] = Field(default_factory=list)
    message: str = ""

    @model_validator(mode="after")
    def _regexes_compile(self) -> GuardRule:
        import re

        for field_name in ("prediction", "action"):
            pattern = getattr(self, field_name)
            if pattern is None:
                continue
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(
                    f"guard rule {self.name!r}: {field_name} regex is invalid: {e}"
                ) from None
        return self


class GuardConfig(_Strict):
    """Predict-before-act guard: before an action runs, the policy predicts its observation
    (greedy by default, at most ``max_prediction_tokens``); a matching rule refuses it."""

    rules: list[GuardRule] = Field(default_factory=list)
    max_prediction_tokens: int = Field(default=64, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)


class RolloutConfig(_Strict):
    group_size: int = Field(default=4, ge=1)
    max_turns: int | None = Field(default=None, ge=1)  # overrides task.max_turns
    max_action_tokens: int = Field(default=64, ge=1)  # per turn
    max_episode_tokens: int = Field(default=1024, ge=16)  # whole transcript
    max_observation_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=1.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    step_timeout_s: float = Field(default=60.0, gt=0)
    num_workers: int = Field(default=4, ge=1)  # environment calls running at once
    # lockstep: every live episode acts together (results depend only on the seed); overlap:
    # generate for ready episodes after waiting at most max_batch_wait_s for slower ones; auto:
    # lockstep when every adapter is deterministic, overlap otherwise (see envlearn.rollout)
    schedule: Literal["auto", "lockstep", "overlap"] = "auto"
    max_batch_wait_s: float = Field(default=0.05, ge=0)
    observation_role: str = "tool"
    guard: GuardConfig = Field(default_factory=GuardConfig)  # no rules: no guard


class OptimConfig(_Strict):
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float | None = Field(default=1.0, gt=0)
    warmup_steps: int = Field(default=0, ge=0)
    schedule: Literal["constant", "cosine"] = "constant"


class TrainConfig(_Strict):
    steps: int = Field(default=10, ge=0)
    tasks_per_step: int = Field(default=4, ge=1)
    micro_batch_size: int = Field(default=8, ge=1)  # transcripts per forward/backward
    sft_epochs_per_step: int = Field(default=1, ge=1)  # sft: passes over the step's oracle batch
    checkpoint_every: int = Field(default=5, ge=1)
    keep_checkpoints: int = Field(default=2, ge=1)
    use_sampler_logprobs: bool = False
    # stop the run when more than this fraction of a step's rollouts failed (infrastructure
    # faults) for max_failed_steps steps in a row
    max_failed_fraction: float = Field(default=0.5, ge=0, le=1)
    max_failed_steps: int = Field(default=3, ge=1)
    # per-step surprise of every rollout (mean CE of each real observation under the policy,
    # one no-grad forward pass per step): logged on the rollouts and as surprise/<domain>
    log_surprise: bool = True
    # deprecated alias of objective.env_channel_weights (moved there when the config is loaded)
    env_channel_weights: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _weights_non_negative(self) -> TrainConfig:
        bad = {k: v for k, v in self.env_channel_weights.items() if v < 0}
        if bad:
            raise ValueError(f"env_channel_weights must be >= 0, got {bad}")
        return self


class EvalConfig(_Strict):
    every: int = Field(default=5, ge=1)
    samples_per_task: int = Field(default=4, ge=1)
    k: int = Field(default=1, ge=1)
    temperature: float = Field(default=1.0, ge=0.0)
    max_tasks: int | None = Field(default=None, ge=1)
    at_start: bool = True
    also_train_split: bool = False  # also score train tasks (logged as kind "eval_train")

    @model_validator(mode="after")
    def _k_le_n(self) -> EvalConfig:
        if self.k > self.samples_per_task:
            raise ValueError(
                f"eval.k={self.k} exceeds eval.samples_per_task={self.samples_per_task}"
            )
        return self


class DiagnosticConfig(_Strict):
    """Held-out env-CE: a fixed set of held-out oracle transcripts scored every N steps."""

    every: int = Field(default=2, ge=1)
    max_transcripts: int = Field(default=32, ge=1)


class RunConfig(_Strict):
    run_dir: str = "runs/run"
    seed: int = 0
    model: ModelConfig = Field(default_factory=ModelConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    tasks: TasksConfig = Field(default_factory=TasksConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    diagnostic: DiagnosticConfig = Field(default_factory=DiagnosticConfig)
    tensorboard: bool = True
    progress: bool = True
    # torch threads per process on CPU: 1 (default: tiny models gain nothing from more, results
    # do not depend on the machine's load, and torch with more threads than free cores is many
    # times slower), a number, or "auto" (the cores not busy now). OMP_NUM_THREADS, when set and
    # this is left at its default, wins.
    cpu_threads: int | Literal["auto"] = 1

    @model_validator(mode="after")
    def _objective_from_run(self) -> RunConfig:
        """Objective settings that come from the rest of the run: per-channel weights given
        under their old place (``train.env_channel_weights``), Dr.GRPO's normaliser (the
        configured maximum completion tokens) and a linear λ decay's length."""
        o, update = self.objective, {}
        if self.train.env_channel_weights:
            if o.env_channel_weights:
                raise ValueError(
                    "per-channel weights are set twice: remove train.env_channel_weights (its "
                    "deprecated place) and keep objective.env_channel_weights"
                )
            warnings.warn(
                "train.env_channel_weights is deprecated; use objective.env_channel_weights",
                DeprecationWarning,
                stacklevel=2,
            )
            update["env_channel_weights"] = dict(self.train.env_channel_weights)
            fields_set_t = set(self.train.model_fields_set) - {"env_channel_weights"}
            train = self.train.model_copy(update={"env_channel_weights": {}})
            object.__setattr__(train, "__pydantic_fields_set__", fields_set_t)
            object.__setattr__(self, "train", train)  # no re-validation of the whole run
        if o.aggregation == "dr_grpo" and o.dr_grpo_norm is None:
            r = self.rollout
            # the most action tokens one sequence can hold
            update["dr_grpo_norm"] = (
                r.max_action_tokens * r.max_turns if r.max_turns else r.max_episode_tokens
            )
        sch = o.env_lambda_schedule
        if sch.kind == "linear" and sch.decay_steps is None:
            steps = max(1, self.train.steps - sch.warmup_steps)
            update["env_lambda_schedule"] = sch.model_copy(update={"decay_steps": steps})
        if update:
            fields_set = set(o.model_fields_set) | ({"env_channel_weights"} & update.keys())
            obj = ObjectiveConfig.model_validate({**o.model_dump(exclude_unset=True), **update})
            object.__setattr__(obj, "__pydantic_fields_set__", fields_set)  # derived: "not set"
            object.__setattr__(self, "objective", obj)  # no re-validation of the whole run
        return self

    @model_validator(mode="after")
    def _temperatures_agree(self) -> RunConfig:
        """The RL term's log-probs must be those of the sampling distribution."""
        sampling = self.rollout.temperature if self.rollout.temperature > 0 else 1.0
        if "temperature" not in self.objective.model_fields_set:
            if self.objective.temperature != sampling:
                self.objective = self.objective.model_copy(update={"temperature": sampling})
        elif self.objective.temperature != sampling and self.objective.mode in ("grpo", "echo"):
            raise ValueError(
                f"objective.temperature={self.objective.temperature} differs from the sampling "
                f"temperature rollout.temperature={self.rollout.temperature}; remove "
                "objective.temperature (it follows the rollout) or make them equal"
            )
        return self


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds (also inside ``X | None``), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def config_keys(model: type[BaseModel] | None = None, prefix: str = "") -> list[str]:
    """Every valid dotted key of a run config (sections and leaves), e.g. ``train.steps``."""
    out: list[str] = []
    for name, f in (model or RunConfig).model_fields.items():
        out.append(prefix + name)
        sub = _model_of(f.annotation)
        if sub is not None:
            out += config_keys(sub, f"{prefix}{name}.")
    return out


def _format_error(e: ValidationError, source: str) -> str:
    lines = [f"invalid config ({source}):"]
    for err in e.errors():
        key = ".".join(str(x) for x in err["loc"]) or "<root>"
        if err["type"] == "extra_forbidden":
            hint = did_you_mean(key, config_keys()) or " (see envlearn/config.py for the keys)"
            lines.append(f"  {key}: unknown key{hint}")
        elif err["type"] == "literal_error":
            choices = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
            hint = did_you_mean(str(err.get("input")), choices)
            lines.append(f"  {key}: {err['msg']} (got {err.get('input')!r}){hint}")
        else:
            got = "" if key == "<root>" else f" (got {err.get('input')!r})"
            lines.append(f"  {key}: {err['msg']}{got}")
    return "\n".join(lines)


def _parse_value(raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (values parsed as YAML) to a nested dict."""
    out = yaml.safe_load(yaml.safe_dump(data)) or {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not KEY=VALUE (e.g. train.steps=20)")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"override key {key!r} is malformed")
        node = out
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {key!r}: {p!r} is a value, not a section")
            node = nxt
        node[parts[-1]] = _parse_value(raw)
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Load a YAML recipe (or defaults), apply overrides, validate."""
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} not found")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections")
        source = str(p)
    if overrides:
        data = apply_overrides(data, overrides)
        source += " + overrides"
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_error(e, source)) from None
