"""LoRA through peft: wrap a model with adapters, and read back merged weights.

``model.lora: {r, alpha, dropout, target_modules}`` in a recipe makes ``wiring.build_model``
return a ``peft.PeftModel``; everything else keeps working on it: the chunked log-prob head
(``envlearn.logprobs`` reaches the decoder and the frozen lm_head through peft), the KL reference
(the same model with its adapters disabled: ``Trainer._ref_logprobs``), checkpoints and
``--resume`` (accelerate saves the full state dict), several processes (only trainable
parameters are averaged), and vLLM weight sync (``merged_state_dict``: base + scale·B·A, under
the base model's Hugging Face names).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["apply_lora", "is_peft", "merged_state_dict"]


def is_peft(model: Any) -> bool:
    """Whether ``model`` is a peft model (has adapters)."""
    return bool(getattr(model, "peft_config", None))


def apply_lora(
    model: torch.nn.Module,
    *,
    r: int,
    alpha: float,
    dropout: float,
    target_modules: list[str] | str,
) -> Any:
    """``model`` with LoRA adapters on ``target_modules`` (peft's ``get_peft_model``); only the
    adapters train.  The lm_head cannot be a target: the chunked head applies its plain weight."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as e:  # pragma: no cover - peft is a declared dependency
        raise ImportError(
            "model.lora needs peft: pip install 'envlearn[lora]' (or pip install peft)"
        ) from e
    targets = [target_modules] if isinstance(target_modules, str) else list(target_modules)
    if any(t == "lm_head" or t.endswith(".lm_head") for t in targets):
        raise ValueError(
            "model.lora.target_modules must not include lm_head: the chunked log-prob head "
            "applies the plain head weight (use e.g. 'all-linear', which leaves the head out)"
        )
    cfg = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, cfg)


@torch.no_grad()
def merged_state_dict(model: Any) -> dict[str, torch.Tensor]:
    """The weights a plain model would hold with the adapters merged (``W + scale · B @ A``),
    named as the base model names them; ``model`` itself is left unchanged."""
    from peft.tuners.lora import LoraLayer

    base = model.get_base_model()
    deltas: dict[str, torch.Tensor] = {}
    for name, module in base.named_modules():
        if isinstance(module, LoraLayer) and not getattr(module, "merged", False):
            for adapter in module.active_adapters:
                if adapter in module.lora_A:
                    d = module.get_delta_weight(adapter)
                    deltas[f"{name}.weight"] = deltas.get(f"{name}.weight", 0) + d
    out: dict[str, torch.Tensor] = {}
    for key, value in base.state_dict().items():
        if ".lora_" in key:
            continue
        key = key.replace(".base_layer.", ".")
        out[key] = value + deltas[key].to(value.dtype) if key in deltas else value
    return out
