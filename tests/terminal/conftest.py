"""Fixtures for the terminal adapter tests: tiny task dirs, adapters, leak checks."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from envlearn_terminal import TerminalAdapter
from envlearn_terminal.sandbox import bwrap_problem, processes_in_pid_namespace, rmtree_force

from envlearn.channels import Observation, Task

# Terminal-Bench task folders used as importer fixtures hold their own test_*.py files.
collect_ignore_glob = ["fixtures/*"]


@pytest.fixture(scope="session")
def bwrap_ok() -> None:
    """Skip (visibly) where bubblewrap cannot sandbox; CI installs it, so it runs there."""
    problem = bwrap_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"bubblewrap unavailable in CI (./run.sh installs it): {problem}")
        pytest.skip(f"bubblewrap unavailable: {problem}")


@pytest.fixture
def make_task(tmp_path: Path) -> Callable[..., Task]:
    """Build a tiny task dir (setup.sh / verify.sh / solution.sh) and its Task."""
    counter = iter(range(1000))

    def make(
        setup: str | None = None,
        verify: str | None = None,
        solution: str | None = None,
        *,
        timeout_s: float | None = None,
        files: dict[str, str] | None = None,
    ) -> Task:
        tid = f"tiny-{next(counter)}"
        d = tmp_path / "tasks" / tid
        d.mkdir(parents=True)
        for name, text in (("setup.sh", setup), ("verify.sh", verify), ("solution.sh", solution)):
            if text is not None:
                (d / name).write_text(text)
        for name, text in (files or {}).items():
            (d / name).write_text(text)
        data: dict[str, object] = {"task_dir": str(d), "category": "filesystem"}
        if timeout_s is not None:
            data["timeout_s"] = timeout_s
        return Task(
            id=tid,
            adapter="terminal",
            instruction="tiny test task",
            oracle=[f"```bash\n{solution}\n```"] if solution is not None else None,
            data=data,
        )

    return make


@pytest.fixture
def workroot() -> Iterator[Path]:
    """A private work-dir root, reachable by the sandbox uid (pytest's tmp_path is 0700)."""
    root = Path(tempfile.mkdtemp(prefix="envlearn-test-", dir="/tmp"))
    root.chmod(0o711)
    yield root
    rmtree_force(root)


@pytest.fixture
def new_adapter(bwrap_ok: None, workroot: Path) -> Iterator[Callable[..., TerminalAdapter]]:
    """A factory of sandboxed adapters (short timeouts, small limits), all closed afterwards."""
    made: list[TerminalAdapter] = []

    def new(**opts: object) -> TerminalAdapter:
        opts = {"timeout_s": 2.0, "nproc": 64, "memory_mb": 1024, "workdir_root": workroot, **opts}
        a = TerminalAdapter(**opts)  # type: ignore[arg-type]
        made.append(a)
        return a

    yield new
    for a in made:
        a.close()


@pytest.fixture
def term(new_adapter: Callable[..., TerminalAdapter]) -> TerminalAdapter:
    """A sandboxed adapter reset on an empty task."""
    a = new_adapter()
    a.reset(Task(id="empty", adapter="terminal", instruction="nothing"))
    return a


def run(adapter: TerminalAdapter, command: str) -> Observation:
    """Step one command, in the action format."""
    return adapter.step(f"```bash\n{command}\n```")


def assert_usable(adapter: TerminalAdapter) -> None:
    """The session still answers a trivial command correctly."""
    obs = run(adapter, "echo ok")
    assert obs.content_text("stdout") == "ok\n", obs.text
    assert obs.content_text("exit_code") == "0", obs.text


def wait_until(cond: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll ``cond`` until true or the deadline (no sleeps as synchronization)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def host_pids_with_cmdline(marker: str) -> list[int]:
    """Host processes whose command line contains ``marker`` (zombies excluded)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{name}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state not in ("Z", "X"):
            found.append(int(name))
    return found


@dataclass
class SessionTrace:
    """Where a session lived, recorded before close, checked after."""

    ns: str
    host_pid: int
    workdir: Path

    @classmethod
    def of(cls, adapter: TerminalAdapter) -> SessionTrace:
        s = adapter.session
        assert s is not None and s.pid_namespace is not None and s.host_pid is not None
        assert adapter.workdir is not None
        return cls(s.pid_namespace, s.host_pid, adapter.workdir)

    def assert_gone(self) -> None:
        assert wait_until(lambda: not processes_in_pid_namespace(self.ns)), (
            f"processes left in {self.ns}: {processes_in_pid_namespace(self.ns)}"
        )
        assert wait_until(lambda: not _alive(self.host_pid)), f"bwrap {self.host_pid} still alive"
        assert not self.workdir.exists(), f"work dir {self.workdir} left behind"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def play_oracle(adapter: TerminalAdapter, task: Task, seed: int = 0) -> list[Observation]:
    """Reset and play the task's whole oracle (look around, solution, TASK COMPLETE)."""
    seen = [adapter.reset(task, seed=seed)]
    for action in task.oracle or []:
        seen.append(adapter.step(action))
        if seen[-1].done:
            break
    return seen


def _oracle_and_noop(task: Task, record: dict[str, list[Observation]] | None = None) -> str | None:
    """None if the oracle scores 1.0 and a no-op scores < 1.0; else what went wrong.  The
    oracle episode's observations go into ``record[task.id]``."""
    from envlearn.plugins import make_adapter

    a = make_adapter("terminal")
    try:
        a.reset(task)
        noop = a.score()
        noop_out = _last_verify(a)
        seen = play_oracle(a, task)
        oracle = a.score()
        if record is not None:
            record[task.id] = seen
        if oracle == 1.0 and noop < 1.0:
            return None
        return (
            f"{task.id}: oracle={oracle} noop={noop}\n  step: {seen[-1].text[-800:]!r}\n"
            f"  verify(oracle): {_last_verify(a)}\n  verify(noop): {noop_out}"
        )
    except Exception as e:  # report every task, not just the first to fail
        return f"{task.id}: {type(e).__name__}: {e}"
    finally:
        a.close()


def _last_verify(adapter: object) -> str:
    r = getattr(adapter, "last_verify", None)
    if r is None:
        return "(no verify output)"
    return (r.stdout + r.stderr).decode(errors="replace")[-800:]


def run_oracles_and_noops(
    tasks: list[Task], record: dict[str, list[Observation]] | None = None
) -> list[str]:
    """Run every task's oracle and a no-op attempt (4 sessions in parallel); the failures.
    With ``record``, each oracle episode's observations are kept there by task id."""
    from envlearn.plugins import make_adapter

    make_adapter("terminal").close()  # build the plugin registry once, outside the threads
    with ThreadPoolExecutor(max_workers=4) as ex:
        results = ex.map(lambda t: _oracle_and_noop(t, record), tasks)
        return [r for r in results if r is not None]
