"""The bubblewrap sandbox: command lines, per-session uids, one-shot runs and process reaping.

Every process the model (or a task's setup/verify script) runs lives in a bubblewrap sandbox:

* no network (``--unshare-all`` leaves only a private loopback), its own pid, ipc and uts
  namespaces, ``--die-with-parent``, ``--cap-drop ALL``, and no nested user namespaces
  (``--disable-userns``: ``unshare -r`` fails inside, so nothing can mount a filesystem);
* a read-only system (``/usr`` plus a short whitelist of ``/etc``), a fresh size-capped ``/tmp``
  and ``/dev/shm`` (or directories of the caller's choosing), the episode's work dir writable at
  ``/work`` and its home at ``/home/user``, nothing else (no ``/root``, no host ``/home``, no
  ``/sys``);
* rlimits on CPU seconds, address space, file size, open files and processes.

As root, process-count rlimits do not bind uid 0, so the sandbox runs as a non-root uid leased
for the episode (``setpriv --reuid/--regid --clear-groups`` before bwrap).  Leases are unique
across processes on the host (an ``flock`` per uid), so ``RLIMIT_NPROC`` of one episode is never
shared with another.

Public API (stable; other adapters, e.g. the debugger's, build on it; changes are additive):

* :class:`Limits` (rlimits, ``prlimit_argv()``), :func:`lease_uid` → :class:`UidLease`
  (``.uid``, ``.release()``), :func:`write_identity_files` (the synthetic ``/etc/passwd``...);
* :func:`wrap_command` (``prlimit`` → ``setpriv`` → ``bwrap`` → your argv) and
  :func:`bwrap_argv` (the bwrap part), :func:`sandbox_env` (the whole environment);
  keyword options added later keep the old behaviour by default, except ``disable_userns``
  (on by default since it was added);
* :func:`bwrap_problem` (why the sandbox cannot work here, or None), :func:`spawn` (Popen from a
  long-lived thread, needed for ``--die-with-parent``), :func:`run_oneshot` (a script to
  completion with a timeout, output tails kept);
* :class:`CappedFs` / :func:`mount_capped_fs`: a tmpfs capped in bytes *and* inodes for an
  episode's writable space (root only; elsewhere a plain directory, ``capped=False``);
  :func:`unmount_stale` for those left by a killed process;
* :func:`libfaketime_path`, :func:`faketime_env` and :func:`env_prefix`: the environment that
  gives sandboxed processes a fixed, seeded clock (Debian's libfaketime);
  :func:`remove_faketime_shm` for its segment when unsandboxed;
* reaping: :func:`pid_namespace`, :func:`child_pid_namespace`,
  :func:`processes_in_pid_namespace`, :func:`processes_in_session`,
  :func:`processes_in_group`, :func:`kill_pid_namespace`, :func:`kill_session`,
  :func:`process_state`, :func:`rmtree_force`;
* constants ``SANDBOX_WORKDIR`` (``/work``), ``SANDBOX_HOME``, ``SANDBOX_CTL``,
  ``SANDBOX_TASK``, ``ETC_WHITELIST``; exceptions :class:`SandboxUnavailable`,
  :class:`UnsandboxedWarning`.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import errno
import fcntl
import functools
import glob
import hashlib
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from envlearn.channels import EpisodeError

__all__ = [
    "ETC_WHITELIST",
    "FIXED_ROOT_TIME",
    "SANDBOX_CTL",
    "SANDBOX_HOME",
    "SANDBOX_TASK",
    "SANDBOX_WORKDIR",
    "CappedFs",
    "Limits",
    "OneShotResult",
    "SandboxKind",
    "SandboxUnavailable",
    "UidLease",
    "UnsandboxedWarning",
    "bwrap_argv",
    "bwrap_problem",
    "child_pid_namespace",
    "env_prefix",
    "faketime_env",
    "kill_pid_namespace",
    "kill_session",
    "lease_uid",
    "libfaketime_path",
    "mount_capped_fs",
    "pid_namespace",
    "process_state",
    "processes_in_group",
    "processes_in_pid_namespace",
    "processes_in_session",
    "remove_faketime_shm",
    "rmtree_force",
    "run_oneshot",
    "sandbox_env",
    "spawn",
    "unmount_stale",
    "wrap_command",
    "write_identity_files",
]

SandboxKind = Literal["bwrap", "none"]

SANDBOX_WORKDIR = "/work"
SANDBOX_HOME = "/home/user"
SANDBOX_CTL = "/run/envlearn"
SANDBOX_TASK = "/task"
SANDBOX_USER = "user"

UID_BASE = 3_000_000
UID_SPAN = 100_000

# /etc entries a Debian userland needs (alternatives: awk, editor...; the loader cache; zone
# info; python's sitecustomize; git's system config).  Everything else in /etc stays hidden.
ETC_WHITELIST: tuple[str, ...] = (
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/mime.types",
    "/etc/magic",
    "/etc/magic.mime",
    "/etc/python3",
    "/etc/python3.11",
    "/etc/gitconfig",
    "/etc/protocols",
    "/etc/services",
    "/etc/debian_version",
    "/etc/os-release",
    "/etc/inputrc",
)


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here, and no unsandboxed mode was chosen."""


class UnsandboxedWarning(RuntimeWarning):
    """Model commands run directly on the host (``sandbox="none"``)."""


@dataclass(frozen=True)
class Limits:
    """Per-process rlimits applied to every sandboxed process (prlimit, soft = hard), and the
    size of each in-memory filesystem (``/tmp``, ``/dev/shm``, a verifier's home)."""

    cpu_s: int = 120
    memory_mb: int = 2048
    file_size_mb: int = 256
    nproc: int = 256
    nofile: int = 1024
    tmp_mb: int = 512

    def __post_init__(self) -> None:
        for name in ("cpu_s", "memory_mb", "file_size_mb", "nproc", "nofile", "tmp_mb"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"limit {name} must be a positive integer, got {v!r}")
        if self.nproc < 8:
            raise ValueError(f"limit nproc={self.nproc} is too low for a shell; use at least 8")
        if self.memory_mb < 64:
            raise ValueError(f"limit memory_mb={self.memory_mb} is too low for bash; use >= 64")

    def prlimit_argv(self) -> list[str]:
        """``prlimit ... --`` setting every limit (and no core dumps) for the command after it."""
        return [
            "prlimit",
            f"--cpu={self.cpu_s}",
            f"--as={self.memory_mb * 2**20}",
            f"--fsize={self.file_size_mb * 2**20}",
            f"--nproc={self.nproc}",
            f"--nofile={self.nofile}",
            "--core=0",
            "--",
        ]


# --------------------------------------------------------------------------------------------
# uid leases


class UidLease:
    """A host uid reserved for one episode (an ``flock`` on a per-uid file, released on close)."""

    def __init__(self, uid: int, fd: int | None) -> None:
        self.uid = uid
        self._fd = fd

    def release(self) -> None:
        """Give the uid back (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with _lease_lock:
                _leased.discard(self.uid)
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __repr__(self) -> str:
        return f"UidLease(uid={self.uid})"


_lease_lock = threading.Lock()
_leased: set[int] = set()
_lease_cursor = 0


def _lease_dir() -> Path:
    d = Path(tempfile.gettempdir()) / "envlearn-terminal-uids"
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def lease_uid(base: int = UID_BASE, span: int = UID_SPAN) -> UidLease:
    """Reserve a uid no other live session on this host uses (as root); else the current uid."""
    global _lease_cursor
    if os.geteuid() != 0:
        return UidLease(os.getuid(), None)
    d = _lease_dir()
    with _lease_lock:
        start = _lease_cursor
        for i in range(span):
            k = (start + i) % span
            uid = base + k
            if uid in _leased:
                continue
            fd = os.open(d / str(uid), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            _leased.add(uid)
            _lease_cursor = k + 1
            return UidLease(uid, fd)
    raise EpisodeError(f"no free sandbox uid in [{base}, {base + span}): too many live sessions")


# --------------------------------------------------------------------------------------------
# command lines


def _bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _usr_links() -> list[str]:
    argv: list[str] = []
    for name in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
        if os.path.isdir(f"/usr/{name}"):
            argv += ["--symlink", f"usr/{name}", f"/{name}"]
    return argv


#: mtime of the fixed root's entries (2024-01-01 00:00:00 UTC): ``ls -la /work`` shows it for ``..``.
FIXED_ROOT_TIME = 1_704_067_200

_root_lock = threading.Lock()
_roots: dict[str, Path] = {}


def _fixed_root(entries: Sequence[tuple[str, str]]) -> Path:
    """A read-only directory to use as the sandbox's ``/``: one entry per top-level mount point
    (``("dir", name)``, ``("file", name)`` or ``("link:TARGET", name)``), every time fixed at
    :data:`FIXED_ROOT_TIME`.  Shared by every sandbox with the same entries (built once per
    host, atomically)."""
    key = hashlib.sha256(repr(sorted(entries)).encode()).hexdigest()[:16]
    with _root_lock:
        got = _roots.get(key)
        if got is not None and got.is_dir():
            return got
        parent = Path(tempfile.gettempdir()) / "envlearn-terminal-root"
        parent.mkdir(mode=0o755, exist_ok=True)
        final = parent / key
        if not final.is_dir():
            tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=parent))
            for kind, name in entries:
                p = tmp / name
                if kind == "dir":
                    p.mkdir(mode=0o755)
                elif kind == "file":
                    p.touch(mode=0o644)
                else:
                    os.symlink(kind.split(":", 1)[1], p)
                os.utime(p, (FIXED_ROOT_TIME, FIXED_ROOT_TIME), follow_symlinks=False)
            tmp.chmod(0o755)
            os.utime(tmp, (FIXED_ROOT_TIME, FIXED_ROOT_TIME))
            try:
                tmp.rename(final)
            except OSError:  # another process built it first
                rmtree_force(tmp)
        _roots[key] = final
        return final


def bwrap_argv(
    *,
    workdir: Path,
    home: Path | None,
    ctl_dir: Path,
    ro_binds: Sequence[tuple[Path | str, str]] = (),
    hide: Sequence[str] = (),
    chdir: str = SANDBOX_WORKDIR,
    new_session: bool = False,
    tmpfs_bytes: int = 512 << 20,
    tmp_dir: Path | None = None,
    shm_dir: Path | None = None,
    disable_userns: bool = True,
    fixed_root: bool = False,
) -> list[str]:
    """The bwrap command line (ending with ``--``) for one sandboxed process tree.

    :param tmp_dir: bind this host directory at ``/tmp`` instead of a fresh tmpfs (e.g. a
        directory of the episode's :class:`CappedFs`, so ``/tmp`` counts against its caps).
    :param shm_dir: the same for ``/dev/shm``.
    :param disable_userns: forbid new user namespaces inside (``--disable-userns``).
    :param fixed_root: build ``/`` from a shared read-only directory whose entries have fixed
        times (instead of a tmpfs made now), so ``ls -la /work`` shows the same ``..`` on every
        run; every top-level mount point gets its own entry.
    """
    bwrap = _bwrap_path() or "bwrap"
    size = ["--size", str(tmpfs_bytes)]
    links = [("link:" + f"usr/{n}", n) for n in ("bin", "sbin", "lib", "lib64", "lib32", "libx32")]
    links = [e for e in links if os.path.isdir(f"/usr/{e[1]}")]
    argv = [bwrap, "--unshare-all"]
    if disable_userns:
        argv += ["--unshare-user", "--disable-userns"]
    argv += ["--die-with-parent", "--cap-drop", "ALL", "--hostname", "sandbox"]
    mounts: list[str] = []
    late_ro: list[str] = []
    mounts += ["--ro-bind", "/usr", "/usr"]
    if fixed_root:
        mounts += ["--perms", "0755", "--size", "1048576", "--tmpfs", "/etc"]
        late_ro.append("/etc")
    else:
        mounts += [*_usr_links(), "--perms", "0755", "--dir", "/etc"]
    for p in ETC_WHITELIST:
        mounts += ["--ro-bind-try", p, p]
    for name in ("passwd", "group", "hosts", "hostname"):
        mounts += ["--ro-bind", str(ctl_dir / name), f"/etc/{name}"]
    mounts += ["--proc", "/proc", "--dev", "/dev"]
    if shm_dir is None:
        mounts += ["--perms", "1777", *size, "--tmpfs", "/dev/shm"]
    else:
        mounts += ["--bind", str(shm_dir), "/dev/shm"]
    if tmp_dir is None:
        mounts += ["--perms", "1777", *size, "--tmpfs", "/tmp"]
    else:
        mounts += ["--bind", str(tmp_dir), "/tmp"]
    mounts += ["--bind", str(workdir), SANDBOX_WORKDIR]
    if home is None:
        mounts += [*size, "--tmpfs", SANDBOX_HOME]
    else:
        mounts += ["--bind", str(home), SANDBOX_HOME]
    mounts += ["--ro-bind", str(ctl_dir), SANDBOX_CTL]
    for src, dst in ro_binds:
        mounts += ["--ro-bind", str(src), dst]
    for h in hide:
        mounts += ["--tmpfs", h]
    if fixed_root:
        entries: dict[str, str] = {name: kind for kind, name in links}
        parents: list[str] = []
        direct = {"usr", "etc", "proc", "dev", "tmp"}
        dests = [SANDBOX_WORKDIR, SANDBOX_HOME, SANDBOX_CTL, *(d for _, d in ro_binds), *hide]
        srcs = {d: Path(s) for s, d in ro_binds}
        for top in direct:
            entries[top] = "dir"
        for d in dests:
            parts = [x for x in d.split("/") if x]
            if not parts:
                continue
            top = parts[0]
            if len(parts) == 1:
                kind = "file" if d in srcs and srcs[d].is_file() else "dir"
                entries.setdefault(top, kind)
                direct.add(top)
            elif top not in direct and top not in parents and top not in entries:
                entries[top] = "dir"
                parents.append(top)
        pre: list[str] = []
        for top in parents:
            pre += ["--perms", "0755", "--size", "1048576", "--tmpfs", f"/{top}"]
            late_ro.append(f"/{top}")
        root = _fixed_root([(kind, name) for name, kind in entries.items()])
        argv += ["--ro-bind", str(root), "/", *pre]
    argv += mounts
    if new_session:
        argv.append("--new-session")
    argv += ["--chdir", chdir, "--remount-ro", "/dev", "--remount-ro", "/"]
    for p in late_ro:
        argv += ["--remount-ro", p]
    argv.append("--")
    return argv


def _drop_privileges_argv(uid: int) -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs"]


def wrap_command(
    inner: Sequence[str],
    *,
    sandbox: SandboxKind,
    uid: int,
    limits: Limits,
    workdir: Path,
    home: Path | None,
    ctl_dir: Path,
    ro_binds: Sequence[tuple[Path | str, str]] = (),
    hide: Sequence[str] = (),
    new_session: bool = False,
    tmp_dir: Path | None = None,
    shm_dir: Path | None = None,
    disable_userns: bool = True,
    fixed_root: bool = False,
) -> list[str]:
    """``prlimit`` → (``setpriv`` →) ``bwrap`` → ``inner``; with ``sandbox="none"``, prlimit only.

    The keyword options after ``new_session`` are those of :func:`bwrap_argv`."""
    if sandbox == "none":
        return [*limits.prlimit_argv(), *inner]
    return [
        *limits.prlimit_argv(),
        *_drop_privileges_argv(uid),
        *bwrap_argv(
            workdir=workdir,
            home=home,
            ctl_dir=ctl_dir,
            ro_binds=ro_binds,
            hide=hide,
            new_session=new_session,
            tmpfs_bytes=limits.tmp_mb << 20,
            tmp_dir=tmp_dir,
            shm_dir=shm_dir,
            disable_userns=disable_userns,
            fixed_root=fixed_root,
        ),
        *inner,
    ]


def sandbox_env(
    *, sandbox: SandboxKind, home: Path | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The whole environment of a sandboxed process (nothing leaks in from the host's)."""
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": SANDBOX_HOME if sandbox == "bwrap" else str(home or tempfile.gettempdir()),
        "USER": SANDBOX_USER,
        "LOGNAME": SANDBOX_USER,
        "SHELL": "/bin/bash",
        "TERM": "dumb",
        "LANG": "C.UTF-8",
        "PAGER": "cat",
        "GIT_PAGER": "cat",
        "TMPDIR": "/tmp",
    }
    if extra:
        env.update(extra)
    return env


def write_identity_files(ctl_dir: Path, uid: int) -> None:
    """Write the sandbox's synthetic /etc/passwd, group, hosts and hostname into ``ctl_dir``."""
    files = {
        "passwd": (
            "root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"{SANDBOX_USER}:x:{uid}:{uid}:{SANDBOX_USER}:{SANDBOX_HOME}:/bin/bash\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        ),
        "group": f"root:x:0:\n{SANDBOX_USER}:x:{uid}:\nnogroup:x:65534:\n",
        "hosts": "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        "hostname": "sandbox\n",
    }
    for name, text in files.items():
        p = ctl_dir / name
        p.write_text(text)
        p.chmod(0o644)


# --------------------------------------------------------------------------------------------
# the episode's writable space: a tmpfs capped in bytes and inodes

_MS_NOSUID, _MS_NODEV, _MS_NOATIME, _MNT_DETACH = 2, 4, 1024, 2
_libc: Any = None


def _libc_call(name: str, *args: Any) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if getattr(_libc, name)(*args) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{name}: {os.strerror(e)}")


class CappedFs:
    """An episode's writable space: a tmpfs mounted at ``path`` with ``size=max_bytes`` and
    ``nr_inodes=max_inodes`` (so neither bytes nor files can exhaust the host; ``nosuid``,
    ``nodev``, ``noatime``: reads leave file times alone), or, where this
    process cannot mount (not root), a plain directory (``capped`` is False: nothing bounds it).

    Make the directories the sandbox binds (``work``, ``home``, ``tmp``...) inside it;
    :meth:`usage` reads what is used; :meth:`close` unmounts (idempotent).
    """

    def __init__(self, path: Path, *, max_bytes: int, max_inodes: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_inodes = max_inodes
        self.capped = False
        self.path.mkdir(mode=0o755, exist_ok=True)
        if os.geteuid() == 0:
            opts = f"size={max_bytes},nr_inodes={max_inodes},mode=0755".encode()
            try:
                _libc_call(
                    "mount",
                    b"envlearn-episode",
                    str(self.path).encode(),
                    b"tmpfs",
                    ctypes.c_ulong(_MS_NOSUID | _MS_NODEV | _MS_NOATIME),
                    opts,
                )
                self.capped = True
            except OSError:
                self.capped = False

    def usage(self) -> tuple[int, int, int, int]:
        """``(bytes used, bytes total, inodes used, inodes total)`` of the filesystem."""
        st = os.statvfs(self.path)
        total = st.f_blocks * st.f_frsize
        used = total - st.f_bfree * st.f_frsize
        return used, total, st.f_files - st.f_ffree, st.f_files

    def full(self) -> bool:
        """Whether bytes or inodes are (nearly) exhausted: a write would fail now."""
        if not self.capped:
            return False
        used, total, iused, itotal = self.usage()
        return total - used < max(65536, total // 200) or itotal - iused < 8

    def close(self) -> None:
        """Unmount (lazily: the memory is freed once no process uses it; idempotent)."""
        if self.capped:
            self.capped = False
            try:
                _libc_call("umount2", str(self.path).encode(), _MNT_DETACH)
            except OSError as e:
                if e.errno not in (errno.EINVAL, errno.ENOENT):
                    raise


def mount_capped_fs(path: Path, *, max_bytes: int, max_inodes: int) -> CappedFs:
    """Mount a :class:`CappedFs` at ``path`` (created if missing)."""
    return CappedFs(path, max_bytes=max_bytes, max_inodes=max_inodes)


def unmount_stale(under: Path) -> int:
    """Unmount every episode tmpfs mounted below ``under`` (a killed process's leftovers);
    returns how many.  Call it only for directories no live episode uses."""
    prefix = str(Path(under).resolve()).rstrip("/") + "/"
    found = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mnt = line.split()[4].replace("\\040", " ")
                if mnt.startswith(prefix):
                    found.append(mnt)
    except OSError:
        return 0
    n = 0
    for mnt in sorted(found, key=len, reverse=True):
        try:
            _libc_call("umount2", mnt.encode(), _MNT_DETACH)
            n += 1
        except OSError:
            pass
    return n


# --------------------------------------------------------------------------------------------
# a fixed clock (Debian's libfaketime)


@functools.cache
def libfaketime_path() -> str | None:
    """Where Debian's ``libfaketime.so.1`` is (under /usr, so the sandbox sees it), or None."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    found += sorted(glob.glob("/usr/lib/faketime/libfaketime.so.1"))
    return found[0] if found else None


def env_prefix(env: Mapping[str, str]) -> list[str]:
    """``env -- K=V ...`` to put before a sandboxed command so that only it (not prlimit,
    setpriv or bwrap on the host side) gets ``env``; empty for an empty mapping."""
    if not env:
        return []
    return ["/usr/bin/env", "--", *(f"{k}={v}" for k, v in env.items())]


def remove_faketime_shm(pid: int) -> None:
    """Remove the shared-memory segment and semaphore libfaketime made in ``/dev/shm`` for the
    process tree started as ``pid`` (only needed unsandboxed: in the sandbox ``/dev/shm`` is the
    episode's own)."""
    for name in (f"faketime_shm_{pid}", f"sem.faketime_sem_{pid}"):
        try:
            os.unlink(f"/dev/shm/{name}")
        except OSError:
            pass


def faketime_env(start: str) -> dict[str, str]:
    """Environment that starts every process's wall clock at ``start`` (``YYYY-MM-DD hh:mm:ss``,
    UTC), ticking normally from there; file times are left real (monotonic clocks are faked
    too: with ``FAKETIME_DONT_FAKE_MONOTONIC`` Python's ``time.sleep`` fails with EINVAL).

    Pass it *inside* the sandbox (:func:`env_prefix`): libfaketime's first process creates a
    shared-memory segment its children open, which fails across the uid change."""
    lib = libfaketime_path()
    if lib is None:
        raise SandboxUnavailable(
            "libfaketime is not installed (the fixed sandbox clock needs it): "
            "apt-get install -y faketime libfaketime"
        )
    return {
        "LD_PRELOAD": lib,
        "FAKETIME": f"@{start}",
        "NO_FAKE_STAT": "1",
        "TZ": "UTC",
    }


# --------------------------------------------------------------------------------------------
# availability


@functools.cache
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot sandbox commands on this machine, or None if it works (cached)."""
    if _bwrap_path() is None:
        return "bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap"
    for tool in ("prlimit", "setsid") + (("setpriv",) if os.geteuid() == 0 else ()):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed"
    lease = lease_uid()
    root = Path(tempfile.mkdtemp(prefix="envlearn-probe-"))
    try:
        root.chmod(0o711)
        work, ctl = root / "work", root / "ctl"
        work.mkdir()
        ctl.mkdir(mode=0o755)
        write_identity_files(ctl, lease.uid)
        if os.geteuid() == 0:
            os.chown(work, lease.uid, lease.uid)
        argv = wrap_command(
            ["/bin/bash", "-c", "echo ok > /work/probe"],
            sandbox="bwrap",
            uid=lease.uid,
            limits=Limits(),
            workdir=work,
            home=None,
            ctl_dir=ctl,
            new_session=True,
        )
        try:
            r = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
                env=sandbox_env(sandbox="bwrap"),
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"bwrap failed to start: {e!r}"
        if r.returncode != 0 or not (work / "probe").exists():
            err = r.stderr.decode(errors="replace").strip()
            return f"bwrap cannot create a sandbox here (exit {r.returncode}): {err[:500]}"
        return None
    finally:
        lease.release()
        rmtree_force(root)


# --------------------------------------------------------------------------------------------
# spawning from a thread that outlives every session

# ``--die-with-parent`` is PR_SET_PDEATHSIG, which fires when the *thread* that forked bwrap
# exits, not the process.  Sessions are often started from worker threads (asyncio.to_thread,
# thread pools) that may end before the session does, so long-lived sandboxes are forked from
# one daemon thread that lives as long as the interpreter.


class _Spawner:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = -1

    def _loop(self) -> None:
        while True:
            fut, args, kwargs = self._queue.get()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(subprocess.Popen(*args, **kwargs))
            except BaseException as e:  # handed to the caller
                fut.set_exception(e)

    def popen(self, *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(
                    target=self._loop, name="envlearn-terminal-spawner", daemon=True
                )
                self._thread.start()
                self._pid = os.getpid()
        fut: concurrent.futures.Future[subprocess.Popen[bytes]] = concurrent.futures.Future()
        self._queue.put((fut, args, kwargs))
        return fut.result()


_spawner = _Spawner()


def spawn(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen`` run on the long-lived spawner thread (see the note above)."""
    return _spawner.popen(*args, **kwargs)


# --------------------------------------------------------------------------------------------
# one-shot runs (setup.sh, verify.sh)


@dataclass
class OneShotResult:
    """What a one-shot sandboxed script did."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool
    duration_s: float
    pid: int = -1  # host pid of the outermost process (added; -1 when unknown)


def _keep_tail(buf: bytearray, limit: int) -> None:
    if len(buf) > 2 * limit:
        del buf[:-limit]


def run_oneshot(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout_s: float, keep: int = 65536
) -> OneShotResult:
    """Run a sandboxed script to completion (or kill it at the timeout); keep the output tails."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs = {out_fd: bytearray(), err_fd: bytearray()}
    poller = select.poll()
    for fd in bufs:
        poller.register(fd, select.POLLIN)
    open_fds = set(bufs)
    deadline = t0 + timeout_s
    timed_out = False
    try:
        while open_fds:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for fd, _ev in poller.poll(left * 1000):
                data = os.read(fd, 65536)
                if not data:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                else:
                    bufs[fd] += data
                    _keep_tail(bufs[fd], keep)
    finally:
        if timed_out or proc.poll() is None:
            if timed_out:
                _kill_tree(proc)
            else:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    timed_out = True
                    _kill_tree(proc)
        proc.stdout.close()
        proc.stderr.close()
    out, err = bufs[out_fd], bufs[err_fd]
    return OneShotResult(
        None if timed_out else proc.returncode,
        bytes(out[-keep:]),
        bytes(err[-keep:]),
        timed_out,
        time.monotonic() - t0,
        proc.pid,
    )


def child_pid_namespace(pid: int) -> str | None:
    """The pid namespace of ``pid``'s first child when it differs from the host's (bwrap's)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        return None
    host = pid_namespace(os.getpid())
    for k in kids:
        ns = pid_namespace(k)
        if ns is not None and ns != host:
            return ns
    return None


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill a one-shot run: its sandbox's pid namespace, or its whole session (unsandboxed)."""
    ns = child_pid_namespace(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()
    if ns is not None:
        kill_pid_namespace(ns)
    kill_session(proc.pid)


# --------------------------------------------------------------------------------------------
# finding and killing what a sandbox left behind


def _proc_pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def pid_namespace(pid: int) -> str | None:
    """The pid-namespace id (``pid:[inode]``) of a host process, or None if it is gone."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def processes_in_pid_namespace(ns: str) -> list[int]:
    """Host pids of every live (non-zombie) process in the pid namespace ``ns``."""
    found = []
    for pid in _proc_pids():
        if pid_namespace(pid) == ns and not _is_zombie(pid):
            found.append(pid)
    return found


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    # comm may contain spaces and parens: split after the last ')'
    rest = raw[raw.rfind(")") + 2 :].split()
    return rest  # rest[0] = state, [1] = ppid, [2] = pgrp, [3] = session


def process_state(pid: int) -> str | None:
    """The state letter of a host process (``R``, ``S``, ``T`` stopped, ``Z``...), or None."""
    f = _stat_fields(pid)
    return f[0] if f else None


def _is_zombie(pid: int) -> bool:
    f = _stat_fields(pid)
    return f is None or f[0] in ("Z", "X")


def processes_in_session(sid: int) -> list[int]:
    """Host pids of every live process whose session id is ``sid``."""
    found = []
    for pid in _proc_pids():
        f = _stat_fields(pid)
        if f is not None and f[0] not in ("Z", "X") and int(f[3]) == sid:
            found.append(pid)
    return found


def processes_in_group(pgid: int) -> list[int]:
    """Host pids of every live process in the process group ``pgid``."""
    found = []
    for pid in _proc_pids():
        f = _stat_fields(pid)
        if f is not None and f[0] not in ("Z", "X") and int(f[2]) == pgid:
            found.append(pid)
    return found


def _kill_until_gone(find: Any, deadline_s: float) -> list[int]:
    end = time.monotonic() + deadline_s
    while True:
        pids = find()
        if not pids:
            return []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if time.monotonic() > end:
            return find()
        time.sleep(0.005)


def kill_pid_namespace(ns: str, deadline_s: float = 3.0) -> list[int]:
    """SIGKILL every process in a pid namespace until none is left; returns survivors (none)."""
    if ns == pid_namespace(os.getpid()):
        raise ValueError("refusing to kill the host's own pid namespace")
    return _kill_until_gone(lambda: processes_in_pid_namespace(ns), deadline_s)


def kill_session(sid: int, deadline_s: float = 3.0) -> list[int]:
    """SIGKILL every process of session ``sid`` until none is left (unsandboxed mode)."""
    if sid == os.getsid(0):
        raise ValueError("refusing to kill the host process's own session")
    return _kill_until_gone(lambda: processes_in_session(sid), deadline_s)


def rmtree_force(path: Path) -> None:
    """Remove a tree even where the sandboxed user removed permissions from its own dirs, and
    where an episode filesystem is still mounted in it (a killed process's; unmounted first)."""
    unmount_stale(path)

    def retry(func: Any, p: str, err: BaseException) -> None:
        if isinstance(err, FileNotFoundError):
            return
        if isinstance(err, PermissionError):
            try:
                os.chmod(os.path.dirname(p), 0o700)
                os.chmod(p, 0o700)
                func(p)
                return
            except OSError:
                pass
        raise err

    if not path.exists():
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=lambda func, p, exc_info: retry(func, p, exc_info[1]))
