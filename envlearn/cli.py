"""``envlearn`` command line: the top layer; nothing in envlearn imports it.

A subcommand is ``main(argv: list[str]) -> int`` that parses its own arguments.  ``train``,
``eval``, ``rollout`` and ``adapters`` live here; ``report``, ``check``, ``new-adapter`` and
``demo`` live with the tool they drive; plugins add more through the ``register_commands`` hook.
Heavy imports (torch, transformers) happen inside the commands, so ``envlearn --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
from pathlib import Path

from envlearn.config import ConfigError, load_config
from envlearn.suggest import did_you_mean

# name -> (module, function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "train": ("envlearn.cli", "cli_train", "train a recipe (YAML) with dotted overrides"),
    "eval": ("envlearn.cli", "cli_eval", "pass@k of a checkpoint on held-out tasks"),
    "rollout": ("envlearn.cli", "cli_rollout", "collect rollouts to JSONL"),
    "report": ("envlearn.report", "cli_report", "PNG + HTML report of one or more runs"),
    "adapters": ("envlearn.cli", "cli_adapters", "list registered adapters and task suites"),
    "check": ("envlearn.testing.runner", "cli_check", "run conformance checks on an adapter"),
    "new-adapter": ("envlearn.testing.template", "cli_new_adapter", "start a new adapter plugin"),
    "demo": ("envlearn.demo", "cli_demo", "SFT warm start, then GRPO vs ECHO, then a report"),
    "transfer": ("envlearn.transfer", "cli_transfer", "train per domain, score every domain"),
    "model": ("envlearn.model_prep", "cli_model", "prepare a pretrained model for offline use"),
    "science": ("envlearn.science", "cli_science", "the paper's four findings on task families"),
}


def cli_adapters(argv: list[str]) -> int:
    import argparse

    from envlearn.plugins import get_adapters, get_task_suites

    p = argparse.ArgumentParser(prog="envlearn adapters", description="list adapters and suites")
    p.parse_args(argv)
    adapters = get_adapters()
    suites = get_task_suites()
    print("adapters:")
    for a in sorted(adapters.values(), key=lambda a: a.name):
        print(f"  {a.name:<12} {a.description}  [{a.plugin}]")
    print("task suites:")
    for s in sorted(suites.values(), key=lambda s: s.name):
        print(f"  {s.name:<12} adapter={s.adapter:<10} {s.description}  [{s.plugin}]")
    return 0


NO_RECIPE = (
    "envlearn train: no recipe given; pass a recipe YAML first, e.g. "
    "`envlearn train recipes/toy/tiny_echo.yaml train.steps=3` (or start from the defaults by "
    "naming the tasks: tasks.suite=NAME)"
)


def _split_args(recipe: str | None, overrides: list[str]) -> tuple[str | None, list[str]]:
    if recipe is not None and "=" in recipe and not recipe.endswith((".yaml", ".yml")):
        return None, [recipe, *overrides]
    return recipe, overrides


def cli_train(argv: list[str]) -> int:
    """``envlearn train RECIPE [key=value ...] [--resume]``."""
    p = argparse.ArgumentParser(prog="envlearn train", description="train a recipe")
    p.add_argument("recipe", nargs="?", help="recipe YAML (see recipes/)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.steps=20")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    args = p.parse_intermixed_args(argv)
    recipe, overrides = _split_args(args.recipe, args.overrides)
    keys = {o.split("=", 1)[0].strip() for o in overrides}
    if recipe is None and not keys & {"tasks.suite", "tasks.mixture"}:
        print(NO_RECIPE, file=sys.stderr)  # a default run on some default suite helps nobody
        return 2
    try:
        cfg = load_config(recipe, overrides)
    except ConfigError as e:
        print(f"envlearn train: {e}", file=sys.stderr)
        return 2
    from envlearn.health import RunStopped
    from envlearn.metrics import fmt_row, interrupted_line
    from envlearn.trainer import Trainer

    trainer = None
    try:
        try:
            trainer = Trainer(cfg, resume=args.resume)
        except (FileExistsError, FileNotFoundError, ValueError) as e:
            print(f"envlearn train: {e}", file=sys.stderr)
            return 2
        last = trainer.train()
    except KeyboardInterrupt:
        step = trainer.step if trainer else 0
        print(interrupted_line(step, resume_flag=not args.resume), file=sys.stderr)
        return 130
    except RunStopped as e:  # too many failed rollouts, a checkpoint that cannot be written
        print(f"envlearn train: {e}", file=sys.stderr)
        return 1
    print(f"done: {cfg.run_dir} step {trainer.step}  {fmt_row(last)}")
    return 0


def cli_eval(argv: list[str]) -> int:
    """``envlearn eval RECIPE [key=value ...] [--checkpoint DIR]``: pass@k on held-out tasks."""
    p = argparse.ArgumentParser(prog="envlearn eval", description="evaluate a model")
    p.add_argument("recipe", nargs="?")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--checkpoint", default=None, help="a model dir (RUN_DIR/model)")
    args = p.parse_intermixed_args(argv)
    recipe, overrides = _split_args(args.recipe, args.overrides)
    if args.checkpoint:
        overrides.append(f"model.init_from={args.checkpoint}")
    cfg = load_config(recipe, overrides)
    cfg.run_dir = str(Path(cfg.run_dir) / "eval")
    shutil.rmtree(cfg.run_dir, ignore_errors=True)
    from envlearn.resources import run_scope
    from envlearn.trainer import Trainer

    try:
        trainer = Trainer(cfg)
    except (FileNotFoundError, ValueError) as e:
        print(f"envlearn eval: {e}", file=sys.stderr)
        return 2
    with run_scope("eval"):
        ev = trainer.evaluate()
        diag = trainer.diagnostic()
    print(json.dumps({**ev, **{k: v for k, v in diag.items() if k.startswith("env_ce")}}, indent=1))
    return 0


def cli_rollout(argv: list[str]) -> int:
    """``envlearn rollout RECIPE [--oracle] [--out FILE] [key=value ...]``: collect rollouts."""
    p = argparse.ArgumentParser(prog="envlearn rollout", description=cli_rollout.__doc__)
    p.add_argument("recipe", nargs="?", help="a recipe YAML (defaults otherwise)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. rollout.group_size=2")
    p.add_argument("--split", default="train", choices=["train", "heldout"])
    p.add_argument("--oracle", action="store_true", help="replay task oracles instead of the model")
    p.add_argument("--out", default=None, help="JSONL output (default RUN_DIR/rollouts.jsonl)")
    p.add_argument("--limit", type=int, default=None, help="only the first N tasks")
    args = p.parse_intermixed_args(argv)
    recipe, overrides = args.recipe, list(args.overrides)
    if recipe and "=" in recipe:
        overrides.insert(0, recipe)
        recipe = None
    from envlearn.resources import run_scope
    from envlearn.rollout import oracle_rollouts, run_rollouts, save_rollouts
    from envlearn.wiring import build_components

    try:
        comp = build_components(recipe, overrides, with_model=not args.oracle)
        tasks = comp.tasks(args.split)[: args.limit]
    except ValueError as e:
        print(f"envlearn rollout: {e}", file=sys.stderr)
        return 2
    with run_scope("rollout"):
        if args.oracle:
            rollouts = oracle_rollouts(tasks, comp.renderer, comp.make_adapter, comp.cfg.rollout)
        else:
            rollouts = run_rollouts(
                tasks,
                comp.policy,
                comp.renderer,
                comp.make_adapter,
                comp.cfg.rollout,
                seed=comp.cfg.seed,
            )
    out = Path(args.out or Path(comp.cfg.run_dir) / "rollouts.jsonl")
    save_rollouts(rollouts, out)
    ok = [r for r in rollouts if r.status == "ok"]
    mean = sum(r.reward or 0.0 for r in ok) / max(1, len(ok))
    print(
        f"{len(rollouts)} rollouts ({len(rollouts) - len(ok)} failed), mean reward {mean:.3f} -> {out}"
    )
    return 0


def _usage() -> str:
    from envlearn.plugins import get_commands

    lines = ["usage: envlearn COMMAND [ARGS...]", "", "commands:"]
    for name, (_, _, h) in COMMANDS.items():
        lines.append(f"  {name:<13} {h}")
    for name, c in sorted(get_commands().items()):
        lines.append(f"  {name:<13} {c.help}  [{c.plugin}]")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    try:
        if name in COMMANDS:
            mod, fn, _ = COMMANDS[name]
            return int(getattr(importlib.import_module(mod), fn)(rest) or 0)
        from envlearn.plugins import get_commands

        extra = get_commands()
        if name in extra:
            return int(extra[name].main(rest) or 0)
    except KeyboardInterrupt:  # train and demo say where they stopped; anything else: one line
        print(f"envlearn {name}: interrupted", file=sys.stderr)
        return 130
    hint = did_you_mean(name, [*COMMANDS, *extra])
    print(f"envlearn: unknown command {name!r}{hint}\n\n{_usage()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
