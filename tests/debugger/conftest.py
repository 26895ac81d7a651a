"""Fixtures for the debugger adapter tests: sandboxed adapters, tiny tasks, leak checks."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from envlearn_debugger import DebuggerAdapter
from envlearn_terminal.sandbox import bwrap_problem, processes_in_pid_namespace, rmtree_force

from envlearn.channels import Task


@pytest.fixture(scope="session")
def sandbox_ok() -> None:
    """Skip (visibly) where bubblewrap, gdb or gcc are missing; in CI that is a failure."""
    problem = bwrap_problem()
    for tool in ("gdb", "gcc"):
        if problem is None and shutil.which(tool) is None:
            problem = f"{tool} is not installed"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"debugger sandbox unavailable in CI (./run.sh installs it): {problem}")
        pytest.skip(f"debugger sandbox unavailable: {problem}")


@pytest.fixture
def workroot() -> Iterator[Path]:
    """A private work-dir root, reachable by the sandbox uid (pytest's tmp_path is 0700)."""
    root = Path(tempfile.mkdtemp(prefix="envlearn-dbg-test-", dir="/tmp"))
    root.chmod(0o711)
    yield root
    rmtree_force(root)


@pytest.fixture
def new_adapter(sandbox_ok: None, workroot: Path) -> Iterator[Callable[..., DebuggerAdapter]]:
    """A factory of sandboxed debugger adapters (short timeouts), all closed afterwards."""
    made: list[DebuggerAdapter] = []

    def new(**opts: object) -> DebuggerAdapter:
        opts = {"timeout_s": 2.0, "workdir_root": workroot, **opts}
        a = DebuggerAdapter(**opts)  # type: ignore[arg-type]
        made.append(a)
        return a

    yield new
    for a in made:
        a.close()


def py_task(
    program: str,
    tests: str,
    *,
    debug: dict | None = None,
    tid: str = "tiny-py",
    timeout_s: float | None = None,
    oracle: list[str] | None = None,
) -> Task:
    """A one-module Python task: ``prog.py`` and ``test_prog.py``."""
    data: dict[str, object] = {
        "backend": "python",
        "files": {"prog.py": program, "test_prog.py": tests},
        "editable": ["prog.py"],
        "tests": ["test_prog.py"],
        "debug": debug or {"script": "prog.py"},
    }
    if timeout_s is not None:
        data["timeout_s"] = timeout_s
    return Task(id=tid, adapter="debugger", instruction="fix prog.py", oracle=oracle, data=data)


def c_task(program: str, cases: str, *, args: list[str] | None = None, tid: str = "tiny-c") -> Task:
    """A one-file C task: ``prog.c`` and ``cases.json``."""
    return Task(
        id=tid,
        adapter="debugger",
        instruction="fix prog.c",
        data={
            "backend": "c",
            "files": {"prog.c": program, "cases.json": cases},
            "editable": ["prog.c"],
            "tests": ["cases.json"],
            "debug": {"args": args or []},
        },
    )


def pdb(*commands: str) -> str:
    """A reply holding pdb commands."""
    return "```pdb\n" + "\n".join(commands) + "\n```"


def gdb(*commands: str) -> str:
    """A reply holding gdb commands."""
    return "```gdb\n" + "\n".join(commands) + "\n```"


def wait_until(cond: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll ``cond`` until true or the deadline (no sleeps as synchronization)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


@dataclass
class SessionTrace:
    """Where a debugger session lived, recorded before close, checked after."""

    ns: str
    host_pid: int
    workdir: Path

    @classmethod
    def of(cls, adapter: DebuggerAdapter) -> SessionTrace:
        s = adapter.session
        assert s is not None and s.proc is not None and s.proc.ns is not None
        assert adapter.workdir is not None
        return cls(s.proc.ns, s.proc.proc.pid, adapter.workdir)

    def assert_gone(self) -> None:
        assert wait_until(lambda: not processes_in_pid_namespace(self.ns)), (
            f"processes left in {self.ns}: {processes_in_pid_namespace(self.ns)}"
        )
        assert not Path(f"/proc/{self.host_pid}").exists() or _zombie(self.host_pid)
        assert not self.workdir.exists(), f"work dir {self.workdir} left behind"


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True
