"""Reproducible time inside the sandbox: a seeded per-episode clock and fixed file times.

With ``clock="fixed"`` (the default) an episode's clock is a function of the task, the seed and
the number of commands run, never of the wall clock:

* the episode's epoch ``E`` is derived from ``sha256(task id, seed)``: a second in 2024;
* ``setup.sh`` runs with its clock starting at ``E``; command ``k`` (1, 2, ...) of the shell at
  ``E + k * step`` (``step``: the per-command timeout rounded up to whole minutes, at least one,
  so the clock never runs backwards); ``verify.sh`` after the last command.  Within a command
  the clock ticks normally (libfaketime's ``FAKETIME="@..."`` start-at mode, per process);
* file times the kernel stamps (``touch``, writes, ``mkdir``) are real, so after setup and
  after every command the host sets the access and modification times of every entry of the
  episode's writable space stamped since the previous pass to the fake start of that step
  (:func:`normalize_times`).  Times set explicitly (``touch -d``, ``tar x``, ``cp -p``) are kept.

Not covered: inode change times (``ls -lc``, ``stat``'s Change: the kernel sets them), clocks
of statically linked programs, and bash's own ``$SECONDS``/``$EPOCHSECONDS`` (the shell's clock
started with the session).
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
import time
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["EpisodeClock", "episode_epoch", "normalize_times"]

_BASE = 1_704_067_200  # 2024-01-01 00:00:00 UTC
_YEAR = 366 * 86_400


def episode_epoch(task_id: str, seed: int | None) -> int:
    """The fake start time (Unix seconds) of an episode of ``task_id`` with ``seed``."""
    h = hashlib.sha256(f"envlearn-terminal-clock\0{task_id}\0{seed}".encode()).digest()
    return _BASE + int.from_bytes(h[:8], "big") % (_YEAR - 86_400)


def _fmt(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


class EpisodeClock:
    """The fake clock of one episode (see the module docstring)."""

    def __init__(self, task_id: str, seed: int | None, timeout_s: float) -> None:
        self.epoch = episode_epoch(task_id, seed)
        self.step_s = 60 * max(1, math.ceil((timeout_s + 1) / 60))
        self.commands = 0

    def start_of(self, k: int) -> int:
        """Fake Unix time at which command ``k`` starts (0: setup)."""
        return self.epoch + k * self.step_s

    def faketime(self, k: int) -> str:
        """``FAKETIME`` start-at value (without the ``@``) of command ``k``."""
        return _fmt(self.start_of(k))


def normalize_times(
    root: Path,
    *,
    since_ns: int,
    to_s: int,
    until_ns: int | None = None,
    max_entries: int = 20_000,
) -> tuple[int, bool]:
    """Set atime/mtime of every entry under ``root`` (``root`` included) stamped in
    ``[since_ns, until_ns]`` (real time, ns; ``until_ns`` defaults to a second from now) to
    ``to_s``; only the access time where only that was stamped.

    Walks with directory fds and never follows symlinks (the sandbox may race it: nothing
    outside ``root``'s filesystem is touched).  Returns ``(entries changed, complete)``:
    ``complete`` is False when ``max_entries`` stopped the walk.
    """
    now_ns = time.time_ns() + 1_000_000_000 if until_ns is None else until_ns
    changed = 0
    seen = 0
    target = (to_s * 1_000_000_000, to_s * 1_000_000_000)
    try:
        top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return 0, True
    try:
        dev = os.fstat(top).st_dev

        def fix(st: os.stat_result, name: str | None, dir_fd: int) -> None:
            nonlocal changed
            m_new = since_ns <= st.st_mtime_ns <= now_ns
            a_new = since_ns <= st.st_atime_ns <= now_ns
            if not (m_new or a_new):
                return
            # a read bumps only the access time: then the modification time stays as it was
            times = target if m_new else (target[0], st.st_mtime_ns)
            try:
                if name is None:
                    os.utime(dir_fd, ns=times)
                else:
                    os.utime(name, ns=times, dir_fd=dir_fd, follow_symlinks=False)
                changed += 1
            except OSError:
                pass

        def walk(fd: int) -> bool:
            nonlocal seen
            with os.scandir(fd) as it:
                for e in it:
                    seen += 1
                    if seen > max_entries:
                        return False
                    try:
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if st.st_dev != dev:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        try:
                            sub = os.open(
                                e.name,
                                os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                dir_fd=fd,
                            )
                        except OSError:
                            continue
                        try:
                            ok = walk(sub)
                        finally:
                            os.close(sub)
                        if not ok:
                            return False
                    # after a dir's entries: fixing them changes its ctime, not its mtime
                    fix(st, e.name, fd)
            return True

        complete = walk(top)
        fix(os.fstat(top), None, top)
        return changed, complete
    finally:
        os.close(top)
