"""Policies: prompt token ids in, sampled action token ids (with their log-probs) out.

* :class:`HFPolicy` -- transformers ``generate`` in this process (CPU or GPU); the reference.
* :class:`OpenAICompatiblePolicy` -- any OpenAI-compatible server (vLLM, SGLang, ...).
* ``VLLMPolicy`` (``envlearn.policies.vllm``) -- vLLM in this process; needs a CUDA GPU.

A run's policy is built from its config by ``envlearn.wiring.build_policy``.
"""

from __future__ import annotations

from envlearn.policies.base import Generation, Policy, PolicyError, SamplingParams
from envlearn.policies.hf import HFPolicy
from envlearn.policies.openai import OpenAICompatiblePolicy

__all__ = [
    "Generation",
    "HFPolicy",
    "OpenAICompatiblePolicy",
    "Policy",
    "PolicyError",
    "SamplingParams",
]
