"""``envlearn science``: the paper's four findings, measured small, in one command.

On the procedural terminal task families (``terminal-families-id`` for training and the
in-distribution held-out split, ``terminal-families-ood`` for whole held-out families):

1. SFT warm start on the train seeds' oracle trajectories (shared by every method);
2. from it, per seed: GRPO, ECHO at each λ of ``--lambdas`` and with a λ schedule (linear
   decay from the largest λ to the smallest), and env_only; "SFT-only" is the warm start itself;
3. every model (untrained, SFT, each method × seed) scored on the out-of-distribution families
   (pass@1 and held-out env-CE); the in-distribution numbers come from the runs' own eval and
   diagnostic rows (same settings: greedy, the same tasks).

It reports (a) held-out env-CE under ECHO vs GRPO; (b) steps for ECHO to reach GRPO's best
held-out success; (c) env_only's change in held-out success; (d) ECHO's gain as a fraction of
the SFT gain — each in-distribution (ID) and out-of-distribution (OOD) — as ``science.json``,
``science.md`` (table) and ``science.png`` (curves with the seed spread), plus the usual run
report in ``report/``.  Every stage is resumable: rerunning skips what is done.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from envlearn.config import ConfigError, RunConfig, load_config
from envlearn.demo import RECIPES, _series, run_stage

__all__ = ["cli_science", "method_overrides", "summarize_science"]

SUITE_DIR = RECIPES / "terminal-families"
ID_SUITE, OOD_SUITE = "terminal-families-id", "terminal-families-ood"


def method_overrides(lambdas: list[float]) -> dict[str, tuple[str, list[str]]]:
    """Method name → (recipe, overrides): GRPO, ECHO per λ, ECHO with a schedule, env_only."""
    out: dict[str, tuple[str, list[str]]] = {"grpo": ("tiny_grpo", [])}
    for lam in lambdas:
        out[f"echo_l{lam:g}"] = ("tiny_echo", [f"objective.env_lambda={lam}"])
    if len(lambdas) > 1:
        hi, lo = max(lambdas), min(lambdas)
        out["echo_sched"] = (
            "tiny_echo",
            [
                f"objective.env_lambda={hi}",
                "objective.env_lambda_schedule.kind=linear",
                f"objective.env_lambda_schedule.end={lo}",
            ],
        )
    out["env_only"] = ("tiny_env_only", [])
    return out


def _mean(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def _spread(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    if len(xs) < 2:
        return 0.0
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _score(
    cfg: RunConfig,
    model_dir: Path | None,
    suite: str,
    out: Path,
    model_cfg: RunConfig | None = None,
) -> dict[str, float]:
    """Held-out pass@1 and env-CE of one model on ``suite``, with ``cfg``'s eval, rollout and
    diagnostic settings (``model_cfg``'s model section when given); cached in ``out``."""
    if out.is_file():
        return json.loads(out.read_text())
    from envlearn.resources import run_scope
    from envlearn.trainer import Trainer

    scratch = out.parent / f".scratch_{out.stem}"
    shutil.rmtree(scratch, ignore_errors=True)
    data = cfg.model_dump(exclude_unset=True)  # (a dump of defaults would trip validators)
    data["run_dir"] = str(scratch)
    data["tasks"] = {"suite": suite}
    if model_cfg is not None:
        data["model"] = model_cfg.model.model_dump(exclude_unset=True)
    data.setdefault("model", {})["init_from"] = str(model_dir) if model_dir else None
    data["tensorboard"] = False
    data["progress"] = False
    trainer = Trainer(RunConfig.model_validate(data))
    with run_scope(f"science score {out.stem}"):
        ev = trainer.evaluate()
        diag = trainer.diagnostic()
    domain = trainer.comp.domain
    res = {"pass@1": ev["pass@1"], "reward_mean": ev["reward_mean"],
           "env_ce": diag.get(f"env_ce/{domain}", float("nan")), "tasks": ev["tasks"]}  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res))
    shutil.rmtree(scratch, ignore_errors=True)
    return res


def _steps_to(points: list[tuple[int, float]], target: float) -> int | None:
    hit = [s for s, v in points if v >= target]
    return hit[0] if hit and target > 0 else None


def summarize_science(
    runs: dict[str, list[Path]],
    scores: dict[str, dict[str, float]],
    domain: str = "terminal",
) -> dict[str, Any]:
    """Per method (mean ± sd over seeds) and the four findings, ID and OOD.

    ``scores`` holds OOD results by ``base``, ``sft`` and ``<method>_seed<k>``, and the ID
    result of ``base``; ID numbers of the runs come from their metrics."""
    ce_key = f"env_ce/{domain}"
    per: dict[str, Any] = {}
    for method, dirs in runs.items():
        rows: dict[str, list[float]] = {}
        for k, d in enumerate(dirs):
            p1 = _series(d, "eval", "pass@1")
            ce = _series(d, "diag", ce_key)
            ood = scores.get(f"{method}_seed{k}", {})
            vals = {
                "id_pass1_start": p1[0][1] if p1 else float("nan"),
                "id_pass1_final": p1[-1][1] if p1 else float("nan"),
                "id_pass1_best": max((v for _, v in p1), default=float("nan")),
                "id_env_ce_start": ce[0][1] if ce else float("nan"),
                "id_env_ce_final": ce[-1][1] if ce else float("nan"),
                "ood_pass1_final": ood.get("pass@1", float("nan")),
                "ood_env_ce_final": ood.get("env_ce", float("nan")),
            }
            for key, v in vals.items():
                rows.setdefault(key, []).append(v)
        per[method] = {k: {"mean": _mean(v), "sd": _spread(v), "seeds": v} for k, v in rows.items()}
    base, sft = scores.get("base", {}), scores.get("sft", {})
    base_id = scores.get("base_id", {})
    m = lambda method, key: per.get(method, {}).get(key, {}).get("mean", float("nan"))  # noqa: E731
    sft_id = _mean([m(x, "id_pass1_start") for x in per])  # every run starts from the SFT model
    sft_id_ce = _mean([m(x, "id_env_ce_start") for x in per])
    f: dict[str, Any] = {
        "sft_only": {
            "id_pass1": sft_id,
            "ood_pass1": sft.get("pass@1", float("nan")),
            "id_env_ce": sft_id_ce,
            "ood_env_ce": sft.get("env_ce", float("nan")),
        },
        "untrained": {
            "id_pass1": base_id.get("pass@1", float("nan")),
            "ood_pass1": base.get("pass@1", float("nan")),
            "id_env_ce": base_id.get("env_ce", float("nan")),
            "ood_env_ce": base.get("env_ce", float("nan")),
        },
    }
    echos = [x for x in per if x.startswith("echo")]
    # (a) env-CE: final and change from the SFT start, ECHO ÷ GRPO
    a: dict[str, Any] = {}
    for x in [*echos, "grpo", "env_only"]:
        if x in per:
            a[x] = {
                "id_final": m(x, "id_env_ce_final"),
                "id_change": m(x, "id_env_ce_final") - m(x, "id_env_ce_start"),
                "ood_final": m(x, "ood_env_ce_final"),
                "ood_change": m(x, "ood_env_ce_final") - f["sft_only"]["ood_env_ce"],
            }
    if "grpo" in per:
        for x in echos:
            a[x]["id_ratio_to_grpo"] = a[x]["id_final"] / a["grpo"]["id_final"]
            a[x]["ood_ratio_to_grpo"] = a[x]["ood_final"] / a["grpo"]["ood_final"]
    f["a_env_ce"] = a
    # (b) steps for ECHO to reach GRPO's best held-out (ID) success, seed by seed
    b: dict[str, Any] = {}
    if "grpo" in runs:
        for x in echos:
            pairs = []
            for gd, ed in zip(runs["grpo"], runs[x], strict=False):
                g = _series(gd, "eval", "pass@1")
                target = max((v for _, v in g), default=0.0)
                pairs.append(
                    {
                        "grpo_best": target,
                        "grpo_step": _steps_to(g, target),
                        "echo_step": _steps_to(_series(ed, "eval", "pass@1"), target),
                    }  # fmt: skip
                )
            b[x] = pairs
        b["ood"] = "OOD is scored at the end only: compare ood_pass1_final"
    f["b_steps_to_grpo_best"] = b
    # (c) env_only's change in held-out success
    if "env_only" in per:
        f["c_env_only_change"] = {
            "id": m("env_only", "id_pass1_final") - m("env_only", "id_pass1_start"),
            "ood": m("env_only", "ood_pass1_final") - f["sft_only"]["ood_pass1"],
        }
    # (d) ECHO's gain over SFT as a fraction of SFT's gain over the untrained model
    d: dict[str, Any] = {}
    for x in [*echos, "grpo"]:
        if x in per:
            out = {}
            for split, fin in (("id", "id_pass1_final"), ("ood", "ood_pass1_final")):
                sft_gain = f["sft_only"][f"{split}_pass1"] - f["untrained"][f"{split}_pass1"]
                gain = m(x, fin) - f["sft_only"][f"{split}_pass1"]
                out[split] = {"gain": gain, "sft_gain": sft_gain,
                              "fraction": gain / sft_gain if sft_gain > 0 else None}  # fmt: skip
            d[x] = out
    f["d_gain_over_sft_gain"] = d
    return {"methods": per, "findings": f}


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{100 * v:.1f}%" if pct else f"{v:.3f}"


def science_table(summary: dict[str, Any]) -> str:
    """The markdown table: one row per method (mean ± sd over seeds), then the findings."""
    per, f = summary["methods"], summary["findings"]
    lines = [
        "| method | ID pass@1 start → final (best) | OOD pass@1 final | ID env-CE start → final "
        "| OOD env-CE final |",
        "|---|---|---|---|---|",
        f"| untrained | {_fmt(f['untrained']['id_pass1'], True)} | "
        f"{_fmt(f['untrained']['ood_pass1'], True)} | {_fmt(f['untrained']['id_env_ce'])} | "
        f"{_fmt(f['untrained']['ood_env_ce'])} |",
        f"| SFT only | {_fmt(f['sft_only']['id_pass1'], True)} | "
        f"{_fmt(f['sft_only']['ood_pass1'], True)} | {_fmt(f['sft_only']['id_env_ce'])} | "
        f"{_fmt(f['sft_only']['ood_env_ce'])} |",
    ]

    def ms(x: str, k: str, pct: bool = False) -> str:
        v = per[x][k]
        sd = f" ± {_fmt(v['sd'], pct)}" if len(v["seeds"]) > 1 else ""
        return _fmt(v["mean"], pct) + sd

    for x in per:
        lines.append(
            f"| {x} | {ms(x, 'id_pass1_start', True)} → {ms(x, 'id_pass1_final', True)} "
            f"({ms(x, 'id_pass1_best', True)}) | {ms(x, 'ood_pass1_final', True)} | "
            f"{ms(x, 'id_env_ce_start')} → {ms(x, 'id_env_ce_final')} | "
            f"{ms(x, 'ood_env_ce_final')} |"
        )
    lines += ["", "Findings (means over seeds; ID = new seeds of the train families, OOD = "
              "whole held-out families):", ""]  # fmt: skip
    for x, v in f["a_env_ce"].items():
        ratio = ""
        if "id_ratio_to_grpo" in v:
            ratio = (f"; ÷ GRPO: ID {_fmt(v['id_ratio_to_grpo'])}, "
                     f"OOD {_fmt(v['ood_ratio_to_grpo'])}")  # fmt: skip
        lines.append(
            f"- (a) {x}: held-out env-CE change from the SFT start: ID {_fmt(v['id_change'])}, "
            f"OOD {_fmt(v['ood_change'])} nats/token{ratio}"
        )
    for x, pairs in f["b_steps_to_grpo_best"].items():
        if isinstance(pairs, list):
            txt = ", ".join(
                f"GRPO best {_fmt(p['grpo_best'], True)} at step {p['grpo_step']}, {x} at "
                f"{p['echo_step'] if p['echo_step'] is not None else 'never'}"
                for p in pairs
            )
            lines.append(f"- (b) {x} (ID, per seed): {txt}")
    if "c_env_only_change" in f:
        c = f["c_env_only_change"]
        lines.append(
            f"- (c) env_only's change in held-out pass@1: ID {_fmt(c['id'], True)}, "
            f"OOD {_fmt(c['ood'], True)}"
        )
    for x, v in f["d_gain_over_sft_gain"].items():
        parts = []
        for split in ("id", "ood"):
            s = v[split]
            frac = _fmt(s["fraction"]) if s["fraction"] is not None else "undefined (no SFT gain)"
            parts.append(
                f"{split.upper()} gain {_fmt(s['gain'], True)} / SFT gain "
                f"{_fmt(s['sft_gain'], True)} = {frac}"
            )
        lines.append(f"- (d) {x}: " + "; ".join(parts))
    return "\n".join(lines) + "\n"


def _plot(runs: dict[str, list[Path]], summary: dict[str, Any], path: Path) -> None:
    """ID pass@1 and ID env-CE curves (mean, min–max band over seeds); OOD pass@1 and env-CE
    bars (mean ± sd over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.5))
    for x, dirs in runs.items():
        for ax, kind, key in ((axes[0], "eval", "pass@1"), (axes[1], "diag", "env_ce/terminal")):
            curves = [dict(_series(d, kind, key)) for d in dirs]
            steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
            if not steps:
                continue
            vals = [[c[s] for c in curves] for s in steps]
            ax.plot(steps, [sum(v) / len(v) for v in vals], label=x, marker=".")
            ax.fill_between(steps, [min(v) for v in vals], [max(v) for v in vals], alpha=0.15)
    axes[0].set(title="held-out pass@1, in-distribution", xlabel="RL step")
    axes[1].set(title="held-out env-CE (nats/token), in-distribution", xlabel="RL step")
    per, f = summary["methods"], summary["findings"]
    names = ["SFT only", *per]
    means = [f["sft_only"]["ood_pass1"], *(per[x]["ood_pass1_final"]["mean"] for x in per)]
    errs = [0.0, *(per[x]["ood_pass1_final"]["sd"] for x in per)]
    means = [0.0 if (v is None or math.isnan(v)) else v for v in means]
    axes[2].bar(range(len(names)), means, yerr=errs, capsize=3)
    axes[2].set_xticks(range(len(names)), names, rotation=40, ha="right")
    axes[2].set(title="held-out pass@1, out-of-distribution families (final)")
    ce = [f["sft_only"]["ood_env_ce"], *(per[x]["ood_env_ce_final"]["mean"] for x in per)]
    ce_err = [0.0, *(per[x]["ood_env_ce_final"]["sd"] for x in per)]
    ce = [0.0 if (v is None or math.isnan(v)) else v for v in ce]
    axes[3].bar(range(len(names)), ce, yerr=ce_err, capsize=3, color="tab:orange")
    axes[3].set_xticks(range(len(names)), names, rotation=40, ha="right")
    axes[3].set(title="held-out env-CE, out-of-distribution families (final)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise _UsageError(message)


def _plan(args: argparse.Namespace) -> tuple[list[str], dict[str, Any]]:
    """Every argument and every stage's config checked before any work; (errors, plan)."""
    errors: list[str] = []
    lambdas: list[float] = []
    for raw in args.lambdas.split(","):
        try:
            lam = float(raw)
            if not lam > 0:
                raise ValueError
            lambdas.append(lam)
        except ValueError:
            errors.append(f"--lambdas: {raw!r} is not a positive number (e.g. 0.01,0.03,0.1)")
    if args.seeds < 1:
        errors.append(f"--seeds: must be at least 1 (got {args.seeds})")
    for flag, v in (("--sft-steps", args.sft_steps), ("--rl-steps", args.rl_steps)):
        if v is not None and v < 1:
            errors.append(f"{flag}: must be at least 1 (got {v})")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        errors.append(f"--out: {out} is a file, not a directory")
    for item in args.overrides:
        if "=" not in item:
            errors.append(f"override {item!r} is not KEY=VALUE (e.g. train.steps=20)")
    if errors:
        return errors, {}
    sft_over = [f"run_dir={out / 'sft'}", "progress=false"]
    rl_over = ["progress=false", *args.overrides]
    if args.quick:
        sft_over += ["train.steps=4", "train.checkpoint_every=2", "diagnostic.every=2"]
        rl_over += ["train.steps=2", "train.checkpoint_every=1", "eval.every=1",
                    "eval.max_tasks=2", "diagnostic.every=1", "diagnostic.max_transcripts=4",
                    "rollout.group_size=2", "train.tasks_per_step=2"]  # fmt: skip
    if args.sft_steps:
        sft_over.append(f"train.steps={args.sft_steps}")
    if args.rl_steps:
        rl_over.append(f"train.steps={args.rl_steps}")
    plan: dict[str, Any] = {"lambdas": lambdas, "rl": []}

    def load(recipe: str, over: list[str]) -> RunConfig | None:
        try:
            return load_config(SUITE_DIR / f"{recipe}.yaml", over)
        except ConfigError as e:
            for ln in str(e).splitlines()[1:] or [str(e)]:
                if ln.strip() not in errors:
                    errors.append(ln.strip())
            return None

    plan["sft"] = load("tiny_sft", sft_over)
    for seed in range(args.seeds):
        for method, (recipe, extra) in method_overrides(lambdas).items():
            cfg = load(recipe, [*rl_over, *extra, f"run_dir={out / f'{method}_seed{seed}'}",
                                f"model.init_from={out / 'sft' / 'model'}", f"seed={seed}"])  # fmt: skip
            if cfg is not None:
                plan["rl"].append((method, seed, cfg))
    return errors, plan


def _load_line() -> str:
    try:
        la = os.getloadavg()
    except OSError:
        return "load unknown"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"load average {la[0]:.1f}/{la[1]:.1f}/{la[2]:.1f} on {cores} cores"


def cli_science(argv: list[str]) -> int:
    """``envlearn science [--out DIR] [--seeds N] [--lambdas 0.01,0.03,0.1] [--quick] [k=v ...]``."""
    from rich.console import Console

    from envlearn.metrics import interrupted_line
    from envlearn.report import cli_report

    p = _Parser(prog="envlearn science", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--out", default="runs/science", help="where the runs and the report go")
    p.add_argument("--seeds", type=int, default=3, help="RL seeds per method (1 for a quick run)")
    p.add_argument("--lambdas", default="0.01,0.03,0.1", help="ECHO λ values (comma list)")
    p.add_argument("--sft-steps", type=int, default=None)
    p.add_argument("--rl-steps", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="a few steps of each stage (smoke test)")
    p.add_argument("overrides", nargs="*", help="dotted overrides applied to the RL stages")
    try:
        args = p.parse_intermixed_args(argv)
    except _UsageError as e:
        print(f"envlearn science: error: {e} (see envlearn science --help)", file=sys.stderr)
        return 2
    errors, plan = _plan(args)
    if errors or plan.get("sft") is None:
        for line in errors:
            print(f"envlearn science: error: {line}", file=sys.stderr)
        return 2
    import torch

    from envlearn.model_prep import free_cores

    torch.set_num_threads(free_cores())
    console = Console(highlight=False, soft_wrap=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    load0 = _load_line()
    methods = list(method_overrides(plan["lambdas"]))
    console.print(
        f"[bold]envlearn science[/]: SFT on the train families' oracles, then "
        f"{', '.join(methods)} × {args.seeds} seed(s), scored in- and out-of-distribution; "
        f"runs in {out}/ ({load0}, torch threads {torch.get_num_threads()})"
    )
    runs: dict[str, list[Path]] = {m: [] for m in methods}
    timings: dict[str, float] = {}
    active: dict[str, Any] = {}
    try:
        ts = time.monotonic()
        run_stage(plan["sft"], "1. SFT warm start", console, active)
        timings["sft"] = time.monotonic() - ts
        for method, seed, cfg in plan["rl"]:
            ts = time.monotonic()
            runs[method].append(run_stage(cfg, f"2. {method} seed {seed}", console, active))
            timings[f"{method}_seed{seed}"] = time.monotonic() - ts
        console.rule("3. scoring (untrained, SFT, every final model) on held-out families")
        ts = time.monotonic()
        score_cfg = plan["rl"][0][2]
        sdir = out / "scores"
        scores = {
            "base": _score(score_cfg, None, OOD_SUITE, sdir / "base.json", plan["sft"]),
            "base_id": _score(score_cfg, None, ID_SUITE, sdir / "base_id.json", plan["sft"]),
            "sft": _score(score_cfg, out / "sft" / "model", OOD_SUITE, sdir / "sft.json"),
        }
        for method, dirs in runs.items():
            for k, d in enumerate(dirs):
                name = f"{method}_seed{k}"
                scores[name] = _score(score_cfg, d / "model", OOD_SUITE, sdir / f"{name}.json")
        timings["scoring"] = time.monotonic() - ts
    except KeyboardInterrupt:
        trainer = active.get("trainer")
        print(interrupted_line(trainer.step if trainer else 0), file=sys.stderr)
        return 130
    summary = summarize_science(runs, scores)
    total = time.monotonic() - t0
    summary["settings"] = {
        "seeds": args.seeds, "lambdas": plan["lambdas"], "quick": args.quick,
        "overrides": args.overrides, "sft_steps": plan["sft"].train.steps,
        "rl_steps": score_cfg.train.steps, "wall_s": total, "stage_wall_s": timings,
        "load_at_start": load0, "load_at_end": _load_line(),
        "torch_threads": torch.get_num_threads(),
    }  # fmt: skip
    (out / "science.json").write_text(json.dumps(summary, indent=1))
    table = science_table(summary)
    (out / "science.md").write_text(
        f"# envlearn science\n\n{table}\nWall time {total / 60:.1f} min ({load0} at the start, "
        f"{summary['settings']['load_at_end']} at the end).\n"
    )
    try:
        _plot(runs, summary, out / "science.png")
    except ImportError:
        console.print("[yellow]matplotlib missing: no science.png (pip install -e '.[report]')")
    cli_report([str(d) for ds in runs.values() for d in ds] + ["--out", str(out / "report")])
    console.rule("science")
    console.print(table)
    console.print(f"{out / 'science.md'}, {out / 'science.png'}  ({total / 60:.1f} min in all)")
    return 0
