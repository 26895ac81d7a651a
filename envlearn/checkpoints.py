"""Checkpoints: model, optimizer, scheduler, RNG states and data position, written atomically.

A checkpoint is ``RUN_DIR/checkpoints/step_NNNNN`` (accelerate state + ``model/`` +
``trainer_state.json``), written to ``step_NNNNN.tmp`` and renamed into place, so a run killed
mid-write keeps its previous checkpoint.  A write that fails (disk full, read-only run dir)
removes its ``.tmp`` and raises :class:`CheckpointWriteError` saying why in one line.  ``RUN_DIR/model`` is a copy of the latest model.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

from envlearn.health import CheckpointWriteError

__all__ = ["checkpoint_dir", "latest_checkpoint", "load_checkpoint", "save_checkpoint"]


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step_{step:05d}"


def latest_checkpoint(run_dir: Path) -> Path | None:
    ckpts = sorted((run_dir / "checkpoints").glob("step_?????"))
    return ckpts[-1] if ckpts else None


def save_checkpoint(
    accel: Any,
    model: Any,
    tokenizer: Any,
    run_dir: Path,
    *,
    step: int,
    wall_s: float,
    keep: int,
) -> Path:
    """Write the checkpoint of ``step`` (every process calls this; the main one writes files)."""
    final = checkpoint_dir(run_dir, step)
    tmp = final.with_name(final.name + ".tmp")
    if accel.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accel.wait_for_everyone()
    try:
        accel.save_state(str(tmp), safe_serialization=False)
        if accel.is_main_process:
            unwrapped = accel.unwrap_model(model)
            unwrapped.save_pretrained(tmp / "model", safe_serialization=False)
            tokenizer.save_pretrained(tmp / "model")
            (tmp / "trainer_state.json").write_text(json.dumps({"step": step, "wall_s": wall_s}))
    except (OSError, RuntimeError) as e:  # torch.save reports a full disk as a RuntimeError
        message = _write_failure(final, run_dir, e)  # before cleaning up: the disk is still full
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointWriteError(message) from e
    if accel.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        ckpts = sorted((run_dir / "checkpoints").glob("step_?????"))
        for old in ckpts[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        latest = run_dir / "model"
        tmp_latest = run_dir / "model.tmp"
        shutil.rmtree(tmp_latest, ignore_errors=True)
        try:
            shutil.copytree(final / "model", tmp_latest)
        except OSError as e:  # the checkpoint itself is complete; RUN_DIR/model stays as it was
            message = _write_failure(latest, run_dir, e)
            shutil.rmtree(tmp_latest, ignore_errors=True)
            raise CheckpointWriteError(message) from e
        shutil.rmtree(latest, ignore_errors=True)
        os.replace(tmp_latest, latest)
    accel.wait_for_everyone()
    return final


def _write_failure(what: Path, run_dir: Path, err: BaseException) -> str:
    """One line: what could not be written, why (disk full, read-only, ...), what is intact."""
    chain: list[BaseException] = [err]
    while len(chain) < 10:
        nxt = chain[-1].__cause__ or chain[-1].__context__
        if nxt is None or nxt in chain:
            break
        chain.append(nxt)
    errnos = {getattr(e, "errno", None) for e in chain}
    try:
        free = shutil.disk_usage(run_dir).free
    except OSError:
        free = -1
    text = str(err)
    # torch.save says "iostream error" or "unexpected pos" rather than ENOSPC: a write that
    # failed with (almost) nothing left free is a full disk
    if errno.ENOSPC in errnos or 0 <= free < (1 << 20):
        why = f"disk full ({free // 1024} KiB free on {run_dir})" if free >= 0 else "disk full"
        fix = "free some space or move run_dir to a larger disk"
    elif errnos & {errno.EROFS, errno.EACCES, errno.EPERM}:
        code = min(errnos & {errno.EROFS, errno.EACCES, errno.EPERM})
        why = f"{run_dir} is not writable ({os.strerror(code)})"
        fix = "make it writable or choose another run_dir"
    else:
        why = f"{type(err).__name__}: {' '.join(text.split())[:200]}"
        fix = "fix the cause"
    prev = latest_checkpoint(run_dir)
    kept = f"the previous checkpoint {prev.name} is intact" if prev else "no earlier checkpoint"
    return (
        f"could not write {what.name}: {why}; {kept} and the partial one was removed; "
        f"{fix}, then rerun with --resume"
    )


def load_checkpoint(accel: Any, run_dir: Path) -> tuple[int, float, Path]:
    """Load the latest checkpoint into ``accel``'s registered objects: (step, wall_s, path)."""
    last = latest_checkpoint(run_dir)
    if last is None:
        raise FileNotFoundError(
            f"--resume: no checkpoint in {run_dir / 'checkpoints'}; start without --resume"
        )
    accel.load_state(str(last))
    state = json.loads((last / "trainer_state.json").read_text())
    return int(state["step"]), float(state["wall_s"]), last
