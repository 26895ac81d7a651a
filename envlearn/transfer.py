"""``envlearn transfer RECIPE``: does learning one domain's dynamics help predict another's?

A transfer recipe names a training recipe (``base``), the suites to train on (``sources``: one
checkpoint each, or a given checkpoint) and the suites to score (``targets``)::

    # envlearn transfer recipes/cross_domain/tiny_transfer.yaml
    base: ../toy/tiny_echo.yaml          # each source run is this recipe on the source suite
    out: runs/transfer
    sources: [terminal, http]
    targets: [terminal, http, toy]
    overrides: [train.steps=20]          # applied to every source run
    checkpoints: {}                      # optional {suite: model dir}: take instead of train
    eval: {samples_per_task: 2, max_tasks: 6}

Stages, each resumable like the demo's (a finished stage is skipped, an interrupted training
resumes from its checkpoint, a finished score is read back): train every source; then score the
initial model and every source checkpoint on every target: held-out env-CE (nats/token, the
diagnostic on the target's held-out oracle transcripts), per-step surprise, and held-out pass@1.
Writes ``transfer.json``, ``transfer.csv`` and ``transfer.png`` (heatmaps: env-CE and pass@1,
sources × targets, the initial model as the first row) to ``out``.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from envlearn.config import ConfigError, RunConfig, load_config

__all__ = ["TransferRecipe", "cli_transfer", "run_transfer"]

INITIAL = "initial"


class TransferEval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    samples_per_task: int = Field(default=2, ge=1)
    max_tasks: int | None = Field(default=6, ge=1)
    max_transcripts: int = Field(default=16, ge=1)


class TransferRecipe(BaseModel):
    """What ``envlearn transfer`` runs; paths are relative to the recipe's folder."""

    model_config = ConfigDict(extra="forbid")

    base: str
    out: str = "runs/transfer"
    sources: list[str] = Field(min_length=1)
    targets: list[str] = Field(min_length=1)
    overrides: list[str] = Field(default_factory=list)
    checkpoints: dict[str, str] = Field(default_factory=dict)
    eval: TransferEval = Field(default_factory=TransferEval)


def load_transfer_recipe(path: str | Path) -> tuple[TransferRecipe, Path]:
    """The recipe and the base training recipe's resolved path; one clear error otherwise."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"transfer recipe {str(p)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
        recipe = TransferRecipe.model_validate(data)
    except (yaml.YAMLError, ValidationError) as e:
        raise ConfigError(f"invalid transfer recipe {str(p)!r}: {e}") from None
    base = (p.parent / recipe.base).resolve()
    if not base.exists():
        raise ConfigError(f"transfer recipe {str(p)!r}: base recipe {recipe.base!r} not found")
    return recipe, base


def _source_config(recipe: TransferRecipe, base: Path, source: str, out: Path) -> RunConfig:
    return load_config(
        base,
        [
            *recipe.overrides,
            f"tasks.suite={source}",
            f"run_dir={out / f'source_{source}'}",
            "eval.at_start=false",
        ],
    )


def _score(
    recipe: TransferRecipe, base: Path, model_dir: str | None, target: str, out: Path
) -> dict[str, Any]:
    """Held-out env-CE, surprise and pass@1 of one model on one target suite."""
    from envlearn.resources import run_scope
    from envlearn.trainer import Trainer

    run_dir = out / "scratch"
    shutil.rmtree(run_dir, ignore_errors=True)
    overrides = [
        *recipe.overrides,
        f"tasks.suite={target}",
        f"run_dir={run_dir}",
        f"eval.samples_per_task={recipe.eval.samples_per_task}",
        f"diagnostic.max_transcripts={recipe.eval.max_transcripts}",
        "eval.k=1",
        "tensorboard=false",
        "progress=false",
    ]
    if recipe.eval.max_tasks:
        overrides.append(f"eval.max_tasks={recipe.eval.max_tasks}")
    if model_dir is not None:
        overrides.append(f"model.init_from={model_dir}")
    cfg = load_config(base, overrides)
    trainer = Trainer(cfg)
    with run_scope(f"transfer score {target}"):
        ev = trainer.evaluate()
        diag = trainer.diagnostic()
    shutil.rmtree(run_dir, ignore_errors=True)
    dom = trainer.comp.domain
    return {
        "env_ce": diag.get(f"env_ce/{dom}"),
        "surprise": diag.get(f"surprise/{dom}"),
        "pass@1": ev["pass@1"],
        "reward_mean": ev["reward_mean"],
        "failed": ev["failed"],
        "domain": dom,
    }


def run_transfer(path: str | Path, *, out: str | None = None, console: Any = None) -> Path:
    """Run (or resume) every stage; returns the output folder."""
    from envlearn.demo import run_stage
    from envlearn.metrics import make_console

    console = console or make_console()
    recipe, base = load_transfer_recipe(path)
    outdir = Path(out or recipe.out)
    outdir.mkdir(parents=True, exist_ok=True)
    models: dict[str, str | None] = {INITIAL: None}
    base_cfg = load_config(base, list(recipe.overrides))
    if base_cfg.model.init_from:
        models[INITIAL] = base_cfg.model.init_from
    for source in recipe.sources:
        if source in recipe.checkpoints:
            models[source] = recipe.checkpoints[source]
            continue
        cfg = _source_config(recipe, base, source, outdir)
        run_stage(cfg, f"train on {source}", console)
        models[source] = str(Path(cfg.run_dir) / "model")
    scores_dir = outdir / "scores"
    scores_dir.mkdir(exist_ok=True)
    rows = []
    for name, model_dir in models.items():
        for target in recipe.targets:
            cache = scores_dir / f"{name}__{target}.json"
            if cache.exists():
                score = json.loads(cache.read_text())
                console.print(f"✓ score {name} on {target}: already done")
            else:
                console.print(f"scoring {name} on {target} ...")
                score = _score(recipe, base, model_dir, target, outdir)
                cache.write_text(json.dumps(score))
            rows.append({"source": name, "target": target, **score})
    (outdir / "transfer.json").write_text(json.dumps({"rows": rows}, indent=1))
    with (outdir / "transfer.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    _heatmap(rows, list(models), recipe.targets, outdir / "transfer.png")
    console.print(f"transfer matrix: {outdir / 'transfer.csv'}, heatmap: {outdir / 'transfer.png'}")
    return outdir


def _heatmap(
    rows: list[dict[str, Any]], sources: list[str], targets: list[str], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(5.5 + 1.6 * len(targets), 1.6 + 0.7 * len(sources)))
    for ax, key, label, cmap in (
        (axes[0], "env_ce", "held-out env-CE (nats/token, lower is better)", "viridis_r"),
        (axes[1], "pass@1", "held-out pass@1 (higher is better)", "viridis"),
    ):
        grid = [
            [
                next(
                    (r[key] for r in rows if r["source"] == s and r["target"] == t),
                    float("nan"),
                )
                for t in targets
            ]
            for s in sources
        ]
        vals = [[float("nan") if v is None else float(v) for v in row] for row in grid]
        im = ax.imshow(vals, cmap=cmap, aspect="auto")
        ax.set_xticks(range(len(targets)), targets)
        ax.set_yticks(
            range(len(sources)), [f"trained on {s}" if s != INITIAL else s for s in sources]
        )
        ax.set_xlabel("target domain (scored on its held-out tasks)")
        ax.set_title(label, fontsize=9)
        for i, row in enumerate(vals):
            for j, v in enumerate(row):
                ax.text(j, i, "n/a" if v != v else f"{v:.2f}", ha="center", va="center", color="w")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cli_transfer(argv: list[str]) -> int:
    """``envlearn transfer RECIPE [--out DIR]``: the transfer matrix between domains."""
    p = argparse.ArgumentParser(prog="envlearn transfer", description=cli_transfer.__doc__)
    p.add_argument("recipe", help="a transfer recipe (see recipes/cross_domain/)")
    p.add_argument("--out", default=None, help="output folder (default: the recipe's out)")
    args = p.parse_args(argv)
    try:
        run_transfer(args.recipe, out=args.out)
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"envlearn transfer: {e}", file=sys.stderr)
        return 2
    return 0
