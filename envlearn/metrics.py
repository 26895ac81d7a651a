"""Metrics logging: one JSONL row per event (train step, eval, diagnostic) + TensorBoard, and
the console's progress line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["MetricsLog", "fmt_row", "make_console", "make_progress"]


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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        disable=not enabled or not getattr(console, "is_terminal", False),
        transient=False,
    )
