"""Long-lived sandboxed processes (pdb, gdb) and bounded output capture.

A :class:`SandboxedProcess` is one process tree in the terminal adapter's bubblewrap sandbox
(:mod:`envlearn_terminal.sandbox`): no network, a non-root uid, rlimits, its own pid namespace.
The host talks to it over pipes; :meth:`SandboxedProcess.stop` kills the whole pid namespace and
reaps, so nothing the debuggee started survives.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from envlearn_terminal.sandbox import (
    Limits,
    SandboxKind,
    child_pid_namespace,
    kill_pid_namespace,
    kill_session,
    pid_namespace,
    processes_in_pid_namespace,
    sandbox_env,
    spawn,
    wrap_command,
)

from envlearn.channels import EpisodeError

__all__ = ["Box", "Capture", "SandboxedProcess", "decode"]


@dataclass(frozen=True)
class Box:
    """Where an episode's sandboxed processes run: dirs on the host, the uid, the limits."""

    work: Path
    home: Path
    ctl: Path
    uid: int
    sandbox: SandboxKind
    limits: Limits
    ro_binds: tuple[tuple[str, str], ...] = ()
    hide: tuple[str, ...] = ()

    def path_in_box(self, host: Path, box_path: str) -> str:
        """``box_path`` inside the sandbox, or the host path when unsandboxed."""
        return box_path if self.sandbox == "bwrap" else str(host)


@dataclass
class Capture:
    """One output stream, capped in bytes: the first 3/4 and the last 1/4 of ``cap`` are kept."""

    cap: int
    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    total: int = 0

    def write(self, data: bytes) -> None:
        """Append output, keeping only what the cap allows."""
        self.total += len(data)
        room = self.cap - self.cap // 4 - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            keep = self.cap // 4
            if len(self.tail) > keep + 65536:
                del self.tail[: len(self.tail) - keep]

    def split(self) -> tuple[str, int, str]:
        """``(head, omitted bytes, tail)`` as text; ``omitted == 0`` when nothing was cut."""
        if self.total <= self.cap:
            return decode(bytes(self.head + self.tail)), 0, ""
        keep = self.cap // 4
        tail = bytes(self.tail[-keep:]) if keep else b""
        head_b = bytes(self.head)
        omitted = self.total - len(head_b) - len(tail)
        return decode(head_b), omitted, decode(tail)

    @property
    def empty(self) -> bool:
        return self.total == 0


def decode(b: bytes) -> str:
    """UTF-8 text, each invalid byte replaced by U+FFFD (a cut character at an edge too)."""
    return b.decode("utf-8", errors="replace")


class SandboxedProcess:
    """One command in the sandbox with its stdout/stderr and extra pipes; killed with its
    whole pid namespace by :meth:`stop` (idempotent)."""

    def __init__(
        self,
        inner: Sequence[str],
        box: Box,
        *,
        to_child: int = 1,
        from_child: int = 2,
        stdin_pipe: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        """Start ``inner``; the child gets ``to_child`` read pipes at fds 3.. and then
        ``from_child`` write pipes (fds ``3 + to_child`` ..), besides stdout and stderr (and
        stdin, a pipe with ``stdin_pipe``, else ``/dev/null``).  ``writers`` lists our ends of
        its input pipes (stdin first), ``readers`` of its output pipes."""
        self.box = box
        self._stopped = False
        child_fds: list[int] = []
        self.writers: list[int] = []
        self.readers: list[int] = []
        pairs = []
        for _ in range(to_child):
            r, w = os.pipe()
            pairs.append((r, w))
            child_fds.append(r)
            self.writers.append(w)
        for _ in range(from_child):
            r, w = os.pipe()
            pairs.append((r, w))
            child_fds.append(w)
            self.readers.append(r)
        # put the pipes at fds 3, 4, ... in the child: via high fds first, so that no move
        # clobbers a pipe not yet moved (bash, not sh: dash only knows fds 0-9)
        n = len(child_fds)
        hop = " ".join(
            f"{900 + i}{'<' if i < to_child else '>'}&{fd}" for i, fd in enumerate(child_fds)
        )
        land = " ".join(f"{3 + i}{'<' if i < to_child else '>'}&{900 + i}" for i in range(n))
        drop = " ".join(f"{900 + i}>&-" for i in range(n))
        extra = " ".join(f"{fd}>&-" for fd in child_fds if fd >= 3 + n)
        prelude = f'exec {hop}; exec {extra} {land}; exec {drop}; exec "$@"'
        argv = wrap_command(
            ["/bin/bash", "-c", prelude, "bash", *inner],
            sandbox=box.sandbox,
            uid=box.uid,
            limits=box.limits,
            workdir=box.work,
            home=box.home,
            ctl_dir=box.ctl,
            ro_binds=box.ro_binds,
            hide=box.hide,
            new_session=True,
        )
        try:
            self.proc = spawn(
                argv,
                stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=tuple(child_fds),
                env=sandbox_env(sandbox=box.sandbox, home=box.home, extra=env),
                cwd=box.work,
                start_new_session=True,
            )
        except BaseException:
            for r, w in pairs:
                os.close(r)
                os.close(w)
            raise
        for fd in child_fds:
            os.close(fd)
        if stdin_pipe:
            assert self.proc.stdin is not None
            self.writers.insert(0, self.proc.stdin.fileno())
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.out_fd = self.proc.stdout.fileno()
        self.err_fd = self.proc.stderr.fileno()
        for fd in (self.out_fd, self.err_fd, *self.readers):
            os.set_blocking(fd, False)
        try:
            self.pidfd = os.pidfd_open(self.proc.pid)
        except OSError:
            self.pidfd = -1
        self.ns: str | None = None

    def find_namespace(self) -> None:
        """Record the sandbox's pid namespace (once the child is running)."""
        if self.box.sandbox == "bwrap" and self.ns is None:
            self.ns = child_pid_namespace(self.proc.pid)
            if self.ns is None or self.ns == pid_namespace(os.getpid()):
                raise EpisodeError("the sandboxed debugger is not in its own pid namespace")

    def pids(self) -> list[int]:
        """Host pids of the live processes of this sandbox."""
        if self.ns is not None:
            return processes_in_pid_namespace(self.ns)
        return [self.proc.pid] if self.proc.poll() is None else []

    def find_pid(self, argv_prefix: Sequence[str]) -> int | None:
        """The host pid of the sandbox process whose argv starts with ``argv_prefix`` (not
        bwrap's, whose argv merely contains it)."""
        want = b"\0".join(a.encode() for a in argv_prefix) + b"\0"
        for pid in sorted(self.pids()):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if f.read().startswith(want):
                        return pid
            except OSError:
                continue
        return None

    def signal(self, pid: int, sig: int = signal.SIGINT) -> None:
        """Send ``sig`` to one of this sandbox's processes (never anything else)."""
        if pid in self.pids():
            try:
                os.kill(pid, sig)
            except OSError:
                pass

    def alive(self) -> bool:
        return not self._stopped and self.proc.poll() is None

    def write(self, data: bytes, which: int = 0) -> bool:
        """Write to the child's input pipe ``which``; False if the child is gone."""
        try:
            os.write(self.writers[which], data)
            return True
        except (BrokenPipeError, OSError):
            return False

    def pump(
        self,
        sinks: dict[int, Callable[[bytes], None]],
        until: Callable[[], bool],
        deadline: float,
    ) -> str:
        """Read every readable fd into its sink until ``until()`` holds (``"done"``), the
        deadline passes (``"timeout"``) or the sandbox exits (``"died"``)."""
        poller = select.poll()
        for fd in sinks:
            poller.register(fd, select.POLLIN)
        if self.pidfd >= 0:
            poller.register(self.pidfd, select.POLLIN)
        open_fds = set(sinks)
        while True:
            if until():
                return "done"
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            for fd, _ev in poller.poll(left * 1000):
                if fd == self.pidfd:
                    self.drain(sinks)
                    return "done" if until() else "died"
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    sinks[fd](data)
                else:
                    poller.unregister(fd)
                    open_fds.discard(fd)
            if not open_fds and self.pidfd < 0 and self.proc.poll() is not None:
                return "done" if until() else "died"

    def drain(self, sinks: dict[int, Callable[[bytes], None]], limit: int = 1 << 20) -> None:
        """Read what is already in the pipes, without blocking (at most ``limit`` bytes each)."""
        for fd, sink in sinks.items():
            got = 0
            while got < limit:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                got += len(data)
                sink(data)

    def stop(self) -> None:
        """Kill every process of the sandbox, reap, close our pipe ends (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self.ns is None and self.box.sandbox == "bwrap":
            self.ns = child_pid_namespace(self.proc.pid)
        try:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.ns is not None and self.ns != pid_namespace(os.getpid()):
            kill_pid_namespace(self.ns)
        else:
            try:
                kill_session(self.proc.pid)
            except ValueError:
                pass
        stdin_fd = self.proc.stdin.fileno() if self.proc.stdin is not None else -1
        for fd in (*self.writers, *self.readers, self.pidfd):
            if fd == stdin_fd:
                continue
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass


@dataclass
class OneShot:
    """What a one-shot sandboxed command did (output captured, bounded)."""

    returncode: int | None
    stdout: Capture
    stderr: Capture
    results: bytes
    timed_out: bool
    duration_s: float


def run_oneshot(
    box: Box,
    inner: Sequence[str],
    *,
    timeout_s: float,
    secret: bytes | None = None,
    max_output_bytes: int = 65536,
    max_results_bytes: int = 4 << 20,
) -> OneShot:
    """Run ``inner`` in the sandbox to completion or its deadline (then kill it).

    With ``secret``, the child reads it on fd 3 (then EOF) and may write results to fd 4,
    returned as ``results`` (a pipe only the command's own code knows about)."""
    t0 = time.monotonic()
    n = 1 if secret is not None else 0
    p = SandboxedProcess(inner, box, to_child=n, from_child=n)
    out, err = Capture(max_output_bytes), Capture(max_output_bytes)
    results = bytearray()
    try:
        if secret is not None:
            p.write(secret)
            os.close(p.writers.pop(0))

        def on_results(data: bytes) -> None:
            if len(results) < max_results_bytes:
                results.extend(data[: max_results_bytes - len(results)])

        sinks: dict[int, Callable[[bytes], None]] = {p.out_fd: out.write, p.err_fd: err.write}
        if secret is not None:
            sinks[p.readers[0]] = on_results
        status = p.pump(sinks, lambda: False, t0 + timeout_s)
        p.drain(sinks)
        timed_out = status == "timeout"
        if not timed_out:
            try:
                p.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                timed_out = True
    finally:
        p.stop()
    return OneShot(
        None if timed_out else p.proc.returncode,
        out,
        err,
        bytes(results),
        timed_out,
        time.monotonic() - t0,
    )
