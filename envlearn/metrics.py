"""Metrics logging: one JSONL row per event (train step, eval, diagnostic) + TensorBoard, and
the console's progress line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "MetricsLog",
    "eta_text",
    "fmt_row",
    "interrupted_line",
    "make_console",
    "make_progress",
]


class MetricsLog:
    """Appends rows to ``RUN_DIR/metrics.jsonl`` (and TensorBoard when asked); main process only."""

    def __init__(self, run_dir: Path, *, tensorboard: bool, enabled: bool = True) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.run_dir = run_dir
        self.tensorboard = tensorboard
        self.enabled = enabled
        self._tb: Any = None

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if self.tensorboard:
            if self._tb is None:
                try:
                    from torch.utils.tensorboard import SummaryWriter

                    self._tb = SummaryWriter(str(self.run_dir / "tb"))
                except ImportError:
                    self._tb = False
            if self._tb:
                for k, v in row.items():
                    if isinstance(v, int | float) and k not in ("step",):
                        self._tb.add_scalar(f"{row['kind']}/{k}", v, row["step"])
                self._tb.flush()

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after ``step`` (a resumed run redoes the killed segment)."""
        if not self.enabled or not self.path.exists():
            return
        keep = [
            ln for ln in self.path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step
        ]
        self.path.write_text("".join(ln + "\n" for ln in keep))

    def close(self) -> None:
        if self._tb:
            self._tb.close()


def fmt_row(row: dict[str, Any]) -> str:
    """The few numbers of a step worth a console line."""
    parts = []
    for key, label in (
        ("reward_mean", "reward"),
        ("loss", "loss"),
        ("env_ce", "env-CE"),
        ("env_ce_heldout", "held-out env-CE"),
        ("pass@1", "pass@1"),
        ("tokens_per_s", "tok/s"),
    ):
        v = row.get(key)
        if isinstance(v, int | float):
            parts.append(f"{label} {v:.3g}" if key != "tokens_per_s" else f"{label} {v:.0f}")
    return "  ".join(parts)


def make_console() -> Any:
    from rich.console import Console

    return Console(stderr=False, highlight=False, soft_wrap=True)


def make_progress(console: Any, *, enabled: bool) -> Any:
    """The step bar: ``name ━━━━━━  7/30 0:01:10 eta 0:04:50 info``.  The name, bar, count and
    times keep their width on a narrow terminal (80 columns); the info is cut with an ellipsis."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Column

    def fixed(**kw: Any) -> Column:
        return Column(no_wrap=True, **kw)

    # name 14 + bar 12 + count 7 + elapsed 7 + "eta" 3 + remaining 7 + 6 gaps = 56 columns
    info = max(10, int(getattr(console, "width", 80) or 80) - 57)

    return Progress(
        TextColumn(
            "[bold]{task.description}", table_column=fixed(max_width=14, overflow="ellipsis")
        ),
        BarColumn(bar_width=12, table_column=fixed(width=12)),
        MofNCompleteColumn(table_column=fixed()),
        TimeElapsedColumn(table_column=fixed()),
        TextColumn("eta", table_column=fixed()),
        TimeRemainingColumn(table_column=fixed()),
        TextColumn("{task.fields[info]}", table_column=fixed(overflow="ellipsis", max_width=info)),
        console=console,
        disable=not enabled or not getattr(console, "is_terminal", False),
        transient=False,
        speed_estimate_period=3600.0,  # steps take seconds to minutes: average over all of them
    )


def eta_text(done: int, remaining: int, elapsed_s: float) -> str:
    """``"eta 4m50s"`` from ``done`` steps in ``elapsed_s`` and ``remaining`` steps to go."""
    if remaining <= 0:
        return "eta 0s"
    if done <= 0 or elapsed_s <= 0:
        return "eta ?"
    left = round(elapsed_s / done * remaining)
    if left >= 3600:
        return f"eta {left // 3600}h{left % 3600 // 60:02d}m"
    if left >= 60:
        return f"eta {left // 60}m{left % 60:02d}s"
    return f"eta {left}s"


def interrupted_line(step: int, resume_flag: bool = False) -> str:
    """What Ctrl-C prints (one line; the command then exits 130).  ``resume_flag``: the command
    resumes only with ``--resume`` added (``envlearn train`` without it)."""
    if resume_flag:
        return f"interrupted at step {step}; run the same command with --resume to continue"
    return f"interrupted at step {step}; run the same command again to resume"
