"""The native backend: one persistent ``gdb`` (machine interface) per episode, in the sandbox.

The model writes ordinary gdb commands; each runs as ``-interpreter-exec console "..."``, so
what it prints is exactly what gdb's console prints, while the MI records say when the command
is over (``^done`` / ``^error``, or ``^running`` followed by ``*stopped``) and how the program
stopped (a breakpoint, a signal such as SIGSEGV, its exit).  The program's stdout and stderr go
to files of their own through an exec wrapper (line-buffered with coreutils' libstdbuf), read
after each command.  A command still running at its deadline is interrupted
(``-exec-interrupt``); a gdb that stops answering is restarted.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from envlearn.channels import EpisodeError
from envlearn_debugger.mi import MIError, Record, parse_record
from envlearn_debugger.pdb_session import CommandResult
from envlearn_debugger.proc import Box, Capture, SandboxedProcess

__all__ = ["GdbSession", "IO_DIR", "IOWRAP", "channel_for"]

START_TIMEOUT_S = 20.0
INTERRUPT_GRACE_S = 2.0
IO_DIR = ".envlearn-io"
STDBUF_LIB = "/usr/libexec/coreutils/libstdbuf.so"
IOWRAP = """#!/bin/sh
# envlearn: the debuggee's stdin is empty; its stdout/stderr go to files the host reads.
if [ -r {lib} ]; then export LD_PRELOAD={lib} _STDBUF_O=L _STDBUF_E=0; fi
exec "$@" </dev/null >>"{io}/stdout" 2>>"{io}/stderr"
"""

_LOCALS = ("info locals", "i locals", "info args", "i args", "info frame", "i frame")
_REGISTERS = ("info registers", "i registers", "info all-registers", "i r", "info r")


def channel_for(command: str) -> str:
    """The channel a gdb command's console output goes to: ``locals`` for ``info locals`` /
    ``info args`` / ``info frame``, ``registers`` for ``info registers``, else ``debugger``."""
    c = " ".join(command.split())
    for prefixes, ch in ((_LOCALS, "locals"), (_REGISTERS, "registers")):
        if any(c == p or c.startswith(p + " ") for p in prefixes):
            return ch
    return "debugger"


def _mi_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class GdbSession:
    """A sandboxed gdb/MI on ``program`` (a path inside the sandbox) with ``args``."""

    def __init__(
        self,
        box: Box,
        program: str,
        args: list[str],
        *,
        max_output_bytes: int = 8192,
        max_drain_bytes: int = 8 << 20,
        start: bool = True,
    ) -> None:
        self.box = box
        self.program = program
        self.args = list(args)
        self.max_output_bytes = max_output_bytes
        self.max_drain_bytes = max_drain_bytes
        self.proc: SandboxedProcess | None = None
        self.restarts = 0
        self._token = 0
        self._buf = bytearray()
        self.inferior_nspid: int | None = None
        self._stops = 0
        self._offsets = {"stdout": 0, "stderr": 0}
        self.start_with_main = start
        self.first = self._start()

    # ------------------------------------------------------------------ lifecycle

    @property
    def io_dir(self) -> Path:
        return self.box.home / IO_DIR

    def _new_result(self, channel: str = "debugger") -> CommandResult:
        cap = self.max_output_bytes
        r = CommandResult(Capture(cap), Capture(cap), Capture(cap))
        if channel != "debugger":
            r.extra[channel] = Capture(cap)
        return r

    def _start(self) -> CommandResult:
        io = self.io_dir
        io.mkdir(mode=0o700, exist_ok=True)
        for name in ("stdout", "stderr"):
            (io / name).write_bytes(b"")
            if os.geteuid() == 0:
                os.chown(io / name, self.box.uid, self.box.uid)
        if os.geteuid() == 0:
            os.chown(io, self.box.uid, self.box.uid)
        self._offsets = {"stdout": 0, "stderr": 0}
        home = self.box.path_in_box(self.box.home, "/home/user")
        ctl = self.box.path_in_box(self.box.ctl, "/run/envlearn")
        wrap = self.box.ctl / "iowrap"
        wrap.write_text(IOWRAP.format(lib=STDBUF_LIB, io=f"{home}/{IO_DIR}"))
        wrap.chmod(0o755)
        self.proc = SandboxedProcess(
            ["/usr/bin/gdb", "--nx", "--quiet", "--interpreter=mi3"],
            self.box,
            to_child=0,
            from_child=0,
            stdin_pipe=True,
        )
        self._buf = bytearray()
        setup = [
            "-gdb-set mi-async on",
            "-gdb-set pagination off",
            "-gdb-set confirm off",
            "-gdb-set width 0",
            "-gdb-set height 0",
            "-gdb-set print pretty off",
            "-gdb-set libthread-db-search-path /nonexistent",
            '-interpreter-exec console "set debuginfod enabled off"',
            f'-interpreter-exec console "set exec-wrapper {ctl}/iowrap"',
            f"-file-exec-and-symbols {_mi_quote(self.program)}",
        ]
        if self.args:
            setup.append("-exec-arguments " + " ".join(_mi_quote(a) for a in self.args))
        junk = self._new_result()
        for cmd in setup:
            rec, status = self._mi(cmd, junk, START_TIMEOUT_S)
            if rec is None or rec.cls == "error":
                why = rec.results.get("msg", "") if rec is not None else status
                err_h, _, err_t = junk.stderr.split()
                self.stop()
                raise EpisodeError(
                    f"gdb did not start in the sandbox: {cmd!r} gave {why!r}; "
                    f"stderr: {(err_h + err_t)[-1500:]}"
                )
        self.proc.find_namespace()
        if self.start_with_main:
            return self.run("start", timeout_s=START_TIMEOUT_S)
        return self._new_result()

    def stop(self) -> None:
        """Kill gdb, the program and everything they started (idempotent)."""
        if self.proc is not None:
            self.proc.stop()

    def restart(self) -> CommandResult:
        """A fresh gdb on the same program (breakpoints are lost)."""
        self.stop()
        self.restarts += 1
        return self._start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    # ------------------------------------------------------------------ MI plumbing

    def _records(self, data: bytes, out: list[Record]) -> None:
        self._buf += data
        *lines, rest = bytes(self._buf).split(b"\n")
        self._buf[:] = rest
        for raw in lines:
            try:
                out.append(parse_record(raw.decode("utf-8", "surrogateescape")))
            except MIError:
                # not MI: something wrote to gdb's stdout directly; keep it as console text
                out.append(Record("console", text=raw + b"\n"))

    def _pump(self, r: CommandResult, until, deadline: float, channel: str) -> str:
        """Read gdb's records into ``r`` until ``until(record)`` is true for one of them."""
        proc = self.proc
        assert proc is not None
        sink = r.extra.get(channel, r.debugger)
        pending: list[Record] = []
        hit = [until(None)]

        def on_out(data: bytes) -> None:
            self._records(data, pending)
            for rec in pending:
                if rec.type == "console":
                    sink.write(rec.text)
                elif (
                    rec.type == "log"
                    and rec.text.startswith(b"warning:")
                    and b"libthread_db" not in rec.text  # we turned thread debugging off
                ):
                    r.debugger.write(rec.text)
                elif rec.type == "result" and rec.cls == "error":
                    msg = str(rec.results.get("msg", ""))
                    r.debugger.write(msg.encode() + b"\n")
                elif rec.type == "notify" and rec.cls == "thread-group-started":
                    try:
                        self.inferior_nspid = int(str(rec.results.get("pid", "")))
                    except ValueError:
                        self.inferior_nspid = None
                elif rec.type == "exec" and rec.cls == "stopped":
                    self._stops += 1
                    reason = str(rec.results.get("reason", ""))
                    if reason == "exited-signalled":
                        name = str(rec.results.get("signal-name", ""))
                        r.exited.append(-getattr(signal.Signals, name, signal.SIGKILL).value)
                    elif reason.startswith("exited"):
                        code = rec.results.get("exit-code", "0")
                        try:
                            r.exited.append(int(str(code), 8))
                        except ValueError:
                            r.exited.append(1)
                if until(rec):
                    hit[0] = True
            pending.clear()

        def flood() -> bool:
            return r.debugger.total + sum(c.total for c in r.extra.values()) > self.max_drain_bytes

        sinks = {proc.out_fd: on_out, proc.err_fd: r.stderr.write}
        status = proc.pump(sinks, lambda: hit[0] or flood(), deadline)
        if status == "done" and not hit[0]:
            r.overflow = True
            return "timeout"
        return status

    def _mi(
        self, command: str, r: CommandResult, timeout_s: float, channel: str = "debugger"
    ) -> tuple[Record | None, str]:
        """Send one MI command and wait for its result record."""
        assert self.proc is not None
        self._token += 1
        tok = self._token
        got: list[Record] = []

        def until(rec: Record | None) -> bool:
            if rec is not None and rec.type == "result" and rec.token == tok:
                got.append(rec)
                return True
            return False

        if not self.proc.write(f"{tok}{command}\n".encode("utf-8", "replace")):
            return None, "died"
        status = self._pump(r, until, time.monotonic() + timeout_s, channel)
        return (got[0] if got else None), status

    def _wait_stopped(self, r: CommandResult, timeout_s: float, channel: str, after: int) -> str:
        """Pump until more than ``after`` stops were seen (the stop may already be in)."""

        def until(rec: Record | None) -> bool:
            return self._stops > after

        return self._pump(r, until, time.monotonic() + timeout_s, channel)

    # ------------------------------------------------------------------ commands

    def run(self, line: str, *, timeout_s: float) -> CommandResult:
        """Run one gdb console command; what it printed, until the program stopped again."""
        t0 = time.monotonic()
        channel = channel_for(line)
        r = self._new_result(channel)
        if not self.alive():
            r.session_restarted = "gdb had exited"
            self._adopt(r, self.restart())
            return r
        deadline = time.monotonic() + timeout_s
        stops = self._stops
        rec, status = self._mi(
            f"-interpreter-exec console {_mi_quote(line)}", r, timeout_s, channel
        )
        if rec is not None and rec.cls == "running":
            left = max(0.0, deadline - time.monotonic())
            status = self._wait_stopped(r, left, channel, stops)
            if status == "timeout":
                if not r.overflow:
                    r.timed_out = True
                # what Ctrl-C in a terminal does: SIGINT to the program, which gdb reports
                if self._interrupt_inferior():
                    status = self._wait_stopped(r, INTERRUPT_GRACE_S, channel, stops)
        elif rec is None:
            if status == "timeout" and not r.overflow:
                r.timed_out = True
        if rec is None or status in ("died", "timeout"):
            r.session_restarted = (
                "gdb exited" if status == "died" else "gdb did not answer in time, so it was killed"
            )
            self._read_program_output(r)
            self._adopt(r, self.restart())
        else:
            self._read_program_output(r)
        r.duration_s = time.monotonic() - t0
        return r

    def _interrupt_inferior(self) -> bool:
        """SIGINT the debuggee (found by its pid inside the sandbox); False if it is gone."""
        assert self.proc is not None
        want = self.inferior_nspid
        if want is None:
            return False
        for pid in self.proc.pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    line = next((x for x in f if x.startswith("NSpid:")), "")
            except OSError:
                continue
            ids = line.split()[1:]
            if ids and ids[-1] == str(want) and (len(ids) > 1 or self.box.sandbox == "none"):
                self.proc.signal(pid, signal.SIGINT)
                return True
        return False

    def mi(self, command: str, timeout_s: float = 5.0) -> Record | None:
        """Send a raw MI command (tests, benchmarks); its result record."""
        rec, _ = self._mi(command, self._new_result(), timeout_s)
        return rec

    def _read_program_output(self, r: CommandResult) -> None:
        for name, cap in (("stdout", r.stdout), ("stderr", r.stderr)):
            p = self.io_dir / name
            try:
                size = p.stat().st_size
            except OSError:
                continue
            start = self._offsets[name]
            if size <= start:
                continue
            with open(p, "rb") as f:
                f.seek(start)
                head_room = cap.cap
                cap.write(f.read(min(size - start, head_room)))
                rest = size - start - min(size - start, head_room)
                if rest > 0:
                    skip = max(0, rest - cap.cap)
                    if skip:
                        cap.total += skip
                    f.seek(size - (rest - skip))
                    cap.write(f.read())
            self._offsets[name] = size

    @staticmethod
    def _adopt(r: CommandResult, fresh: CommandResult) -> None:
        for mine, theirs in (
            (r.debugger, fresh.debugger),
            (r.stdout, fresh.stdout),
            (r.stderr, fresh.stderr),
        ):
            h, _, t = theirs.split()
            mine.write((h + t).encode())
