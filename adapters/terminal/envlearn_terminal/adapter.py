"""``terminal``: a persistent, sandboxed bash shell; tasks are directories with setup/verify scripts.

One episode = one fresh writable space (a tmpfs capped in bytes and inodes holding ``/work``,
the home, ``/tmp`` and ``/dev/shm``) + one long-lived shell.  ``reset`` runs the task's
``setup.sh`` in the sandbox, ``step`` runs the action of the model's reply (the core grammar,
:func:`envlearn.actions.parse_action`: the first ```` ```bash ```` block; ``TASK COMPLETE``
ends the episode, after running the action if the reply has one) and answers with typed parts
(``stdout``, ``stderr``, ``exit_code`` content; ``notice`` for what the harness adds),
``score`` runs ``verify.sh`` in a separate sandbox that also sees the task dir at ``/task``
(which the model's shell never sees).  Turn budgets are the engine's, not the adapter's.

Output bytes are decoded as UTF-8 and control characters follow ``control_chars``: ``escape``
(default: shown as ``\\xHH`` text), ``strip`` (removed with the escape sequences they start) or
``keep``; a notice says what was changed.  Output that draws a full screen (``vi``, ``top``:
cursor moves and screen clears) is left out with a notice unless ``keep``.  With
``clock="fixed"`` (default) the sandbox's clock and file times are seeded (``clock.py``), which
makes observations reproducible: the class declares ``deterministic = True``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from envlearn.actions import COMPLETE_LINE, parse_action
from envlearn.channels import (
    BaseAdapter,
    ChannelSpec,
    EpisodeError,
    Observation,
    Part,
    Task,
    content,
    notice,
)
from envlearn_terminal.clock import EpisodeClock, normalize_times
from envlearn_terminal.sandbox import (
    ETC_WHITELIST,
    SANDBOX_TASK,
    SANDBOX_WORKDIR,
    CappedFs,
    Limits,
    OneShotResult,
    SandboxKind,
    SandboxUnavailable,
    UidLease,
    UnsandboxedWarning,
    bwrap_problem,
    env_prefix,
    faketime_env,
    lease_uid,
    libfaketime_path,
    mount_capped_fs,
    remove_faketime_shm,
    rmtree_force,
    run_oneshot,
    sandbox_env,
    unmount_stale,
    wrap_command,
    write_identity_files,
)
from envlearn_terminal.session import Capture, CommandResult, ShellSession

__all__ = [
    "ACTION_LANGUAGES",
    "EXAMPLE",
    "FORMAT_HELP",
    "TerminalAdapter",
    "apply_control_policy",
    "decode_output",
    "result_parts",
]

DEFAULT_TIMEOUT_S = 10.0
#: Code-block languages that hold a shell action (a bare fence does too).
ACTION_LANGUAGES = frozenset({"bash", "sh", "shell", "console", "zsh"})
EXAMPLE = "```bash\nls -la\n```"
FORMAT_HELP = (
    "Put the command(s) to run in one fenced code block, for example:\n"
    f"{EXAMPLE}\n"
    f"When the task is done, write the line {COMPLETE_LINE} outside any code block "
    "(a command in the same reply runs first).\n"
)
ControlPolicy = str  # "escape" | "strip" | "keep"
CONTROL_POLICIES = ("escape", "strip", "keep")


# ------------------------------------------------------------------------------------------
# results → parts


def decode_output(b: bytes) -> tuple[str, int]:
    """Decode UTF-8, replacing each invalid byte by U+FFFD; returns (text, bytes replaced)."""
    s = b.decode("utf-8", errors="surrogateescape")
    bad = sum(1 for ch in s if "\udc80" <= ch <= "\udcff")
    if bad:
        s = "".join("\ufffd" if "\udc80" <= ch <= "\udcff" else ch for ch in s)
    return s, bad


# C0 controls but tab and newline, DEL, C1 controls
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# terminal escape sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other ESC x
_SEQUENCE_RE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]"
)
# what only a full-screen program prints: cursor addressing, screen/line erase, scroll regions,
# the alternate screen
_SCREEN_RE = re.compile(r"\x1b\[[0-9;]*[HfJKr]|\x1b\[\?(?:1049|1047|47)[hl]")
SCREEN_MIN_SEQUENCES = 4


def apply_control_policy(text: str, policy: ControlPolicy) -> tuple[str, int]:
    """Apply the control-character policy to decoded output; returns (text, characters
    changed).  ``escape``: each control character becomes ``\\xHH`` text; ``strip``: escape
    sequences are removed whole, other control characters too; ``keep``: unchanged."""
    if policy == "keep":
        return text, 0
    if policy == "strip":
        n = 0

        def drop(m: re.Match[str]) -> str:
            nonlocal n
            n += len(_CONTROL_RE.findall(m.group(0)))
            return ""

        text = _SEQUENCE_RE.sub(drop, text)
        text, k = _CONTROL_RE.subn("", text)
        return text, n + k
    return _CONTROL_RE.subn(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def is_screen_output(text: str) -> bool:
    """Whether output draws a full screen (``vi``, ``top``...) rather than printing lines."""
    if "\x1b" not in text:
        return False
    return len(_SCREEN_RE.findall(text)) >= SCREEN_MIN_SEQUENCES


class _PartList:
    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.text_end = ""

    def add(self, part: Part) -> None:
        if part.text:
            self.parts.append(part)
            self.text_end = part.text[-1]

    def sep(self) -> str:
        """A newline if the text so far does not end with one."""
        return "\n" if self.text_end not in ("", "\n") else ""


def result_parts(
    result: CommandResult, *, timeout_s: float, control_chars: ControlPolicy = "escape"
) -> list[Part]:
    """Turn a command's result into observation parts: content first, harness notices after."""
    pl = _PartList()
    bad = 0
    changed = 0
    screens: list[tuple[str, int]] = []
    for channel, cap in (("stdout", result.stdout), ("stderr", result.stderr)):
        b, c, screen = _add_stream(pl, channel, cap, control_chars)
        bad += b
        changed += c
        if screen:
            screens.append((channel, cap.total))
    if result.exit_code is not None:
        pl.add(notice(pl.sep() + "[exit code: "))
        pl.add(content("exit_code", str(result.exit_code)))
        pl.add(notice("]\n"))
    if result.timed_out:
        pl.add(
            notice(f"{pl.sep()}[timed out after {timeout_s:g} s: the command was interrupted]\n")
        )
    if result.stopped:
        pl.add(
            notice(
                f"{pl.sep()}[the command was stopped (SIGSTOP/SIGTSTP) and nothing would resume "
                "it: it was killed]\n"
            )
        )
    if result.output_overflow:
        total = result.stdout.total + result.stderr.total
        pl.add(notice(f"{pl.sep()}[the command printed {total} bytes and was interrupted]\n"))
    for channel, total in screens:
        pl.add(
            notice(
                f"{pl.sep()}[{total} bytes of {channel} drew a full screen (cursor moves, screen "
                "clears) and were left out: there is no interactive terminal here; edit files "
                "with sed, printf or a heredoc, and read them with cat or head]\n"
            )
        )
    if changed and control_chars == "escape":
        pl.add(
            notice(
                f"{pl.sep()}[{changed} control characters in the output are shown as \\xHH "
                "escapes]\n"
            )
        )
    elif changed and control_chars == "strip":
        pl.add(
            notice(
                f"{pl.sep()}[{changed} control characters (and the terminal sequences they "
                "started) were removed from the output]\n"
            )
        )
    if bad:
        pl.add(
            notice(
                f"{pl.sep()}[{bad} bytes of output were not valid UTF-8 and were replaced "
                "by U+FFFD]\n"
            )
        )
    if result.restarted:
        pl.add(
            notice(
                f"{pl.sep()}[session restarted: {result.restart_reason}. A new shell started "
                f"in {SANDBOX_WORKDIR}: files are kept; the current directory, variables and "
                "background processes are reset]\n"
            )
        )
    return pl.parts


def _add_stream(
    pl: _PartList, channel: str, cap: Capture, policy: ControlPolicy
) -> tuple[int, int, bool]:
    """Add one stream's parts; returns (bytes replaced by U+FFFD, control characters changed,
    whether it was full-screen drawing and left out)."""
    head, omitted, tail = cap.split()
    if not head and not tail:
        return 0, 0, False
    head_text, bad_head = decode_output(head)
    tail_text, bad_tail = decode_output(tail) if omitted else ("", 0)
    if policy != "keep" and is_screen_output(head_text + tail_text):
        return bad_head + bad_tail, 0, True
    head_text, ch_head = apply_control_policy(head_text, policy)
    tail_text, ch_tail = apply_control_policy(tail_text, policy)
    if channel == "stderr" and (head_text or tail_text):
        pl.add(notice(pl.sep() + "[stderr]\n"))
    pl.add(content(channel, head_text))
    if omitted:
        pl.add(notice(f"{pl.sep()}[... {omitted} bytes of {channel} omitted ...]\n"))
        pl.add(content(channel, tail_text))
    return bad_head + bad_tail, ch_head + ch_tail, False


# ------------------------------------------------------------------------------------------
# episodes


@dataclass
class _Episode:
    task: Task
    root: Path
    lease: UidLease
    timeout_s: float
    session: ShellSession | None = None
    done: bool = False
    fs: CappedFs | None = None
    clock: EpisodeClock | None = None
    commands: int = 0
    stamped_since_ns: int = 0
    clock_fd: int = -1
    nested_userns: bool = False

    @property
    def space(self) -> Path:
        """The capped filesystem holding everything the sandbox may write."""
        return self.root / "fs"

    @property
    def work(self) -> Path:
        return self.space / "work"

    @property
    def home(self) -> Path:
        return self.space / "home"

    @property
    def tmp(self) -> Path:
        return self.space / "tmp"

    @property
    def shm(self) -> Path:
        return self.space / "shm"

    @property
    def ctl(self) -> Path:
        return self.root / "ctl"

    @property
    def task_copy(self) -> Path:
        return self.root / "task"

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None
        if self.fs is not None:
            self.fs.close()
        if self.clock_fd >= 0:
            os.close(self.clock_fd)
            self.clock_fd = -1
        rmtree_force(self.root)
        self.lease.release()


class _Resources:
    """What the finalizer closes: never references the adapter itself."""

    def __init__(self) -> None:
        self.episode: _Episode | None = None

    def close(self) -> None:
        ep, self.episode = self.episode, None
        if ep is not None:
            ep.close()


def _kernel_file_time(fd: int) -> int:
    """The time the kernel stamps on files now (ns): write to the marker ``fd`` and read its
    mtime.

    Not ``time.time_ns()``: file times come from a coarser clock that lags it by up to a tick,
    and the host process's own clock may be shifted (a host under libfaketime, whose
    ``utime(NULL)`` is shifted too: hence a write; in place, as truncating costs ms on ext4)."""
    os.pwrite(fd, b"t", 0)
    return os.fstat(fd).st_mtime_ns


_stale_lock = threading.Lock()
_stale_cleaned: set[Path] = set()


def _clean_stale_episodes(root: Path) -> None:
    """Remove episode dirs left by processes that died without cleaning up (once per root)."""
    with _stale_lock:
        if root in _stale_cleaned:
            return
        _stale_cleaned.add(root)
    for d in root.iterdir():
        pid = d.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            unmount_stale(d)
            rmtree_force(d)


def _check_traversable(root: Path) -> None:
    """The sandbox uid (not root) must be able to reach the work dirs to bind them."""
    for d in (root.resolve(), *root.resolve().parents):
        if not os.stat(d).st_mode & 0o001:
            raise ValueError(
                f"workdir_root {str(root)!r} is not reachable by the sandbox's unprivileged "
                f"uid: {str(d)!r} has no execute permission for others (chmod o+x it, or pick "
                "a workdir_root under /tmp)"
            )


def _hidden_paths(task_dir: Path | None) -> list[str]:
    """The task collection's directory, when the sandbox would otherwise see it (under /usr)."""
    if task_dir is None:
        return []
    tasks_root = task_dir.resolve().parent
    visible_roots = [Path("/usr"), *(Path(p) for p in ETC_WHITELIST)]
    for r in visible_roots:
        if tasks_root == r or r in tasks_root.parents:
            return [str(tasks_root)]
    return []


class TerminalAdapter(BaseAdapter):
    """A persistent bash shell in a bubblewrap sandbox (see the module docstring)."""

    name: ClassVar[str] = "terminal"
    channels: ClassVar[tuple[ChannelSpec, ...]] = (
        ChannelSpec(name="stdout", description="what the command wrote to stdout"),
        ChannelSpec(name="stderr", description="what the command wrote to stderr"),
        ChannelSpec(name="exit_code", description="the command's exit status"),
        ChannelSpec(
            name="notice",
            kind="notice",
            description="labels, truncation, timeouts, restarts, format hints",
        ),
    )
    # proven by the conformance determinism check (clock="fixed", the default); an instance
    # with clock="real" says False
    deterministic: ClassVar[bool] = True

    def __init__(
        self,
        *,
        sandbox: str = "bwrap",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_output_bytes: int = 16384,
        max_drain_bytes: int = 32 << 20,
        cpu_s: int = 120,
        memory_mb: int = 2048,
        file_size_mb: int = 256,
        nproc: int = 256,
        nofile: int = 1024,
        tmp_mb: int = 512,
        workdir_root: str | os.PathLike[str] | None = None,
        setup_timeout_s: float = 120.0,
        verify_timeout_s: float = 120.0,
        disk_mb: int = 1024,
        disk_inodes: int = 65536,
        control_chars: str = "escape",
        clock: str = "fixed",
        nested_userns: bool = False,
    ) -> None:
        if sandbox not in ("bwrap", "none"):
            raise ValueError(
                f"sandbox must be 'bwrap' (the default) or 'none' (unsafe), got {sandbox!r}"
            )
        for opt, v in (
            ("timeout_s", timeout_s),
            ("setup_timeout_s", setup_timeout_s),
            ("verify_timeout_s", verify_timeout_s),
        ):
            if not isinstance(v, int | float) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"{opt} must be a positive number of seconds, got {v!r}")
        if not isinstance(max_output_bytes, int) or max_output_bytes < 64:
            raise ValueError(f"max_output_bytes must be an integer >= 64, got {max_output_bytes!r}")
        if not isinstance(max_drain_bytes, int) or max_drain_bytes < max_output_bytes:
            raise ValueError(
                f"max_drain_bytes must be an integer >= max_output_bytes ({max_output_bytes}), "
                f"got {max_drain_bytes!r}"
            )
        if control_chars not in CONTROL_POLICIES:
            raise ValueError(
                f"control_chars must be 'escape' (default: show them as \\xHH), 'strip' or "
                f"'keep', got {control_chars!r}"
            )
        if clock not in ("fixed", "real"):
            raise ValueError(
                f"clock must be 'fixed' (default: a seeded clock, reproducible observations) or "
                f"'real' (the host's wall clock), got {clock!r}"
            )
        for opt, v, low in (("disk_mb", disk_mb, 1), ("disk_inodes", disk_inodes, 64)):
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ValueError(f"{opt} must be an integer >= {low}, got {v!r}")
        if clock == "fixed" and libfaketime_path() is None:
            raise SandboxUnavailable(
                "clock='fixed' needs Debian's libfaketime (apt-get install -y faketime "
                "libfaketime; ./run.sh setup installs it), or pass clock='real'"
            )
        self.control_chars = control_chars
        self.clock = clock
        self.disk_mb = disk_mb
        self.disk_inodes = disk_inodes
        self.nested_userns = bool(nested_userns)
        if clock == "real":
            self.deterministic = False  # type: ignore[misc]
        self.limits = Limits(
            cpu_s=cpu_s,
            memory_mb=memory_mb,
            file_size_mb=file_size_mb,
            nproc=nproc,
            nofile=nofile,
            tmp_mb=tmp_mb,
        )
        if sandbox == "bwrap":
            problem = bwrap_problem()
            if problem is not None:
                raise SandboxUnavailable(
                    f"{problem}. The terminal adapter refuses to run model commands without a "
                    "sandbox: install bubblewrap, or pass sandbox='none' to run them directly "
                    "on this machine (no isolation at all)"
                )
        else:
            warnings.warn(
                "terminal adapter: sandbox='none' runs model commands directly on this machine "
                "as the current user, with rlimits only: no isolation of files, network or "
                "processes. Use it only on a throwaway machine.",
                UnsandboxedWarning,
                stacklevel=2,
            )
        self.sandbox: SandboxKind = "bwrap" if sandbox == "bwrap" else "none"
        self.timeout_s = float(timeout_s)
        self.max_output_bytes = max_output_bytes
        self.max_drain_bytes = max_drain_bytes
        self.setup_timeout_s = float(setup_timeout_s)
        self.verify_timeout_s = float(verify_timeout_s)
        root = Path(workdir_root) if workdir_root is not None else None
        self.workdir_root = root or Path(tempfile.gettempdir()) / "envlearn-terminal"
        self.workdir_root.mkdir(parents=True, exist_ok=True)
        self.workdir_root.chmod(0o711)
        if self.sandbox == "bwrap" and os.geteuid() == 0:
            _check_traversable(self.workdir_root)
        _clean_stale_episodes(self.workdir_root)
        self._res = _Resources()
        self._finalizer = weakref.finalize(self, self._res.close)
        self._closed = False
        self.last_verify: OneShotResult | None = None

    # -------------------------------------------------------------------- info

    def _task_timeout(self, task: Task) -> float:
        t = task.data.get("timeout_s")
        if t is None:
            return self.timeout_s
        if not isinstance(t, int | float) or isinstance(t, bool) or t <= 0:
            raise ValueError(
                f"task {task.id!r}: data['timeout_s'] must be a positive number, got {t!r}"
            )
        return float(t)

    def system_prompt(self, task: Task) -> str:
        """How the shell works and how to write an action."""
        timeout = self._task_timeout(task)
        return (
            "You are working in a bash shell on a Linux machine (Debian, sandboxed, no network "
            f"access). Your working directory is {SANDBOX_WORKDIR}. The shell persists between "
            "your replies: the current directory, variables and background jobs carry over.\n\n"
            "To run commands, put them in one fenced code block:\n"
            "```bash\nls -la\n```\n"
            "Only the first code block of a reply runs. You then see its output (stderr after a "
            f"[stderr] line) and its exit code. A command is interrupted after {timeout:g} "
            f"seconds; output beyond {self.max_output_bytes} bytes per stream is cut from the "
            "middle. Commands read no input (stdin is empty), so do not start interactive "
            "programs (editors, pagers, REPLs); write files with redirections or heredocs.\n"
            f"When the task is done, write the line {COMPLETE_LINE} outside any code block; a "
            "command in the same reply runs first, then the episode ends."
        )

    @property
    def session(self) -> ShellSession | None:
        """The current episode's shell (tests, benchmarks)."""
        ep = self._res.episode
        return ep.session if ep else None

    @property
    def workdir(self) -> Path | None:
        """The current episode's work dir on the host."""
        ep = self._res.episode
        return ep.work if ep else None

    # -------------------------------------------------------------------- lifecycle

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        """Fresh work dir, the task's setup.sh in the sandbox, then a fresh shell."""
        if self._closed:
            raise RuntimeError("the terminal adapter is closed; make a new one")
        task_dir = self._task_dir(task)
        timeout = self._task_timeout(task)
        self._res.close()
        lease = lease_uid()
        try:
            root = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=self.workdir_root))
        except BaseException:
            lease.release()
            raise
        ep = _Episode(task=task, root=root, lease=lease, timeout_s=timeout)
        self._res.episode = ep
        try:
            ep.nested_userns = bool(task.data.get("nested_userns", self.nested_userns))
            clock = task.data.get("clock", self.clock)
            if clock not in ("fixed", "real"):
                raise ValueError(
                    f"task {task.id!r}: data['clock'] must be 'fixed' or 'real', got {clock!r}"
                )
            if clock == "fixed":
                ep.clock = EpisodeClock(task.id, seed, timeout)
            ep.clock_fd = os.open(ep.root / "clock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            ep.stamped_since_ns = _kernel_file_time(ep.clock_fd)
            self._prepare_dirs(ep, task_dir)
            self._run_setup(ep, seed)
            self._fix_times(ep, 0)
            inner = faketime_env(ep.clock.faketime(0)) if ep.clock is not None else {}
            ep.session = ShellSession(
                workdir=ep.work,
                home=ep.home,
                ctl_dir=ep.ctl,
                uid=lease.uid,
                sandbox=self.sandbox,
                limits=self.limits,
                hide=_hidden_paths(task_dir),
                extra_env={"TZ": "UTC"},
                inner_env=inner,
                tmp_dir=ep.tmp if self.sandbox == "bwrap" else None,
                shm_dir=ep.shm if self.sandbox == "bwrap" else None,
                fixed_root=ep.clock is not None,
                disable_userns=not ep.nested_userns,
            )
        except BaseException:
            self._res.close()
            raise
        where = SANDBOX_WORKDIR if self.sandbox == "bwrap" else str(ep.work)
        return Observation(parts=[notice(f"[a bash shell is ready in {where}]\n")])

    def _task_dir(self, task: Task) -> Path | None:
        raw = task.data.get("task_dir")
        if raw is None:
            return None
        p = Path(raw)
        if not p.is_dir():
            raise ValueError(
                f"task {task.id!r}: data['task_dir'] = {raw!r} is not a directory; it must be "
                "the absolute path of the task's folder (task.yaml, setup.sh, verify.sh)"
            )
        return p

    def _fix_times(self, ep: _Episode, k: int) -> None:
        """Fixed clock: give what was stamped since the last pass the fake start of step k."""
        if ep.clock is None:
            return
        now = _kernel_file_time(ep.clock_fd)
        normalize_times(
            ep.space,
            since_ns=ep.stamped_since_ns,
            until_ns=now + 1_000_000_000,
            to_s=ep.clock.start_of(k),
        )
        ep.stamped_since_ns = now

    def _prepare_dirs(self, ep: _Episode, task_dir: Path | None) -> None:
        ep.root.chmod(0o711)
        ep.fs = mount_capped_fs(ep.space, max_bytes=self.disk_mb << 20, max_inodes=self.disk_inodes)
        ep.space.chmod(0o755)
        ep.work.mkdir(mode=0o755)
        ep.home.mkdir(mode=0o700)
        for d in (ep.tmp, ep.shm):
            d.mkdir()
            d.chmod(0o1777)
        ep.ctl.mkdir(mode=0o755)
        if os.geteuid() == 0:
            for d in (ep.work, ep.home):
                os.chown(d, ep.lease.uid, ep.lease.uid)
        write_identity_files(ep.ctl, ep.lease.uid)
        if task_dir is not None:
            shutil.copytree(task_dir, ep.task_copy, symlinks=True)
        else:
            ep.task_copy.mkdir()
        for dirpath, _dirs, files in os.walk(ep.task_copy):
            os.chmod(dirpath, 0o755)
            for f in files:
                fp = os.path.join(dirpath, f)
                if not os.path.islink(fp):
                    os.chmod(fp, 0o755 if os.access(fp, os.X_OK) else 0o644)

    def _oneshot(
        self,
        ep: _Episode,
        script: str,
        *,
        home: Path | None,
        timeout_s: float,
        extra_env: dict[str, str],
        step: int,
        own_tmp: bool,
    ) -> OneShotResult:
        task_in_box = SANDBOX_TASK if self.sandbox == "bwrap" else str(ep.task_copy)
        clock_env = faketime_env(ep.clock.faketime(step)) if ep.clock is not None else {}
        argv = wrap_command(
            [*env_prefix(clock_env), "bash", f"{task_in_box}/{script}"],
            sandbox=self.sandbox,
            uid=ep.lease.uid,
            limits=self.limits,
            workdir=ep.work,
            home=home,
            ctl_dir=ep.ctl,
            ro_binds=[(ep.task_copy, SANDBOX_TASK)],
            new_session=True,
            tmp_dir=ep.tmp if own_tmp and self.sandbox == "bwrap" else None,
            shm_dir=ep.shm if own_tmp and self.sandbox == "bwrap" else None,
            fixed_root=ep.clock is not None,
            disable_userns=not ep.nested_userns,
        )
        env = sandbox_env(
            sandbox=self.sandbox,
            home=home,
            extra={"TASK_DIR": task_in_box, "TZ": "UTC", **extra_env},
        )
        r = run_oneshot(argv, env=env, cwd=ep.work, timeout_s=timeout_s)
        if self.sandbox == "none" and clock_env:
            remove_faketime_shm(r.pid)
        return r

    def _run_setup(self, ep: _Episode, seed: int | None) -> None:
        if not (ep.task_copy / "setup.sh").is_file():
            return
        r = self._oneshot(
            ep,
            "setup.sh",
            home=ep.home,
            timeout_s=self.setup_timeout_s,
            extra_env={"ENVLEARN_SEED": "" if seed is None else str(seed)},
            step=0,
            own_tmp=True,
        )
        if r.timed_out or r.returncode != 0:
            what = (
                f"timed out after {self.setup_timeout_s:g} s"
                if r.timed_out
                else f"failed with exit code {r.returncode}"
            )
            err = r.stderr.decode(errors="replace").strip()[-2000:]
            raise EpisodeError(f"task {ep.task.id!r}: setup.sh {what}; stderr: {err or '(empty)'}")

    def step(self, action_text: str) -> Observation:
        """Run the first code block of the reply in the persistent shell."""
        ep = self._res.episode
        if self._closed:
            raise RuntimeError("the terminal adapter is closed; make a new one")
        if ep is None or ep.session is None:
            raise RuntimeError("step() before reset(): call reset(task) first")
        if ep.done:
            raise RuntimeError("step() after the episode ended: call reset(task) for a new one")
        action = parse_action(action_text, languages=ACTION_LANGUAGES, bare=True, example=EXAMPLE)
        if action.kind == "complete":
            ep.done = True
            return Observation(parts=[notice(f"[episode ended: {COMPLETE_LINE}]\n")], done=True)
        if action.kind == "invalid":
            return Observation(parts=[notice(f"[{action.problem}]\n{FORMAT_HELP}")])
        command = action.body or ""
        if "\x00" in command:
            obs = Observation(
                parts=[notice("[the command contains a NUL character, which bash cannot run]\n")]
            )
            return self._maybe_end(ep, obs, action.complete)
        ep.commands += 1
        r = ep.session.run(
            command,
            timeout_s=ep.timeout_s,
            max_output_bytes=self.max_output_bytes,
            max_drain_bytes=self.max_drain_bytes,
            fake_time=ep.clock.faketime(ep.commands) if ep.clock is not None else None,
        )
        self._fix_times(ep, ep.commands)
        parts = result_parts(r, timeout_s=ep.timeout_s, control_chars=self.control_chars)
        full = ep.fs is not None and ep.fs.full()
        if full:
            assert ep.fs is not None
            used, total, iused, itotal = ep.fs.usage()
            sep = "\n" if parts and not parts[-1].text.endswith("\n") else ""
            parts.append(
                notice(
                    f"{sep}[the sandbox's writable space is full ({used >> 20} of "
                    f"{total >> 20} MiB, {iused} of {itotal} files and directories; /work, "
                    "the home, /tmp and /dev/shm together): writes fail until you delete "
                    "something]\n"
                )
            )
        info: dict[str, Any] = {
            "exit_code": r.exit_code,
            "timed_out": r.timed_out,
            "restarted": r.restarted,
            "duration_s": r.duration_s,
            "stdout_bytes": r.stdout.total,
            "stderr_bytes": r.stderr.total,
            "stopped": r.stopped,
            "disk_full": full,
        }
        return self._maybe_end(ep, Observation(parts=parts, info=info), action.complete)

    @staticmethod
    def _maybe_end(ep: _Episode, obs: Observation, complete: bool) -> Observation:
        """The core rule: an action and TASK COMPLETE in one reply → the action ran, now end."""
        if not complete:
            return obs
        ep.done = True
        sep = "\n" if obs.parts and not obs.parts[-1].text.endswith("\n") else ""
        parts = [*obs.parts, notice(f"{sep}[episode ended: {COMPLETE_LINE}]\n")]
        return Observation(parts=parts, done=True, info=obs.info)

    def score(self) -> float:
        """Run verify.sh in a separate sandbox sharing the work dir: reward in [0, 1]."""
        ep = self._res.episode
        if self._closed:
            raise RuntimeError("the terminal adapter is closed; make a new one")
        if ep is None:
            raise RuntimeError("score() before reset(): call reset(task) first")
        if not (ep.task_copy / "verify.sh").is_file():
            raise EpisodeError(f"task {ep.task.id!r} has no verify.sh: it cannot be scored")
        r = self._oneshot(
            ep,
            "verify.sh",
            home=None,
            timeout_s=self.verify_timeout_s,
            extra_env={},
            step=ep.commands + 1,
            own_tmp=False,
        )
        self.last_verify = r
        if r.timed_out:
            return 0.0
        lines = [ln.strip() for ln in r.stdout.decode(errors="replace").splitlines()]
        lines = [ln for ln in lines if ln]
        if lines and lines[-1].startswith("reward:"):
            raw = lines[-1][len("reward:") :].strip()
            try:
                reward = float(raw)
            except ValueError:
                raise EpisodeError(
                    f"task {ep.task.id!r}: verify.sh printed {lines[-1]!r}; the reward must be "
                    "a number in [0, 1]"
                ) from None
            if not 0.0 <= reward <= 1.0:
                raise EpisodeError(
                    f"task {ep.task.id!r}: verify.sh printed reward {reward}, outside [0, 1]"
                )
            return reward
        return 1.0 if r.returncode == 0 else 0.0

    def close(self) -> None:
        """Kill the shell and its processes, delete the work dir (idempotent)."""
        self._closed = True
        self._finalizer()
