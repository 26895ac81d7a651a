"""``envlearn demo``: the main job.  SFT warm start → GRPO and ECHO from that checkpoint with the
same seeds → a report comparing them.

Every stage is a normal run directory under ``--out``; rerunning the demo skips finished stages
and resumes an interrupted one from its last checkpoint, so a killed demo loses nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from envlearn.config import ConfigError, RunConfig, load_config
from envlearn.suggest import did_you_mean

RECIPES = Path(__file__).resolve().parent.parent / "recipes"

__all__ = ["cli_demo", "run_stage", "summarize_comparison"]


def _finished(run_dir: Path, steps: int) -> bool:
    state = sorted((run_dir / "checkpoints").glob("step_?????/trainer_state.json"))
    return bool(state) and json.loads(state[-1].read_text())["step"] >= steps


def run_stage(
    cfg: RunConfig, label: str, console: Any, active: dict[str, Any] | None = None
) -> Path:
    """Train one stage unless it already finished; resume it if it was interrupted.
    ``active["trainer"]`` holds the stage's trainer while it runs (for the Ctrl-C line)."""
    from envlearn.trainer import Trainer

    run_dir = Path(cfg.run_dir)
    if _finished(run_dir, cfg.train.steps):
        console.print(f"[green]✓[/] {label}: already done ({run_dir})")
        return run_dir
    resume = any((run_dir / "checkpoints").glob("step_?????"))
    if not resume and run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)  # a stage that died before its first checkpoint starts over
    console.rule(f"{label}  →  {run_dir}")
    t0 = time.monotonic()
    trainer = Trainer(cfg, resume=resume, console=console)
    if active is not None:
        active["trainer"] = trainer
    trainer.train()
    console.print(f"[green]✓[/] {label}: {cfg.train.steps} steps in {time.monotonic() - t0:.0f} s")
    return run_dir


def _series(run_dir: Path, kind: str, key: str) -> list[tuple[int, float]]:
    """(step, value) of one metric, read by the report's own loader."""
    from envlearn.report import load_run

    return [(int(s), v) for s, _, v in load_run(run_dir).series.get((kind, key), [])]


def summarize_comparison(runs: dict[str, list[Path]], domain: str) -> dict[str, Any]:
    """The paper's three findings, measured small: per method, mean over seeds.

    - best held-out pass@1 and the first step reaching GRPO's best (steps-to-match);
    - final held-out env-CE, and ECHO ÷ GRPO;
    - env_only's held-out pass@1 at the end vs. at the start.
    """
    out: dict[str, Any] = {}
    ce_key = f"env_ce/{domain}"
    for method, dirs in runs.items():
        finals, bests, starts, ends, train_r = [], [], [], [], []
        for d in dirs:
            ce = _series(d, "diag", ce_key)
            p1 = _series(d, "eval", "pass@1")
            rw = _series(d, "train", "reward_mean")
            if ce:
                finals.append(ce[-1][1])
            if p1:
                bests.append(max(v for _, v in p1))
                starts.append(p1[0][1])
                ends.append(p1[-1][1])
            if rw:
                tail = [v for _, v in rw[-5:]]
                train_r.append(sum(tail) / len(tail))
        mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
        out[method] = {
            "seeds": len(dirs),
            "final_heldout_env_ce": mean(finals),
            "best_heldout_pass@1": mean(bests),
            "start_heldout_pass@1": mean(starts),
            "final_heldout_pass@1": mean(ends),
            "train_reward_last5": mean(train_r),
        }
    if "grpo" in runs and "echo" in runs:
        g, e = out["grpo"], out["echo"]
        out["echo_over_grpo_final_env_ce"] = e["final_heldout_env_ce"] / g["final_heldout_env_ce"]
        steps_to_match = []
        for gd, ed in zip(runs["grpo"], runs["echo"], strict=False):
            target = max((v for _, v in _series(gd, "eval", "pass@1")), default=0.0)
            hit = [s for s, v in _series(ed, "eval", "pass@1") if v >= target and target > 0]
            gbest = [s for s, v in _series(gd, "eval", "pass@1") if v >= target and target > 0]
            steps_to_match.append(
                {
                    "grpo_best": target,
                    "grpo_step": gbest[0] if gbest else None,
                    "echo_step": hit[0] if hit else None,
                }
            )
        out["steps_to_match_grpo_best"] = steps_to_match
    return out


METHODS = ("grpo", "echo", "env_only")


class DemoUsageError(Exception):
    """A demo argument argparse itself rejects (a bad number, an unknown option)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, not usage + error
        raise DemoUsageError(message)


def _demo_suites() -> list[str]:
    """Suites with demo recipes (``recipes/<suite>/tiny_sft.yaml``)."""
    if not RECIPES.is_dir():
        return []
    return sorted(d.name for d in RECIPES.iterdir() if (d / "tiny_sft.yaml").is_file())


def _config_errors(e: ConfigError) -> list[str]:
    """A ConfigError's problems, one line each (its first line only names the source)."""
    lines = str(e).splitlines()
    return [ln.strip() for ln in lines[1:]] if len(lines) > 1 else [lines[0]]


def plan_demo(
    args: argparse.Namespace,
) -> tuple[list[str], RunConfig | None, list[tuple[str, int, RunConfig]]]:
    """Validate every argument and load every stage's config before any work starts.

    Returns ``(errors, sft_config, [(method, seed, config)])``; ``errors`` has one line per
    problem and is empty when all is well.
    """
    errors: list[str] = []
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    choose = f"(choose from {', '.join(METHODS)})"
    if not methods:
        errors.append(f"--methods: no method given {choose}")
    for m in methods:
        if m not in METHODS:
            errors.append(f"--methods: unknown method {m!r}{did_you_mean(m, METHODS)} {choose}")
    dupes = sorted({m for m in methods if methods.count(m) > 1})
    if dupes:
        errors.append(f"--methods: {', '.join(dupes)} given twice")
    suites = _demo_suites()
    if args.suite not in suites:
        known = ", ".join(suites) or "none: run the demo from an envlearn checkout"
        errors.append(
            f"--suite: no demo recipes for {args.suite!r}{did_you_mean(args.suite, suites)} "
            f"(suites with recipes/<suite>/tiny_sft.yaml: {known})"
        )
    if args.seeds < 1:
        errors.append(f"--seeds: must be at least 1 (got {args.seeds})")
    for flag, value in (("--sft-steps", args.sft_steps), ("--rl-steps", args.rl_steps)):
        if value is not None and value < 1:
            errors.append(f"{flag}: must be at least 1 (got {value})")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        errors.append(f"--out: {out} is a file, not a directory")
    for item in args.overrides:
        if "=" not in item:
            errors.append(f"override {item!r} is not KEY=VALUE (e.g. train.steps=20)")
    if args.suite not in suites or any("=" not in item for item in args.overrides):
        return errors, None, []
    methods = [m for m in dict.fromkeys(methods) if m in METHODS]  # check the valid ones' configs

    sft_over = [f"run_dir={out / 'sft'}"]
    rl_over: list[str] = list(args.overrides)
    if args.quick:
        sft_over += ["train.steps=4", "train.checkpoint_every=2", "diagnostic.every=2"]
        rl_over += [
            "train.steps=2",
            "train.checkpoint_every=1",
            "eval.every=2",
            "eval.max_tasks=2",
            "eval.samples_per_task=1",
            "diagnostic.every=1",
            "diagnostic.max_transcripts=4",
            "rollout.group_size=2",
            "rollout.max_action_tokens=32",
            "train.tasks_per_step=2",
        ]
    if args.sft_steps is not None and args.sft_steps >= 1:
        sft_over.append(f"train.steps={args.sft_steps}")
    if args.rl_steps is not None and args.rl_steps >= 1:
        rl_over.append(f"train.steps={args.rl_steps}")

    def load(method: str, overrides: list[str]) -> RunConfig | None:
        path = RECIPES / args.suite / f"tiny_{method}.yaml"
        if not path.is_file():
            errors.append(f"--methods: {method} has no recipe {path}")
            return None
        try:
            return load_config(path, overrides)
        except ConfigError as e:
            errors.extend(x for x in _config_errors(e) if x not in errors)
            return None

    sft_cfg = load("sft", sft_over)
    rl_cfgs = []
    for seed in range(max(1, args.seeds)):
        for m in methods:
            over = [
                *rl_over,
                f"run_dir={out / f'{m}_seed{seed}'}",
                f"model.init_from={out / 'sft' / 'model'}",
                f"seed={seed}",
            ]
            cfg = load(m, over)
            if cfg is not None:
                rl_cfgs.append((m, seed, cfg))
    if sft_cfg is not None:
        from envlearn.plugins import get_task_suites

        registered = get_task_suites()
        if sft_cfg.tasks.suite not in registered:
            errors.append(
                f"tasks.suite={sft_cfg.tasks.suite!r} is not registered"
                f"{did_you_mean(sft_cfg.tasks.suite, registered)}; install its adapter plugin "
                "(see `envlearn adapters`)"
            )
    return errors, sft_cfg, rl_cfgs


def cli_demo(argv: list[str]) -> int:
    """``envlearn demo [--out DIR] [--seeds N] [--methods grpo,echo] [--quick] [key=value ...]``."""
    from rich.console import Console

    from envlearn.metrics import interrupted_line
    from envlearn.report import cli_report

    p = _Parser(prog="envlearn demo", description=__doc__)
    p.add_argument("--out", default="runs/demo", help="where the runs and the report go")
    p.add_argument("--suite", default="terminal", help="recipes/<suite>/tiny_*.yaml to use")
    p.add_argument("--seeds", type=int, default=1, help="GRPO/ECHO seeds (the SFT start is shared)")
    p.add_argument("--methods", default="grpo,echo", help="comma list of grpo,echo,env_only")
    p.add_argument("--sft-steps", type=int, default=None)
    p.add_argument("--rl-steps", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="a few steps of each stage (smoke test)")
    p.add_argument("overrides", nargs="*", help="dotted overrides applied to the RL stages")
    try:
        args = p.parse_intermixed_args(argv)
    except DemoUsageError as e:
        print(f"envlearn demo: error: {e} (see envlearn demo --help)", file=sys.stderr)
        return 2
    errors, sft_cfg, rl_cfgs = plan_demo(args)
    if errors or sft_cfg is None:
        for line in errors:
            print(f"envlearn demo: error: {line}", file=sys.stderr)
        return 2
    console = Console(highlight=False, soft_wrap=True)
    out = Path(args.out)
    t0 = time.monotonic()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    console.print(
        f"[bold]envlearn demo[/]: SFT warm start on the {args.suite} suite's oracle trajectories, "
        f"then {' and '.join(methods)} from that checkpoint, {args.seeds} seed(s); runs in {out}/"
    )
    active: dict[str, Any] = {}
    runs: dict[str, list[Path]] = {m: [] for m in methods}
    try:
        run_stage(sft_cfg, "1. SFT warm start", console, active)
        for method, seed, cfg in rl_cfgs:
            label = f"2. {method.upper()} seed {seed}"
            runs[method].append(run_stage(cfg, label, console, active))
    except KeyboardInterrupt:
        trainer = active.get("trainer")
        print(interrupted_line(trainer.step if trainer else 0), file=sys.stderr)
        return 130
    report_dir = out / "report"
    cli_report([str(d) for ds in runs.values() for d in ds] + ["--out", str(report_dir)])
    from envlearn.plugins import get_task_suites

    domain = get_task_suites()[sft_cfg.tasks.suite].adapter
    summary = summarize_comparison(runs, domain)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    console.rule("summary")
    console.print_json(json.dumps(summary))
    console.print(f"report: {report_dir / 'report.html'}  ({time.monotonic() - t0:.0f} s in all)")
    return 0
