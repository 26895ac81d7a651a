"""One long-lived bash per episode, inside the sandbox, driven one command at a time.

How a command runs (all of it is plain bash, no helper binary):

* The shell is an interactive ``bash --noediting -i`` whose controlling terminal is a pty we own
  (``setsid --ctty``), so it has job control: every foreground job gets its own process group,
  and a job killed by SIGINT breaks the loop it ran in, as Ctrl-C does in a terminal.
* Its stdin is a pipe: per command we write the command text to a file in the read-only
  control dir and send one line, ``__envlearn_run``, which ``eval``s that file in the shell
  itself (so ``cd``, variables, functions and background jobs persist), with stdin from
  ``/dev/null``.
* stdout and stderr are two pipes; ``PROMPT_COMMAND`` writes ``DONE <seq> <exit code>`` to a
  third pipe before each prompt, which marks the end of command number ``seq`` however it
  ended (lines with another number are stale prompts, e.g. after a Ctrl-C at the prompt).
  The shell's death is seen on a pidfd of the sandbox process.
* At the timeout the foreground process group gets SIGINT, then SIGKILL (a new foreground job,
  the next turn of a loop, gets SIGINT first again); if the shell still does not come back
  (it ignores SIGINT, or it is itself stuck), the session is restarted.  If the shell dies
  (``exit``, ``exec``, ``kill -9 $$``) the session is restarted too.  Files in the work dir
  survive restarts; the shell's state does not.
* While a command runs, the process states are looked at every 0.2 s: a stopped shell
  (``kill -STOP $$``) is restarted at once, a foreground job that stays stopped where bash's job
  control does not take the terminal back is killed (``stopped`` in the result), instead of
  both waiting for the timeout.
* ``run(..., fake_time=...)`` exports ``FAKETIME`` (and re-exports ``LD_PRELOAD``) for that
  command, so every process it starts sees the episode's fixed clock (see ``clock.py``).

Output is captured in bytes: the first 3/4 and the last 1/4 of ``max_output_bytes`` per channel
are kept, the count of what lies between is reported.  A command that prints more than
``max_drain_bytes`` in total is interrupted (it would otherwise burn CPU until its timeout).
"""

from __future__ import annotations

import os
import select
import shlex
import signal
import subprocess
import threading
import time
import tty
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from envlearn.channels import EpisodeError
from envlearn_terminal.sandbox import (
    SANDBOX_CTL,
    Limits,
    SandboxKind,
    env_prefix,
    kill_pid_namespace,
    kill_session,
    pid_namespace,
    process_state,
    processes_in_group,
    remove_faketime_shm,
    sandbox_env,
    spawn,
    wrap_command,
)

__all__ = ["Capture", "CommandResult", "SessionError", "ShellSession"]

START_TIMEOUT_S = 15.0
INTERRUPT_GRACE_S = 0.5  # after the first SIGINT
ROUND_GRACE_S = 0.25  # after each later signal
INTERRUPT_ROUNDS = 8  # then the session is restarted
WATCH_EVERY_S = 0.2  # process-state checks while a command runs
STOPPED_GRACE_S = 0.3  # a stopped foreground job bash has not taken back by then is killed

_RC = r"""
{fd_setup}
PS1=''; PS2=''; PS0=''; PS4='+ '
unset HISTFILE MAIL MAILCHECK MAILPATH
set +o history +H
__envlearn_seq=0
__envlearn_status() {{ return "$1"; }}
{preload}
__envlearn_run() {{
  local __envlearn_rc=$? __envlearn_cmd=
  __envlearn_seq=$1
  if [ -n "${{2-}}" ]; then export FAKETIME="@$2" LD_PRELOAD="$__envlearn_preload"; fi
  IFS= read -r -d '' __envlearn_cmd < {cmd_file}
  __envlearn_status "$__envlearn_rc"
  eval "$__envlearn_cmd" < /dev/null
}}
__envlearn_done() {{ printf 'DONE %s %d\n' "$__envlearn_seq" "$1" >&4; }}
PROMPT_COMMAND='__envlearn_done $?'
readonly -f __envlearn_status __envlearn_run __envlearn_done
readonly PROMPT_COMMAND
"""


class SessionError(EpisodeError):
    """The sandboxed shell could not be started (an infrastructure fault)."""


@dataclass
class Capture:
    """One output channel of one command, capped: head + (omitted count) + tail, in bytes."""

    cap: int
    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    total: int = 0

    @property
    def head_cap(self) -> int:
        return self.cap - self.cap // 4

    @property
    def tail_cap(self) -> int:
        return self.cap // 4

    def write(self, data: bytes) -> None:
        """Append output, keeping only what the cap allows."""
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.tail_cap + 65536:
                del self.tail[: len(self.tail) - self.tail_cap]

    def strip_trailing_newlines(self, after: int) -> None:
        """Drop final newlines written after byte ``after`` (bash's newlines after Ctrl-C)."""
        while self.total > after:
            buf = self.tail if self.tail else self.head
            if buf[-1:] != b"\n":
                return
            del buf[-1:]
            self.total -= 1

    def split(self) -> tuple[bytes, int, bytes]:
        """``(head, omitted, tail)``: everything if it fit, else cut at UTF-8 boundaries."""
        if self.total <= self.cap:
            return bytes(self.head + self.tail), 0, b""
        head = _cut_utf8_end(bytes(self.head))
        tail = _cut_utf8_start(bytes(self.tail[-self.tail_cap :] if self.tail_cap else b""))
        return head, self.total - len(head) - len(tail), tail

    @property
    def truncated(self) -> bool:
        return self.total > self.cap


def _cut_utf8_end(b: bytes) -> bytes:
    """Drop an incomplete UTF-8 sequence at the end of ``b``."""
    for back in range(1, min(4, len(b)) + 1):
        c = b[-back]
        if c & 0xC0 == 0x80:
            continue  # continuation byte: keep looking for the lead byte
        need = 2 if c & 0xE0 == 0xC0 else 3 if c & 0xF0 == 0xE0 else 4 if c & 0xF8 == 0xF0 else 1
        return b if need <= back else b[:-back]
    return b


def _cut_utf8_start(b: bytes) -> bytes:
    """Drop continuation bytes at the start of ``b`` (the tail of a cut character)."""
    i = 0
    while i < min(3, len(b)) and b[i] & 0xC0 == 0x80:
        i += 1
    return b[i:]


@dataclass
class CommandResult:
    """What one command did, before it becomes observation parts."""

    stdout: Capture
    stderr: Capture
    exit_code: int | None
    duration_s: float
    timed_out: bool = False
    output_overflow: bool = False
    restarted: bool = False
    restart_reason: str = ""
    stopped: bool = False


@dataclass
class _Shell:
    proc: subprocess.Popen[bytes]
    master: int
    cin_w: int
    out_fd: int
    err_fd: int
    ctl_fd: int
    pidfd: int = -1
    bash_pid: int = -1
    ns: str | None = None
    stopped: bool = False
    host_shm: bool = False  # unsandboxed + libfaketime: its segment lies in the host's /dev/shm


class _Slot:
    """Holds the current shell; the finalizer owns it, so it must not reference the session."""

    def __init__(self) -> None:
        self.shell: _Shell | None = None
        self.lock = threading.Lock()

    def stop(self) -> None:
        with self.lock:
            shell, self.shell = self.shell, None
        if shell is not None:
            _stop_shell(shell)


def _stop_shell(shell: _Shell) -> None:
    """Kill the shell and everything it started, reap, close our ends of its pipes."""
    if shell.stopped:
        return
    shell.stopped = True
    proc = shell.proc
    try:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        pass
    if shell.ns is not None:
        kill_pid_namespace(shell.ns)
    else:
        try:
            kill_session(proc.pid)
        except ValueError:
            pass
    for fd in (shell.master, shell.cin_w, shell.pidfd):
        try:
            os.close(fd)
        except OSError:
            pass
    for f in (proc.stdout, proc.stderr):
        if f is not None:
            f.close()
    try:
        os.close(shell.ctl_fd)
    except OSError:
        pass
    if shell.host_shm:
        remove_faketime_shm(proc.pid)


class ShellSession:
    """A persistent sandboxed bash; ``run(command)`` returns a :class:`CommandResult`."""

    def __init__(
        self,
        *,
        workdir: Path,
        home: Path,
        ctl_dir: Path,
        uid: int,
        sandbox: SandboxKind = "bwrap",
        limits: Limits | None = None,
        hide: Sequence[str] = (),
        extra_env: Mapping[str, str] | None = None,
        inner_env: Mapping[str, str] | None = None,
        tmp_dir: Path | None = None,
        shm_dir: Path | None = None,
        fixed_root: bool = False,
        disable_userns: bool = True,
    ) -> None:
        self.workdir = workdir
        self.home = home
        self.ctl_dir = ctl_dir
        self.uid = uid
        self.sandbox: SandboxKind = sandbox
        self.limits = limits or Limits()
        self.hide = tuple(hide)
        self.extra_env = dict(extra_env or {})
        # set by env(1) inside the sandbox: LD_PRELOAD must not reach prlimit/setpriv/bwrap
        self.inner_env = dict(inner_env or {})
        self.tmp_dir = tmp_dir
        self.shm_dir = shm_dir
        self.fixed_root = fixed_root
        self.disable_userns = disable_userns
        self._slot = _Slot()
        self._finalizer = weakref.finalize(self, self._slot.stop)
        self._closed = False
        self.restarts = 0
        # One fd for the command file, rewritten in place: reopening it with O_TRUNC costs
        # ~1.5 ms per command on ext4 (auto_da_alloc flushes a file truncated to zero).
        self._cmd_fd = os.open(self.cmd_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        os.fchmod(self._cmd_fd, 0o644)
        self._close_cmd_fd = weakref.finalize(self, os.close, self._cmd_fd)
        self._start()

    # ---------------------------------------------------------------- lifecycle

    @property
    def cmd_file(self) -> Path:
        return self.ctl_dir / "cmd"

    def _start(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        cin_r, cin_w = os.pipe()
        ctl_r, ctl_w = os.pipe()
        try:
            ctl_in_sandbox = SANDBOX_CTL if self.sandbox == "bwrap" else str(self.ctl_dir)
            fd_setup = [f"exec 0<&{cin_r}"]
            if ctl_w != 4:
                fd_setup.append(f"exec 4>&{ctl_w}")
            closes = {cin_r, ctl_w} - {0, 4}
            if closes:
                fd_setup.append("exec " + " ".join(f"{fd}>&-" for fd in sorted(closes)))
            preload = self.inner_env.get("LD_PRELOAD", "")
            rc = _RC.format(
                fd_setup="\n".join(fd_setup),
                cmd_file=shlex.quote(f"{ctl_in_sandbox}/cmd"),
                preload=f"readonly __envlearn_preload={shlex.quote(preload)}",
            )
            rc_path = self.ctl_dir / "rc"
            rc_path.write_text(rc)
            rc_path.chmod(0o644)
            argv = [
                "setsid",
                "--ctty",
                *wrap_command(
                    [
                        *env_prefix(self.inner_env),
                        "bash",
                        "--noediting",
                        "--rcfile",
                        f"{ctl_in_sandbox}/rc",
                        "-i",
                    ],
                    sandbox=self.sandbox,
                    uid=self.uid,
                    limits=self.limits,
                    workdir=self.workdir,
                    home=self.home,
                    ctl_dir=self.ctl_dir,
                    hide=self.hide,
                    tmp_dir=self.tmp_dir,
                    shm_dir=self.shm_dir,
                    fixed_root=self.fixed_root,
                    disable_userns=self.disable_userns,
                ),
            ]
            proc = spawn(
                argv,
                stdin=slave,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(cin_r, ctl_w),
                env=sandbox_env(sandbox=self.sandbox, home=self.home, extra=self.extra_env),
                cwd=self.workdir,
            )
        except BaseException:
            for fd in (master, slave, cin_r, cin_w, ctl_r, ctl_w):
                os.close(fd)
            raise
        for fd in (slave, cin_r, ctl_w):
            os.close(fd)
        assert proc.stdout is not None and proc.stderr is not None
        shell = _Shell(proc, master, cin_w, proc.stdout.fileno(), proc.stderr.fileno(), ctl_r)
        shell.host_shm = self.sandbox == "none" and "LD_PRELOAD" in self.inner_env
        try:
            # readable once the sandbox's outermost process (bwrap; bash unsandboxed) exits
            shell.pidfd = os.pidfd_open(proc.pid)
        except OSError:
            shell.pidfd = -1
        for fd in (shell.out_fd, shell.err_fd, shell.ctl_fd, shell.master):
            os.set_blocking(fd, False)
        with self._slot.lock:
            self._slot.shell = shell
        err = Capture(8192)
        self._seq = 0
        exit_code, status, _ = self._wait_done(
            shell, Capture(8192), err, START_TIMEOUT_S, max_drain=1 << 20, interrupt=False
        )
        if exit_code is None:
            proc_rc = shell.proc.poll()
            self._slot.stop()
            head, _, tail = err.split()
            msg = (head + tail).decode(errors="replace").strip()
            why = "exited" if status == "died" else f"did not start within {START_TIMEOUT_S:.0f} s"
            raise SessionError(
                f"the sandboxed shell {why} (exit {proc_rc}); stderr: {msg[:1000] or '(empty)'}"
            )
        try:
            shell.bash_pid = os.tcgetpgrp(master)
        except OSError as e:
            self._slot.stop()
            raise SessionError(f"the sandboxed shell has no job control: {e}") from e
        if self.sandbox == "bwrap":
            shell.ns = pid_namespace(shell.bash_pid)
            if shell.ns is None or shell.ns == pid_namespace(os.getpid()):
                self._slot.stop()
                raise SessionError("the sandboxed shell is not in its own pid namespace")

    def close(self) -> None:
        """Kill the shell and every process it started (idempotent)."""
        self._closed = True
        self._finalizer()
        self._close_cmd_fd()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pid_namespace(self) -> str | None:
        """The sandbox's pid namespace (``pid:[inode]``), for leak checks."""
        shell = self._slot.shell
        return shell.ns if shell else None

    @property
    def host_pid(self) -> int | None:
        """Host pid of the outermost sandbox process (bwrap, or bash when unsandboxed)."""
        shell = self._slot.shell
        return shell.proc.pid if shell else None

    def alive(self) -> bool:
        """Whether the shell process is still running."""
        shell = self._slot.shell
        return shell is not None and shell.proc.poll() is None

    def restart(self) -> None:
        """Kill the shell (and its processes) and start a fresh one on the same work dir."""
        self._slot.stop()
        self.restarts += 1
        self._start()

    # ---------------------------------------------------------------- commands

    def run(
        self,
        command: str,
        *,
        timeout_s: float = 10.0,
        max_output_bytes: int = 16384,
        max_drain_bytes: int = 32 << 20,
        fake_time: str | None = None,
    ) -> CommandResult:
        """Run one command (any bash text) in the persistent shell.

        ``fake_time`` (``YYYY-MM-DD hh:mm:ss``): the clock the command's processes start at
        (needs libfaketime's ``LD_PRELOAD`` in ``inner_env``)."""
        if self._closed:
            raise RuntimeError("the shell session is closed")
        if "\x00" in command:
            raise ValueError("a command cannot contain NUL characters (bash cannot run them)")
        t0 = time.monotonic()
        out, err = Capture(max_output_bytes), Capture(max_output_bytes)
        restart_reason = ""
        if not self.alive():
            code = self._slot.shell.proc.returncode if self._slot.shell else None
            restart_reason = f"the shell had exited (code {code}) before this command"
            self.restart()
        shell = self._slot.shell
        assert shell is not None
        data = command.encode("utf-8", errors="replace")
        os.pwrite(self._cmd_fd, data, 0)
        os.ftruncate(self._cmd_fd, len(data))
        self._seq += 1
        try:
            line = b"__envlearn_run %d" % self._seq
            if fake_time:
                line += b" " + shlex.quote(fake_time).encode()
            os.write(shell.cin_w, line + b"\n")
            exit_code, status, flags = self._wait_done(
                shell, out, err, timeout_s, max_drain=max_drain_bytes, interrupt=True
            )
        except BrokenPipeError:
            exit_code, status, flags = None, "died", {}
        timed_out = flags.get("timed_out", False)
        overflow = flags.get("overflow", False)
        stopped = flags.get("stopped", False)
        if status != "done":
            if status == "shell_stopped":
                restart_reason = "the shell was stopped (SIGSTOP or SIGTSTP) and cannot go on"
            elif status == "died":
                self._drain_after_death(shell, out, err)
                restart_reason = f"the shell exited (code {shell.proc.returncode})"
            elif status == "lost":
                restart_reason = "the shell closed its control channel"
            else:
                restart_reason = "the shell did not come back to its prompt after the interrupt"
            self.restart()
        return CommandResult(
            stdout=out,
            stderr=err,
            exit_code=exit_code if not (timed_out or overflow or stopped) else None,
            duration_s=time.monotonic() - t0,
            timed_out=timed_out,
            output_overflow=overflow,
            restarted=bool(restart_reason),
            restart_reason=restart_reason,
            stopped=stopped,
        )

    def _wait_done(
        self,
        shell: _Shell,
        out: Capture,
        err: Capture,
        timeout_s: float,
        *,
        max_drain: int,
        interrupt: bool,
    ) -> tuple[int | None, str, dict[str, bool]]:
        """Pump output until this command's ``DONE``.

        Returns (exit code or None, status, flags): status ``done``, ``died`` (the shell
        exited), ``lost`` (the control pipe closed), ``stuck`` (no prompt after every
        interrupt) or ``timeout`` (``interrupt=False``: the deadline passed).
        """
        poller = select.poll()
        sinks = {shell.out_fd: out, shell.err_fd: err, shell.master: out}
        for fd in (*sinks, shell.ctl_fd):
            poller.register(fd, select.POLLIN)
        if shell.pidfd >= 0:
            poller.register(shell.pidfd, select.POLLIN)
        want = b"DONE %d " % self._seq
        ctl = b""
        deadline = time.monotonic() + timeout_s
        stage = 0
        sigint_mark = -1
        interrupted: set[int] = set()
        flags: dict[str, bool] = {}
        watch_at = time.monotonic() + WATCH_EVERY_S
        stopped_since: dict[int, float] = {}
        while True:
            now = time.monotonic()
            if interrupt and now >= watch_at:
                watch_at = now + WATCH_EVERY_S
                if self._watch_stopped(shell, stopped_since, now, flags):
                    return None, "shell_stopped", flags
            overflowing = stage == 0 and out.total + err.total > max_drain
            if now >= deadline or overflowing:
                if not interrupt:
                    return None, "timeout", flags
                if stage == 0:
                    flags["overflow" if overflowing else "timed_out"] = True
                    sigint_mark = err.total
                elif stage >= INTERRUPT_ROUNDS:
                    return None, "stuck", flags
                self._interrupt_foreground(shell, interrupted, also_shell=stage > 0)
                deadline = now + (INTERRUPT_GRACE_S if stage == 0 else ROUND_GRACE_S)
                stage += 1
                continue
            wait = deadline - now
            if interrupt:
                wait = min(wait, watch_at - now)
            for fd, _ev in poller.poll(max(0.0, wait) * 1000):
                if fd == shell.pidfd:
                    return None, "died", flags
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""  # EIO on the pty once every slave fd is closed
                if not data:
                    poller.unregister(fd)
                    if fd == shell.ctl_fd:
                        return None, ("died" if self._exits_soon(shell) else "lost"), flags
                    continue
                if fd == shell.ctl_fd:
                    ctl += data
                else:
                    sinks[fd].write(data)
            # lines of other sequence numbers are stale prompts (e.g. a Ctrl-C at the prompt)
            *lines, ctl = ctl.split(b"\n")
            for line in lines:
                if line.startswith(want):
                    self._drain(shell, out, err)
                    try:
                        code = int(line[len(want) :])
                    except ValueError:
                        return None, "lost", flags
                    if sigint_mark >= 0 and not self._settle(shell, out, err):
                        return None, "stuck", flags
                    if sigint_mark >= 0:
                        err.strip_trailing_newlines(after=sigint_mark)
                    return code, "done", flags

    def _watch_stopped(
        self, shell: _Shell, since: dict[int, float], now: float, flags: dict[str, bool]
    ) -> bool:
        """Look at process states: True if the shell itself is stopped (restart it); a
        foreground job stopped for ``STOPPED_GRACE_S`` that bash has not taken the terminal
        back from is SIGKILLed (``flags["stopped"]``)."""
        if process_state(shell.bash_pid) in ("T", "t"):
            return True
        try:
            pg = os.tcgetpgrp(shell.master)
        except OSError:
            return False
        if pg <= 0 or pg == shell.bash_pid:
            return False
        if process_state(pg) != "T":
            since.pop(pg, None)
            return False
        first = since.setdefault(pg, now)
        if now - first >= STOPPED_GRACE_S and self._is_ours(shell, pg):
            flags["stopped"] = True
            try:
                os.killpg(pg, signal.SIGKILL)
            except OSError:
                pass
        return False

    @staticmethod
    def _exits_soon(shell: _Shell, within_s: float = 1.0) -> bool:
        """Whether the sandbox process exits within ``within_s`` (the shell has died)."""
        if shell.pidfd < 0:
            try:
                shell.proc.wait(timeout=within_s)
            except subprocess.TimeoutExpired:
                return False
            return True
        return bool(select.select([shell.pidfd], [], [], within_s)[0])

    def _settle(self, shell: _Shell, out: Capture, err: Capture) -> bool:
        """After an interrupt, make sure the shell is idle at its prompt: a late SIGINT may
        still be pending and would eat the next command's line.  Runs a no-op round trip
        (twice at most); what arrives meanwhile belongs to the interrupted command."""
        for _ in range(2):
            self._seq += 1
            os.pwrite(self._cmd_fd, b":", 0)
            os.ftruncate(self._cmd_fd, 1)
            try:
                os.write(shell.cin_w, b"__envlearn_run %d\n" % self._seq)
            except BrokenPipeError:
                return False
            code, status, _ = self._wait_done(
                shell, out, err, 0.5, max_drain=1 << 20, interrupt=False
            )
            if status == "done":
                return True
            if status != "timeout":
                return False
        return False

    @staticmethod
    def _drain(shell: _Shell, out: Capture, err: Capture, limit: int = 1 << 20) -> None:
        """Read what the finished command left in the pipes (without blocking; a background
        job that keeps writing cannot hold us here: at most ``limit`` bytes per pipe)."""
        for fd, sink in ((shell.out_fd, out), (shell.err_fd, err), (shell.master, out)):
            got = 0
            while got < limit:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # BlockingIOError: empty for now; EIO: pty closed
                    break
                if not data:
                    break
                got += len(data)
                sink.write(data)

    @staticmethod
    def _drain_after_death(shell: _Shell, out: Capture, err: Capture) -> None:
        """The shell died: collect its last output until the pipes close (briefly)."""
        try:
            shell.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            shell.proc.kill()
            shell.proc.wait()
        poller = select.poll()
        open_fds = {shell.out_fd: out, shell.err_fd: err}
        for fd in open_fds:
            poller.register(fd, select.POLLIN)
        end = time.monotonic() + 1.0
        while open_fds and time.monotonic() < end:
            for fd, _ev in poller.poll(50):
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    poller.unregister(fd)
                    open_fds.pop(fd, None)
                else:
                    open_fds[fd].write(data)

    def _interrupt_foreground(
        self, shell: _Shell, interrupted: set[int], *, also_shell: bool
    ) -> None:
        """Ctrl-C the foreground job (with ``also_shell``, the shell too, so the loop it runs
        in breaks even when the job does not die of SIGINT); SIGKILL the job if it is still
        there one round later.  SIGKILL spares the shell itself when the shell is the job.
        """
        try:
            pg = os.tcgetpgrp(shell.master)
        except OSError:
            return
        if pg <= 0 or not self._is_ours(shell, pg):
            return
        if pg not in interrupted:
            interrupted.add(pg)
            for target in {pg, shell.bash_pid} if also_shell else {pg}:
                try:
                    os.killpg(target, signal.SIGINT)
                except OSError:
                    pass
            return
        if pg != shell.bash_pid:
            try:
                os.killpg(pg, signal.SIGKILL)
            except OSError:
                pass
            return
        for pid in processes_in_group(pg):
            if pid != shell.bash_pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def _is_ours(self, shell: _Shell, pid: int) -> bool:
        if shell.ns is not None:
            return pid_namespace(pid) == shell.ns
        try:
            return os.getsid(pid) == shell.proc.pid
        except OSError:
            return False
