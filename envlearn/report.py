"""Run report: ``metrics.jsonl`` of one or more runs -> ``report.png`` + ``report.html``.

``envlearn report RUN_DIR... [--out DIR]``

A run dir holds ``metrics.jsonl`` (one JSON object a line: ``step``, ``time_s``, ``kind`` --
``train`` | ``eval`` | ``eval_<split>`` | ``diag`` -- and metric keys) and ``config.yaml``.

What the report shows, in this order:

1. **The verdict**: one line on what the run or the comparison is about, e.g. ``held-out env-CE
   (nats/token, lower is better) at step 30: ECHO 3.96 vs GRPO 9.44 (0.42×)``.  Its metric is the
   first headline metric present: held-out env-CE, held-out pass@1, train reward, train loss.
2. **The headline figure**: held-out env-CE overall and per channel, held-out pass@1, train
   reward.  Runs whose names differ only by a ``seed<N>`` suffix (``echo_seed0``, ``echo_seed1``)
   are one method: its mean is drawn with a min–max band and the verdict gives mean ± sd.
3. The other metrics, grouped by topic (evaluation, rollouts, loss terms, throughput).  Series
   that never change in any run (``lr``, ``kl`` at β = 0, ``rollouts``…) are listed as values,
   not plotted.  Every y-axis names its unit; methods differ in colour, line style and marker
   shape (hollow markers of decreasing size, so coinciding lines stay visible).
4. The HTML adds a table of final values, with "best @ step" only for metrics that have a
   direction (:data:`METRICS`: lower- or higher-is-better; step counts, grad norms and the like
   have none), and each run's config with its *effective* model (read from the checkpoint's
   ``config.json`` where the run started from ``model.init_from``).

``report.png`` plots over steps, ``report_walltime.png`` over wall time; ``report.html`` embeds
both (base64, self-contained).  ``summarize(run_dir)`` gives each metric's final value (and best,
where it has a direction) for the trainer's and the demo's output.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import math
import re
import statistics
import struct
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "METRICS",
    "Group",
    "MetricInfo",
    "ReportError",
    "Run",
    "cli_report",
    "constant_series",
    "effective_model",
    "format_summary",
    "group_runs",
    "headline_lines",
    "headline_panels",
    "load_run",
    "lower_is_better",
    "metric_info",
    "plot_panels",
    "read_metrics",
    "report_figure",
    "summarize",
    "verdict",
    "write_report",
]

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.yaml"
_RESERVED = {"step", "time_s", "kind", "k", "split"}
TOPICS = ("evaluation", "rollouts", "loss terms", "throughput", "other")
_SEED_RE = re.compile(r"[_\-./]?seed[_\-]?\d+$", re.IGNORECASE)
_KNOWN_METHODS = {"grpo", "echo", "env_only", "sft"}


class ReportError(Exception):
    """A run dir or metrics file the report cannot read; the message names the file."""


@dataclass(frozen=True)
class MetricInfo:
    """How to read one metric: its direction (``"lower"``, ``"higher"`` or None: no "best"),
    the y-axis label with its unit, and the report section it belongs to."""

    direction: str | None
    unit: str
    topic: str


# The direction table.  None: the value is a measurement, not a goal (a count, a norm, a ratio, a
# surrogate loss whose value depends on the batch's advantages), so it gets no "best".
METRICS: dict[str, MetricInfo] = {
    "reward_mean": MetricInfo("higher", "mean reward per rollout", "rollouts"),
    "success_rate": MetricInfo("higher", "fraction of rollouts solved", "rollouts"),
    "pass@1": MetricInfo("higher", "fraction of tasks solved", "evaluation"),
    "failed": MetricInfo("lower", "failed episodes (count)", "rollouts"),
    "rollouts": MetricInfo(None, "rollouts per step (count)", "rollouts"),
    "turns_mean": MetricInfo(None, "turns per episode", "rollouts"),
    "tasks": MetricInfo(None, "tasks (count)", "evaluation"),
    "transcripts": MetricInfo(None, "transcripts (count)", "evaluation"),
    "loss": MetricInfo("lower", "nats/token (weighted sum of the terms)", "loss terms"),
    "rl_loss": MetricInfo(None, "surrogate loss (no unit)", "loss terms"),
    "env_ce": MetricInfo("lower", "nats/token", "loss terms"),
    "surprise": MetricInfo("lower", "nats/token per step (mean over steps)", "loss terms"),
    "env_loss": MetricInfo("lower", "nats/token", "loss terms"),
    "action_ce": MetricInfo(None, "nats/token", "loss terms"),
    "kl": MetricInfo(None, "nats/token", "loss terms"),
    "ratio_mean": MetricInfo(None, "π / π_old", "loss terms"),
    "clip_frac": MetricInfo(None, "fraction of action tokens", "loss terms"),
    "grad_norm": MetricInfo(None, "gradient L2 norm", "loss terms"),
    "lr": MetricInfo(None, "learning rate", "loss terms"),
    "tokens_per_s": MetricInfo("higher", "tokens / s", "throughput"),
    "step_s": MetricInfo("lower", "seconds per step", "throughput"),
    "rollout_s": MetricInfo("lower", "seconds per step", "throughput"),
    "tokens": MetricInfo(None, "tokens per step", "throughput"),
    "n_action_tokens": MetricInfo(None, "action tokens (count)", "throughput"),
    "n_env_tokens": MetricInfo(None, "observation tokens (count)", "throughput"),
}
_KEY_ORDER = {key: i for i, key in enumerate(METRICS)}


def metric_info(kind: str, key: str) -> MetricInfo:
    """Direction, unit and topic of metric ``key`` logged under ``kind`` (see :data:`METRICS`).

    ``env_ce/<channel>`` reads like ``env_ce``; evaluation and diagnostic lines go to the
    evaluation topic; unknown keys: ``*_s`` are seconds (lower), ``*per_s`` rates (higher),
    ``*loss*``/``*_ce`` nats/token (lower); anything else has no direction.
    """
    base = key.split("/", 1)[0]
    info = METRICS.get(key) or METRICS.get(base)
    if info is None and re.fullmatch(r"pass@\d+", base):  # pass@k for the run's eval.k
        info = MetricInfo("higher", "fraction of tasks solved", "evaluation")
    if info is None:
        low = key.lower()
        if low.endswith("per_s"):
            info = MetricInfo("higher", "per second", "throughput")
        elif low.endswith("_s") or low.endswith("time"):
            info = MetricInfo("lower", "seconds", "throughput")
        elif "loss" in low or re.search(r"(^|_)(ce|nll)($|_)", base.lower()):
            info = MetricInfo("lower", "nats/token", "loss terms")
        else:
            info = MetricInfo(None, key, "other")
    if kind != "train":
        info = MetricInfo(info.direction, info.unit, "evaluation")
    return info


def lower_is_better(key: str, kind: str = "train") -> bool:
    """Whether smaller values of metric ``key`` are better (its direction is ``"lower"``)."""
    return metric_info(kind, key).direction == "lower"


@dataclass
class Run:
    """One run's metrics: ``series[(kind, key)] = [(step, time_s, value), ...]`` in file order."""

    name: str
    path: Path
    series: dict[tuple[str, str], list[tuple[int, float, float]]] = field(default_factory=dict)
    extras: dict[tuple[str, str], Any] = field(default_factory=dict)  # eval split
    lines: int = 0
    last_step: int | None = None
    last_time_s: float | None = None
    config_text: str | None = None
    config: dict[str, Any] | None = None


@dataclass
class Group:
    """Runs of one method that differ only by seed (``echo_seed0``, ``echo_seed1`` -> ``ECHO``)."""

    name: str
    runs: list[Run]


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl``; clear :class:`ReportError` on a missing/empty/bad file.

    An unparsable *last* line is skipped: a live run may be writing it right now.
    """
    path = Path(path)
    if not path.is_file():
        raise ReportError(
            f"{path}: no such file; a run dir must hold {METRICS_FILE} as written by "
            "`envlearn train`"
        )
    lines = path.read_text(encoding="utf-8").splitlines()
    numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()]
    records = []
    for pos, (lineno, line) in enumerate(numbered):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            if pos == len(numbered) - 1:
                break  # a partly written last line
            raise ReportError(f"{path}:{lineno}: not valid JSON ({e.msg})") from e
        if not isinstance(rec, dict):
            raise ReportError(f"{path}:{lineno}: expected a JSON object, got {type(rec).__name__}")
        step = rec.get("step")
        if isinstance(step, bool) or not isinstance(step, int):
            raise ReportError(f"{path}:{lineno}: missing or non-integer 'step' ({step!r})")
        if not isinstance(rec.get("kind"), str):
            raise ReportError(f"{path}:{lineno}: missing 'kind' (one of 'train', 'eval', 'diag')")
        records.append(rec)
    if not records:
        raise ReportError(f"{path}: no metrics yet (the file is empty); has the run logged a step?")
    return records


def _number(value: Any) -> float | None:
    """A plottable float, or None for non-numeric values (strings, lists, bools, null)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def load_run(run_dir: str | Path, name: str | None = None) -> Run:
    """Read one run dir into a :class:`Run` (series per kind and metric key)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: not a directory; pass run dirs holding {METRICS_FILE}")
    records = read_metrics(run_dir / METRICS_FILE)
    run = Run(name=name or run_dir.resolve().name, path=run_dir, lines=len(records))
    for rec in records:
        kind, step = rec["kind"], rec["step"]
        t = _number(rec.get("time_s"))
        t = math.nan if t is None else t
        run.last_step = step if run.last_step is None else max(run.last_step, step)
        if not math.isnan(t):
            run.last_time_s = t if run.last_time_s is None else max(run.last_time_s, t)
        if isinstance(rec.get("split"), str):
            run.extras[(kind, "split")] = rec["split"]
        for key, value in rec.items():
            v = _number(value)
            if key in _RESERVED or v is None:
                continue
            run.series.setdefault((kind, key), []).append((step, t, v))
    config = run_dir / CONFIG_FILE
    if config.is_file():
        run.config_text = config.read_text(encoding="utf-8", errors="replace")
        try:
            import yaml

            parsed = yaml.safe_load(run.config_text)
        except Exception:  # noqa: BLE001 - a config we cannot parse is shown as text
            parsed = None
        run.config = parsed if isinstance(parsed, dict) else None
    return run


# ---------------------------------------------------------------------------------------------
# grouping, constants, headline


def group_runs(runs: list[Run]) -> list[Group]:
    """Runs grouped by name without a trailing ``seed<N>`` (first-seen order).

    A group named like a method (``grpo``, ``echo``, ``env_only``, ``sft``) is shown upper-case.
    """
    groups: dict[str, list[Run]] = {}
    for run in runs:
        key = _SEED_RE.sub("", run.name) or run.name
        groups.setdefault(key, []).append(run)
    return [
        Group(k.upper() if k.lower() in _KNOWN_METHODS else k, members)
        for k, members in groups.items()
    ]


def _by_step(points: list[tuple[int, float, float]]) -> dict[int, tuple[float, float]]:
    """step -> (time_s, value); a step logged twice keeps its last line."""
    return {s: (t, v) for s, t, v in points}


def _finite_values(points: list[tuple[int, float, float]]) -> set[float]:
    return {v for _, _, v in points if math.isfinite(v)}


def _is_constant(runs: list[Run], panel: tuple[str, str]) -> bool:
    """Whether ``panel`` never changes within any run (one distinct value, or one point)."""
    present = [r.series[panel] for r in runs if panel in r.series]
    return bool(present) and all(len(_finite_values(p)) <= 1 for p in present)


def _constant_text(groups: list[Group], panel: tuple[str, str]) -> str:
    """``"0.003 (every run)"`` or ``"ECHO 0.003, GRPO 0.0002"`` for a constant series."""
    per_group: list[tuple[str, str]] = []
    for g in groups:
        vals = sorted({v for r in g.runs for v in (_finite_values(r.series.get(panel, [])))})
        if not any(panel in r.series for r in g.runs):
            continue
        if not vals:
            text = "nan"
        elif len(vals) == 1:
            text = _fmt(vals[0])
        else:
            text = f"{_fmt(vals[0])}–{_fmt(vals[-1])}"
        per_group.append((g.name, text))
    once = all(len(r.series.get(panel, [])) <= 1 for r in (r for g in groups for r in g.runs))
    note = "; logged once" if once else ""
    if len({t for _, t in per_group}) == 1:
        everyone = len(per_group) == len(groups)
        return f"{per_group[0][1]} ({'every run' if everyone else 'in ' + per_group[0][0]}{note})"
    return ", ".join(f"{name} {text}" for name, text in per_group) + (
        f" ({note[2:]})" if once else ""
    )


def _signature(runs: list[Run], panel: tuple[str, str]) -> tuple[Any, ...]:
    return tuple(
        tuple((st, v) for st, (_, v) in _by_step(r.series.get(panel, [])).items()) for r in runs
    )


def _not_plotted(runs: list[Run]) -> tuple[dict[str, str], dict[tuple[str, str], tuple[str, str]]]:
    """The constant series (``"kind/key" -> value text``) and the duplicates (a panel whose
    values equal an earlier panel's in every run, e.g. ``env_ce`` of a one-channel domain and
    its channel): both listed, not plotted."""
    groups = group_runs(runs)
    constants: dict[str, str] = {}
    duplicates: dict[tuple[str, str], tuple[str, str]] = {}
    seen: dict[tuple[Any, ...], tuple[str, str]] = {}
    head = headline_panels(runs)
    for panel in head + [p for p in _all_panels(runs) if p not in head]:
        if _is_constant(runs, panel):
            constants[f"{panel[0]}/{panel[1]}"] = _constant_text(groups, panel)
            continue
        sig = _signature(runs, panel)
        if sig in seen:
            duplicates[panel] = seen[sig]
        else:
            seen[sig] = panel
    return constants, duplicates


def constant_series(runs: list[Run]) -> dict[str, str]:
    """``{"kind/key": "value text"}`` of the series that never change: listed, not plotted."""
    return _not_plotted(runs)[0]


def _all_panels(runs: list[Run]) -> list[tuple[str, str]]:
    return sorted({p for r in runs for p in r.series}, key=_panel_sort_key)


def _panel_sort_key(panel: tuple[str, str]) -> tuple[int, int, str, str]:
    kind, key = panel
    kind_rank = {"train": 0, "eval": 1, "diag": 2}.get(kind, 1 if kind.startswith("eval") else 3)
    return (kind_rank, _KEY_ORDER.get(key.split("/", 1)[0], len(_KEY_ORDER)), kind, key)


def headline_panels(runs: list[Run]) -> list[tuple[str, str]]:
    """The headline metrics present, in order: held-out env-CE per domain (all channels, then
    each channel), eval pass@1, train reward; train loss when none of these is logged (SFT)."""
    present = {p for r in runs for p in r.series}
    out: list[tuple[str, str]] = []
    for dom in _domains(runs):
        out.append(("diag", f"env_ce/{dom}"))
        out += sorted(p for p in present if p[0] == "diag" and p[1].startswith(f"env_ce/{dom}/"))
    for panel in (("eval", "pass@1"), ("train", "reward_mean")):
        if panel in present:
            out.append(panel)
    if not out and ("train", "loss") in present:
        out.append(("train", "loss"))
    return out


def _domains(runs: list[Run]) -> list[str]:
    """Domains of the held-out env-CE diagnostic (``diag`` keys ``env_ce/<domain>``)."""
    keys = {key for r in runs for k, key in r.series if k == "diag"}
    return sorted(k.split("/")[1] for k in keys if k.startswith("env_ce/") and k.count("/") == 1)


def _metric_label(runs: list[Run], kind: str, key: str, long: bool = False) -> str:
    """A newcomer's name for a metric: "held-out env-CE on stdout", "held-out pass@1"…;
    ``long`` (panel titles) adds which channels an overall env-CE covers."""
    if kind == "diag" and key.startswith("env_ce/"):
        parts = key.split("/")
        where = f" ({parts[1]})" if len(_domains(runs)) > 1 else ""
        if len(parts) > 2:
            return f"held-out env-CE on {'/'.join(parts[2:])}{where}"
        channels = sorted(
            {c for r in runs for k, c in r.series if k == "diag" and c.startswith(key + "/")}
        )
        label = f"held-out env-CE{where}"
        if long and len(channels) == 1:
            label += f" (one channel: {channels[0][len(key) + 1 :]})"
        elif long and channels:
            label += ", all channels"
        return label
    if kind.startswith("eval"):
        split = next((r.extras[(kind, "split")] for r in runs if (kind, "split") in r.extras), None)
        split = split or (kind[5:] if kind.startswith("eval_") else None)
        where = "held-out" if split == "heldout" else (f"{split}-split" if split else "eval")
        return f"{where} {key}"
    if kind == "train" and key == "reward_mean":
        return "train reward"
    if kind == "train":
        return key
    return f"{kind}: {key}"


def _final(points: list[tuple[int, float, float]]) -> tuple[int, float] | None:
    """The last finite value and its step."""
    for s, _, v in reversed(points):
        if math.isfinite(v):
            return s, v
    return None


def _first(points: list[tuple[int, float, float]]) -> tuple[int, float] | None:
    for s, _, v in points:
        if math.isfinite(v):
            return s, v
    return None


def _mean_sd(values: list[float]) -> str:
    mean = statistics.fmean(values)
    if len(values) == 1:
        return _fmt3(mean)
    return f"{_fmt3(mean)} ± {statistics.stdev(values):.2g}"


def _fmt3(v: float) -> str:
    if not math.isfinite(v):
        return _fmt(v)
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:.0f}"
    return f"{v:.3g}"


def _headline_line(runs: list[Run], groups: list[Group], panel: tuple[str, str]) -> str | None:
    kind, key = panel
    info = metric_info(kind, key)
    label = _metric_label(runs, kind, key)
    unit = "nats/token" if info.unit == "nats/token" else info.unit.split(" (")[0]
    how = f", {info.direction} is better" if info.direction else ""
    head = f"{label} ({unit}{how})"
    if _is_constant(runs, panel):
        once = all(len(r.series.get(panel, [])) <= 1 for r in runs)
        what = "one value so far" if once else "constant"
        return f"{head}: {what} {_constant_text(groups, panel)}, not plotted"
    finals: dict[str, tuple[list[float], int]] = {}
    for g in groups:
        got = [_final(r.series[panel]) for r in g.runs if panel in r.series]
        got = [x for x in got if x is not None]
        if got:
            finals[g.name] = ([v for _, v in got], max(s for s, _ in got))
    if not finals:
        return None
    seeds = sorted({len(v) for v, _ in finals.values()})
    seed_note = ""
    if seeds[-1] > 1:
        n = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]}"
        seed_note = f"; mean ± sd over {n} seeds"
    if len(finals) == 1:
        ((name, (vals, step)),) = finals.items()
        g = next(g for g in groups if g.name == name)
        starts = [_first(r.series[panel]) for r in g.runs if panel in r.series]
        starts = [x for x in starts if x is not None]
        s0 = min(s for s, _ in starts)
        v0 = statistics.fmean(v for _, v in starts)
        ratio = f" ({statistics.fmean(vals) / v0:.2f}×)" if v0 else ""
        return (
            f"{head}: {name} {_mean_sd([v for _, v in starts])} at step {s0} → "
            f"{_mean_sd(vals)} at step {step}{ratio}{seed_note}"
        )
    names = list(finals)
    ref = next((n for n in names if "grpo" in n.lower() and "echo" not in n.lower()), names[0])
    ref_mean = statistics.fmean(finals[ref][0])
    steps = {s for _, s in finals.values()}
    at = f" at step {steps.pop()}" if len(steps) == 1 else " (final values)"

    def ratio(name: str) -> str:
        if not ref_mean or not math.isfinite(ref_mean):
            return ""
        return f"{statistics.fmean(finals[name][0]) / ref_mean:.2f}×"

    others = [n for n in names if n != ref]
    ref_text = f"{ref} {_mean_sd(finals[ref][0])}"
    if len(others) == 1:
        o = others[0]
        r = ratio(o)
        return f"{head}{at}: {o} {_mean_sd(finals[o][0])} vs {ref_text}" + (
            f" ({r}{seed_note})" if r or seed_note else ""
        ).replace("(; ", "(")
    listed = ", ".join(
        f"{o} {_mean_sd(finals[o][0])}" + (f" ({ratio(o)})" if ratio(o) else "") for o in others
    )
    return f"{head}{at}: {listed} vs {ref_text}" + (f" ({seed_note[2:]})" if seed_note else "")


def headline_lines(runs: list[Run]) -> list[str]:
    """One line per headline metric (:func:`headline_panels`); the first is the verdict."""
    groups = group_runs(runs)
    duplicates = _not_plotted(runs)[1]
    panels = [p for p in headline_panels(runs) if p not in duplicates]
    lines = [_headline_line(runs, groups, p) for p in panels]
    return [line for line in lines if line]


def verdict(runs: list[Run]) -> str:
    """The one-line verdict: e.g. ``held-out env-CE (nats/token, lower is better) at step 30:
    ECHO 3.96 vs GRPO 9.44 (0.42×)``; for a single run, its start → final value."""
    lines = headline_lines(runs)
    return lines[0] if lines else "no headline metric logged yet (no eval, diag or reward lines)"


# ---------------------------------------------------------------------------------------------
# summaries


def _summary(run: Run) -> dict[str, Any]:
    metrics: dict[str, dict[str, Any]] = {}
    for (kind, key), points in sorted(run.series.items(), key=lambda kv: _panel_sort_key(kv[0])):
        final_step, _, final = points[-1]
        finite = [(s, v) for s, _, v in points if math.isfinite(v)]
        direction = metric_info(kind, key).direction
        entry: dict[str, Any] = {
            "kind": kind,
            "final": final,
            "final_step": final_step,
            "direction": direction,
            "best": None,
            "best_step": None,
        }
        if direction and len({v for _, v in finite}) > 1:  # a constant has no "best" step
            pick = min if direction == "lower" else max
            entry["best_step"], entry["best"] = pick(finite, key=lambda sv: sv[1])
        elif direction and not finite:
            entry["best"] = math.nan
        entry["nan_count"] = len(points) - len(finite)
        metrics[f"{kind}/{key}"] = entry
    return {
        "run": run.name,
        "path": str(run.path),
        "lines": run.lines,
        "last_step": run.last_step,
        "wall_s": run.last_time_s,
        "metrics": metrics,
    }


def summarize(run_dir: str | Path) -> dict[str, Any]:
    """Final value of each metric of one run, and its best (with the step) where it has a
    direction and changes.

    Returns ``{"run", "path", "lines", "last_step", "wall_s", "metrics": {"kind/key": {"kind",
    "final", "final_step", "direction", "best", "best_step", "nan_count"}}}``; ``best`` and
    ``best_step`` are None for metrics without a direction or with one value throughout.
    """
    return _summary(load_run(run_dir))


def format_summary(summary: dict[str, Any]) -> str:
    """A few readable lines of :func:`summarize`'s result, for the trainer's and demo's output."""
    wall = summary["wall_s"]
    head = f"{summary['run']}: step {summary['last_step']}"
    if wall is not None:
        head += f", {_fmt(wall)} s"
    lines = [head]
    for name, m in summary["metrics"].items():
        best = f"best {_fmt(m['best'])} @ {m['best_step']}" if m["best_step"] is not None else ""
        lines.append(f"  {name:<32} {_fmt(m['final']):>10}  {best}".rstrip())
    return "\n".join(lines)


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == int(v) and abs(v) < 1e9:
        return str(int(v))
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.3g}"
    return f"{v:.4g}"


# ---------------------------------------------------------------------------------------------
# effective model


def _safetensors_params(path: Path) -> int | None:
    """Parameter count from a ``model.safetensors`` header (8-byte length + JSON), or None."""
    try:
        with path.open("rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > 50_000_000:
                return None
            header = json.loads(f.read(n))
    except (OSError, ValueError, struct.error):
        return None
    total = 0
    for name, meta in header.items():
        if name != "__metadata__" and isinstance(meta, dict):
            total += math.prod(meta.get("shape", []))
    return total


def _describe_hf_config(cfg: dict[str, Any], params: int | None) -> str:
    parts = [str(cfg.get("model_type", "model"))]
    if "num_hidden_layers" in cfg and "hidden_size" in cfg:
        parts.append(f"{cfg['num_hidden_layers']} layers × {cfg['hidden_size']} hidden")
    if "num_attention_heads" in cfg:
        kv = cfg.get("num_key_value_heads")
        parts.append(f"{cfg['num_attention_heads']} heads" + (f" ({kv} KV)" if kv else ""))
    if "intermediate_size" in cfg:
        parts.append(f"MLP {cfg['intermediate_size']}")
    if "vocab_size" in cfg:
        parts.append(f"vocab {cfg['vocab_size']}")
    if params:
        parts.append(f"{params / 1e6:.2f}M parameters" if params >= 1e5 else f"{params} parameters")
    return ", ".join(parts)


def effective_model(run: Run) -> tuple[str, str] | None:
    """``(description, source)`` of the model a run trained, where the config alone may mislead.

    For a run started from ``model.init_from`` the config's ``model.tiny`` block is not what was
    trained: read the architecture from the checkpoint's ``config.json`` (``init_from`` itself,
    as given or relative to the run dir's parents, else the run's own saved ``model/`` or latest
    checkpoint, which hold the same architecture).  None when the run has no ``init_from``.
    """
    model = (run.config or {}).get("model") or {}
    init_from = model.get("init_from") if isinstance(model, dict) else None
    if not init_from:
        return None
    candidates = [Path(init_from)]
    candidates += [parent / init_from for parent in list(run.path.resolve().parents)[:4]]
    candidates.append(run.path / "model")
    candidates += sorted((run.path / "checkpoints").glob("step_*/model"), reverse=True)
    for cand in candidates:
        cfg_file = cand / "config.json"
        if cfg_file.is_file():
            try:
                cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            params = _safetensors_params(cand / "model.safetensors")
            return _describe_hf_config(cfg, params), str(cfg_file)
    return (
        f"unknown: no config.json found at model.init_from ({init_from}) or in the run's "
        "model/ or checkpoints/; the config's model.tiny block is NOT what was trained",
        "",
    )


def _config_for_display(run: Run) -> str | None:
    """The run's config; for an ``init_from`` run, ``model.tiny`` (unused) is replaced by the
    effective model read from the checkpoint."""
    if run.config is None or effective_model(run) is None:
        return run.config_text
    import yaml

    cfg = json.loads(json.dumps(run.config))  # a deep copy
    desc, source = effective_model(run) or ("", "")
    model = cfg["model"]
    model.pop("tiny", None)
    model["effective_model"] = desc
    if source:
        model["effective_model_from"] = source
    return yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=1000)


# ---------------------------------------------------------------------------------------------
# plotting

_COLORS = [f"C{i}" for i in range(10)]
_LINESTYLES = ["-", "--", "-.", ":"]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def _style(i: int) -> dict[str, Any]:
    """Colour, line style and a hollow marker of decreasing size: coinciding lines of two
    methods show as nested markers and a dashed line over a solid one."""
    return {
        "color": _COLORS[i % len(_COLORS)],
        "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
        "marker": _MARKERS[i % len(_MARKERS)],
        "markersize": max(3.0, 9.0 - 1.6 * i),
        "markerfacecolor": "none",
        "markeredgewidth": 1.3,
        "linewidth": 1.5,
        "zorder": 3 + i,
    }


def _aggregate(
    group: Group, panel: tuple[str, str], x_axis: str = "step"
) -> tuple[list[float], list[float], list[float], list[float], int]:
    """x, mean, min, max over the group's runs at each step, and how many runs had the series."""
    per_run = [_by_step(r.series[panel]) for r in group.runs if panel in r.series]
    steps = sorted({s for d in per_run for s in d})
    xs, mean, lo, hi = [], [], [], []
    for s in steps:
        vals = [d[s][1] for d in per_run if s in d and math.isfinite(d[s][1])]
        times = [d[s][0] for d in per_run if s in d and math.isfinite(d[s][0])]
        x = float(s) if x_axis == "step" else (statistics.fmean(times) if times else math.nan)
        xs.append(x)
        mean.append(statistics.fmean(vals) if vals else math.nan)
        lo.append(min(vals) if vals else math.nan)
        hi.append(max(vals) if vals else math.nan)
    return xs, mean, lo, hi, len(per_run)


def _plot_line(ax: Any, xs: list[float], ys: list[float], style: dict[str, Any], i: int) -> None:
    st = dict(style)
    if len(xs) > 30:  # thin the markers, offset per method so they do not coincide
        every = math.ceil(len(xs) / 15)
        st["markevery"] = (i % every, every)
    ax.plot(xs, ys, **st)


def plot_panels(runs: list[Run]) -> list[tuple[str, str]]:
    """The ``(kind, key)`` of every plotted panel, in order: the headline panels, then the other
    non-constant series by topic.  Constant series (:func:`constant_series`) are not plotted."""
    return [p for _, panels in _sections(runs) for p in panels]


def _sections(runs: list[Run]) -> list[tuple[str, list[tuple[str, str]]]]:
    """``[(topic, panels)]`` to plot: the headline first, then by topic; no constant series
    and no duplicates (:func:`_not_plotted`)."""
    constants, duplicates = _not_plotted(runs)

    def plotted(p: tuple[str, str]) -> bool:
        return f"{p[0]}/{p[1]}" not in constants and p not in duplicates

    head = [p for p in headline_panels(runs) if plotted(p)]
    rest = [p for p in _all_panels(runs) if p not in headline_panels(runs) and plotted(p)]
    out = [("headline", head)] if head else []
    for topic in TOPICS:
        panels = [p for p in rest if metric_info(*p).topic == topic]
        if panels:
            out.append((topic, panels))
    return out


def _listed_lines(runs: list[Run]) -> list[str]:
    """The lines of the "listed, not plotted" block: constants, then duplicates."""
    constants, duplicates = _not_plotted(runs)
    out = [f"{name} = {text}" for name, text in constants.items()]
    out += [f"{k}/{key} = {of[0]}/{of[1]} (same values)" for (k, key), of in duplicates.items()]
    return out


_SECTION_TITLES = {
    "headline": "Headline",
    "evaluation": "Evaluation: held-out and train-split evals, the held-out diagnostic",
    "rollouts": "Rollouts (each training step)",
    "loss terms": "Loss terms (each training step)",
    "throughput": "Throughput",
    "other": "Other metrics",
}


def _panel_title(runs: list[Run], kind: str, key: str) -> str:
    label = _metric_label(runs, kind, key, long=True)
    info = metric_info(kind, key)
    if info.direction:
        label += f"  ({'↓' if info.direction == 'lower' else '↑'} better)"
    return label


def _plot(runs: list[Run], x_axis: str, path: Path) -> None:
    """Save :func:`report_figure` as a PNG."""
    report_figure(runs, x_axis).savefig(path, format="png")


def report_figure(runs: list[Run], x_axis: str = "step") -> Any:
    """The report's matplotlib ``Figure``: the verdict and headline lines, the legend, the
    headline panels, the other panels by topic, and the listed-not-plotted block.  ``x_axis``:
    ``"step"`` or ``"time"``."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.ticker import MaxNLocator
    except ImportError as e:
        raise ImportError("the report needs matplotlib: pip install envlearn[report]") from e

    groups = group_runs(runs)
    sections = _sections(runs)
    lines = headline_lines(runs) or [verdict(runs)]
    head_rows = [textwrap.wrap(lines[0], 135)] + [textwrap.wrap(ln, 180) for ln in lines[1:]]
    listed = _listed_lines(runs)
    max_time = max((r.last_time_s or 0.0) for r in runs)
    minutes = x_axis == "time" and max_time > 300
    xlabel = (
        "training step" if x_axis == "step" else ("wall time (min)" if minutes else "wall time (s)")
    )
    scale = 60.0 if minutes else 1.0
    ncols = 3
    row_h = 0.27
    heights = [0.75 + row_h * sum(len(r) for r in head_rows)]  # verdict, headline lines, legend
    heights += [0.45 + 3.0 * math.ceil(len(panels) / ncols) for _, panels in sections]
    if listed:
        heights.append(0.6 + 0.18 * math.ceil(len(listed) / 2))
    fig = Figure(figsize=(5.2 * ncols, sum(heights)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    subfigs = fig.subfigures(len(heights), 1, height_ratios=heights, squeeze=False).ravel()

    # header: the verdict (bold), the other headline lines, the legend
    header = subfigs[0]
    y = 1.0 - 0.3 / heights[0]
    for i, rows in enumerate(head_rows):
        for row in rows:
            kw = {"fontsize": 13, "fontweight": "bold"} if i == 0 else {"fontsize": 10}
            header.text(0.01, y, row, va="top", **kw)
            y -= row_h / heights[0]
    handles = []
    for i, g in enumerate(groups):
        how = "mean, band = min–max" if x_axis == "step" else "one line each"
        label = g.name if len(g.runs) == 1 else f"{g.name} ({len(g.runs)} seeds: {how})"
        handles.append(Line2D([], [], label=label, **_style(i)))
    header.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.0, 0.0),
        ncols=min(4, len(handles)),
        fontsize=10,
        frameon=False,
    )

    for sub, (topic, panels) in zip(subfigs[1:], sections, strict=False):
        nrows = math.ceil(len(panels) / ncols)
        axes = sub.subplots(nrows, ncols, squeeze=False).ravel()
        sub.suptitle(_SECTION_TITLES[topic], fontsize=12, fontweight="bold", x=0.01, ha="left")
        for ax, (kind, key) in zip(axes, panels, strict=False):
            for i, g in enumerate(groups):
                if not any((kind, key) in r.series for r in g.runs):
                    continue
                st = _style(i)
                if x_axis == "time":  # seeds run at their own pace: one line per run, no mean
                    for r in g.runs:
                        pts = [(t / scale, v) for _, t, v in r.series.get((kind, key), [])]
                        if pts:
                            _plot_line(ax, [x for x, _ in pts], [v for _, v in pts], st, i)
                    continue
                xs, mean, lo, hi, n = _aggregate(g, (kind, key), x_axis)
                _plot_line(ax, xs, mean, st, i)
                if n > 1:
                    ax.fill_between(xs, lo, hi, color=st["color"], alpha=0.15, linewidth=0)
            ax.set_title(_panel_title(runs, kind, key), fontsize=10)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(metric_info(kind, key).unit, fontsize=8)
            ax.tick_params(labelsize=8)
            if x_axis == "step":
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
    if listed:
        sub = subfigs[-1]
        sub.suptitle(
            "Listed, not plotted: constant series (one value through every run) and duplicates",
            fontsize=12,
            fontweight="bold",
            x=0.01,
            ha="left",
        )
        half = math.ceil(len(listed) / 2)
        for col, chunk in enumerate((listed[:half], listed[half:])):
            sub.text(
                0.01 + 0.5 * col,
                0.98 - 0.4 / heights[-1],
                "\n".join(chunk),
                fontsize=9,
                va="top",
                family="monospace",
            )
    if not sections:
        header.text(0.5, 0.1, "no numeric metric changes yet", ha="center", fontsize=10)
    title = "over training steps" if x_axis == "step" else "over wall time"
    fig.suptitle(
        f"envlearn report: {', '.join(g.name for g in groups)} — {title}",
        fontsize=11,
        x=0.01,
        ha="left",
    )
    return fig


# ---------------------------------------------------------------------------------------------
# writing


def _unique_names(dirs: list[Path]) -> list[str]:
    """Dir names; where two runs share one, prefix the parent dir (``a/seed1``, ``b/seed1``)."""
    names = [d.resolve().name for d in dirs]
    if len(set(names)) == len(names):
        return names
    names = [f"{d.resolve().parent.name}/{d.resolve().name}" for d in dirs]
    if len(set(names)) == len(names):
        return names
    return [str(d) for d in dirs]


def write_report(run_dirs: list[str | Path], out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.png``, ``report_walltime.png`` and ``report.html`` for ``run_dirs``."""
    return _write(_load_runs(run_dirs), Path(out_dir))


def _load_runs(run_dirs: list[str | Path]) -> list[Run]:
    dirs = [Path(d) for d in run_dirs]
    if not dirs:
        raise ReportError("no run dirs given; pass one or more dirs holding metrics.jsonl")
    return [load_run(d, name) for d, name in zip(dirs, _unique_names(dirs), strict=True)]


def _write(runs: list[Run], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "png": out / "report.png",
        "png_walltime": out / "report_walltime.png",
        "html": out / "report.html",
    }
    _plot(runs, "step", paths["png"])
    _plot(runs, "time", paths["png_walltime"])
    paths["html"].write_text(_html(runs, [paths["png"], paths["png_walltime"]]), encoding="utf-8")
    return paths


_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
p.verdict { font-size: 1.3em; font-weight: bold; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.topic th { background: #f0f0f0; text-align: left; }
td small { color: #777; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
"""


def _html(runs: list[Run], pngs: list[Path]) -> str:
    esc = html.escape
    summaries = [_summary(r) for r in runs]
    groups = group_runs(runs)
    lines = headline_lines(runs)
    names = ", ".join(g.name for g in groups)
    parts = [
        "<!doctype html>",
        '<html><head><meta charset="utf-8">',
        f"<title>envlearn report: {esc(names)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>envlearn report: {esc(names)}</h1>",
        f'<p class="verdict">{esc(verdict(runs))}</p>',
    ]
    if len(lines) > 1:
        parts.append("<ul>" + "".join(f"<li>{esc(line)}</li>" for line in lines[1:]) + "</ul>")
    data = base64.b64encode(pngs[0].read_bytes()).decode("ascii")
    parts.append(
        f'<img alt="headline, then every metric by topic" src="data:image/png;base64,{data}">'
    )
    parts.append(
        "<h2>Runs</h2><table><tr><th>run</th><th>method</th><th>dir</th><th>model</th>"
        "<th>last step</th><th>wall time (s)</th><th>metric lines</th><th>kinds</th></tr>"
    )
    group_of = {id(r): g.name for g in groups for r in g.runs}
    for run, s in zip(runs, summaries, strict=True):
        kinds = sorted({k for k, _ in run.series})
        missing = [k for k in ("train", "eval", "diag") if k not in kinds]
        note = f" <small>(no {', '.join(missing)} lines yet)</small>" if missing else ""
        eff = effective_model(run)
        model = (run.config or {}).get("model") or {}
        if eff:
            model_text = f"{eff[0]} <small>(from model.init_from)</small>"
        else:
            model_text = (
                esc(str(model.get("name_or_path", "?"))) if isinstance(model, dict) else "?"
            )
        parts.append(
            f"<tr><td>{esc(run.name)}</td><td>{esc(group_of[id(run)])}</td>"
            f"<td>{esc(str(run.path))}</td><td>{model_text if eff is None else esc(eff[0])}</td>"
            f"<td>{esc(_fmt(s['last_step']))}</td><td>{esc(_fmt(s['wall_s']))}</td>"
            f"<td>{s['lines']}</td><td>{esc(', '.join(kinds))}{note}</td></tr>"
        )
    parts.append("</table>")

    parts.append("<h2>Final values</h2>")
    parts.append(
        "<p>Each cell: the last logged value, then <small>best @ step</small> for metrics with a "
        "direction (↓ lower is better, ↑ higher is better; — none: a count, a norm or a "
        "surrogate, where a best means nothing).</p>"
    )
    parts.append("<table><tr><th>metric</th><th>unit</th><th>better</th>")
    parts.extend(f"<th>{esc(r.name)}</th>" for r in runs)
    parts.append("</tr>")
    all_panels = _all_panels(runs)
    for topic in TOPICS:
        in_topic = [p for p in all_panels if metric_info(*p).topic == topic]
        if not in_topic:
            continue
        parts.append(f'<tr class="topic"><th colspan="{3 + len(runs)}">{esc(topic)}</th></tr>')
        for kind, key in in_topic:
            name = f"{kind}/{key}"
            info = metric_info(kind, key)
            arrow = {"lower": "↓", "higher": "↑"}.get(info.direction or "", "—")
            row = [f"<tr><td>{esc(name)}</td><td>{esc(info.unit)}</td><td>{arrow}</td>"]
            for s in summaries:
                m = s["metrics"].get(name)
                if m is None:
                    row.append("<td>-</td>")
                    continue
                best = ""
                if m["best_step"] is not None:
                    best = f" <small>best {esc(_fmt(m['best']))} @ {m['best_step']}</small>"
                row.append(f"<td>{esc(_fmt(m['final']))}{best}</td>")
            parts.append("".join(row) + "</tr>")
    parts.append("</table>")
    listed = _listed_lines(runs)
    if listed:
        parts.append("<h2>Listed, not plotted</h2>")
        parts.append(
            "<p>Constant series (one value through every run) and duplicates of a plotted "
            "series:</p><ul>" + "".join(f"<li><code>{esc(x)}</code></li>" for x in listed) + "</ul>"
        )
    data = base64.b64encode(pngs[1].read_bytes()).decode("ascii")
    parts.append("<h2>Over wall time</h2>")
    parts.append(f'<img alt="Over wall time" src="data:image/png;base64,{data}">')
    for run in runs:
        parts.append(f"<h2>Config: {esc(run.name)}</h2>")
        eff = effective_model(run)
        if eff is not None:
            desc, source = eff
            src = f" (read from {esc(source)})" if source else ""
            parts.append(
                f"<p>Effective model{src}: <b>{esc(desc)}</b>. The weights came from "
                "<code>model.init_from</code>, so the config's <code>model.tiny</code> size does "
                "not apply and is left out below.</p>"
            )
        text = _config_for_display(run)
        if text is None:
            parts.append(f"<p><small>no {CONFIG_FILE} in {esc(str(run.path))}</small></p>")
        else:
            parts.append(f"<pre>{esc(text)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def cli_report(argv: list[str]) -> int:
    """``envlearn report RUN_DIR... [--out DIR]``: write the PNG + HTML report."""
    p = argparse.ArgumentParser(
        prog="envlearn report",
        description="PNG + HTML report of one or more runs (their metrics.jsonl): a verdict, "
        "the headline metrics, then the rest by topic. Runs named <method>_seed<N> are "
        "grouped by method (mean and spread over seeds).",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run dirs with metrics.jsonl")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="where to write report.png/report.html (default: the run dir, or runs/report "
        "when several)",
    )
    p.add_argument(
        "--all", action="store_true", help="also print every metric's final (and best) value"
    )
    args = p.parse_args(argv)
    out = args.out or (args.run_dirs[0] if len(args.run_dirs) == 1 else "runs/report")
    try:
        runs = _load_runs(args.run_dirs)
        paths = _write(runs, Path(out))
    except ReportError as e:
        print(f"envlearn report: error: {e}", file=sys.stderr)
        return 1
    for line in headline_lines(runs) or [verdict(runs)]:
        print(line)
    for run in runs:
        s = _summary(run)
        if args.all:
            print(format_summary(s))
        else:
            wall = f", {_fmt(s['wall_s'])} s" if s["wall_s"] is not None else ""
            print(f"  {run.name}: step {s['last_step']}{wall} ({run.path})")
    print(f"wrote {paths['html']}, {paths['png']} and {paths['png_walltime']}")
    return 0
