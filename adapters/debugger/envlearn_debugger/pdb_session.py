"""The Python backend: one persistent ``pdb`` per episode, inside the sandbox.

The sandboxed ``scripts/pdb_driver.py`` runs the task's script (or one test function) under
``pdb.Pdb``; the host sends one command line at a time and reads until pdb asks for the next
(a ``READY`` event on a pipe of its own), so pdb's output, the program's stdout and its stderr
arrive on separate pipes.  A command that runs past its deadline gets SIGINT (pdb's own handler
stops the program where it is); if pdb does not come back, the session is restarted.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field

from envlearn_debugger.proc import Box, Capture, SandboxedProcess

__all__ = ["CommandResult", "PdbSession"]

START_TIMEOUT_S = 20.0
INTERRUPT_GRACE_S = 1.5
DRIVER = "pdb_driver.py"
CTL_IN_BOX = "/run/envlearn"


@dataclass
class CommandResult:
    """What one debugger command did: captures per channel and what the harness noticed."""

    debugger: Capture
    stdout: Capture
    stderr: Capture
    extra: dict[str, Capture] = field(default_factory=dict)
    exited: list[int] = field(default_factory=list)
    restarted_program: int = 0
    timed_out: bool = False
    overflow: bool = False
    session_restarted: str = ""
    duration_s: float = 0.0


class PdbSession:
    """A sandboxed pdb on ``target`` (``script PATH [ARGS]`` or ``test FILE::FUNC``)."""

    def __init__(
        self,
        box: Box,
        target: list[str],
        *,
        max_output_bytes: int = 8192,
        max_drain_bytes: int = 8 << 20,
    ) -> None:
        self.box = box
        self.target = list(target)
        self.max_output_bytes = max_output_bytes
        self.max_drain_bytes = max_drain_bytes
        self.proc: SandboxedProcess | None = None
        self.restarts = 0
        self.driver_pid: int | None = None
        self.first: CommandResult = self._start()

    # ------------------------------------------------------------------ lifecycle

    def _new_result(self) -> CommandResult:
        cap = self.max_output_bytes
        return CommandResult(Capture(cap), Capture(cap), Capture(cap))

    def _start(self) -> CommandResult:
        ctl = self.box.path_in_box(self.box.ctl, CTL_IN_BOX)
        work = self.box.path_in_box(self.box.work, "/work")
        inner = ["/usr/bin/python3", "-I", "-B", f"{ctl}/{DRIVER}", work, *self.target]
        self._argv = inner
        self.proc = SandboxedProcess(
            inner, self.box, to_child=1, from_child=2, env={"PYTHONUNBUFFERED": "1"}
        )
        r = self._new_result()
        status = self._wait(r, START_TIMEOUT_S, interrupt=False)
        if status != "ready":
            err, _, tail = r.stderr.split()
            self.stop()
            from envlearn.channels import EpisodeError

            raise EpisodeError(
                f"pdb did not start in the sandbox ({status}); stderr: {(err + tail)[-1500:]}"
            )
        self.proc.find_namespace()
        self.driver_pid = self.proc.find_pid(self._argv[:3])
        return r

    def stop(self) -> None:
        """Kill pdb, the program and everything they started (idempotent)."""
        if self.proc is not None:
            self.proc.stop()

    def restart(self) -> CommandResult:
        """A fresh pdb on the same target (the work dir's files are kept)."""
        self.stop()
        self.restarts += 1
        return self._start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    # ------------------------------------------------------------------ commands

    def _wait(self, r: CommandResult, timeout_s: float, *, interrupt: bool) -> str:
        """Pump until pdb is READY again; on the deadline, SIGINT once, then give up.

        Returns ``ready``, ``died``, ``timeout`` (no interrupt asked) or ``stuck``."""
        proc = self.proc
        assert proc is not None
        events = bytearray()
        ready = [False]

        def on_event(data: bytes) -> None:
            events.extend(data)
            *lines, rest = bytes(events).split(b"\n")
            events[:] = rest
            for line in lines:
                if line == b"READY":
                    ready[0] = True
                elif line.startswith(b"EXITED "):
                    try:
                        r.exited.append(int(line[7:]))
                    except ValueError:
                        r.exited.append(1)
                elif line == b"RESTARTED":
                    r.restarted_program += 1

        sinks = {
            proc.out_fd: r.stdout.write,
            proc.err_fd: r.stderr.write,
            proc.readers[0]: r.debugger.write,
            proc.readers[1]: on_event,
        }

        def until() -> bool:
            if ready[0]:
                proc.drain(sinks)
                return True
            return r.debugger.total + r.stdout.total + r.stderr.total > self.max_drain_bytes

        status = proc.pump(sinks, until, time.monotonic() + timeout_s)
        if status == "done" and ready[0]:
            return "ready"
        if status == "died":
            return "died"
        if not interrupt:
            return "timeout"
        if status == "done":
            r.overflow = True  # an output flood: stop it like a timeout
        else:
            r.timed_out = True
        if self.driver_pid is not None:
            proc.signal(self.driver_pid, signal.SIGINT)

        def until_ready() -> bool:
            if ready[0]:
                proc.drain(sinks)
            return ready[0]

        status = proc.pump(sinks, until_ready, time.monotonic() + INTERRUPT_GRACE_S)
        return "ready" if status == "done" else ("died" if status == "died" else "stuck")

    def run(self, line: str, *, timeout_s: float) -> CommandResult:
        """Send one pdb command line; what it printed, until pdb waits again."""
        t0 = time.monotonic()
        r = self._new_result()
        if not self.alive():
            r.session_restarted = "pdb had exited"
            self._adopt(r, self.restart())
            return r
        assert self.proc is not None
        if not self.proc.write(line.encode("utf-8", errors="replace") + b"\n"):
            status = "died"
        else:
            status = self._wait(r, timeout_s, interrupt=True)
        if status != "ready":
            r.session_restarted = (
                "pdb exited"
                if status == "died"
                else "the program did not stop after an interrupt, so pdb was killed"
            )
            self._adopt(r, self.restart())
        r.duration_s = time.monotonic() - t0
        return r

    @staticmethod
    def _adopt(r: CommandResult, fresh: CommandResult) -> None:
        """Append what a restarted session printed on start to the command's result."""
        for mine, theirs in ((r.debugger, fresh.debugger), (r.stdout, fresh.stdout)):
            h, _, t = theirs.split()
            mine.write((h + t).encode())
        h, _, t = fresh.stderr.split()
        r.stderr.write((h + t).encode())
