"""One headless Chromium per run, driven by Playwright's async API on a thread of its own.

Playwright's objects belong to the event loop (or, for the sync API, the thread) that made them,
while envlearn runs each episode on its own thread.  So the browser lives on one private thread
running an asyncio loop, and episodes hand it coroutines (:meth:`BrowserEngine.run`), waiting
for each with a deadline.  Every episode gets a fresh ``BrowserContext`` (cookies, storage and
cache of its own); the browser process is a run-scoped resource (:func:`shared_engine`), launched
by the first episode that needs it and closed when the run ends.

Debian's ``chromium`` is used (``/usr/bin/chromium``, installed by ``./run.sh``); Playwright's
own browser download (``playwright install``) is never needed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from envlearn.channels import EpisodeError
from envlearn.resources import run_resource

__all__ = [
    "CHROMIUM_ARGS",
    "RESOURCE_KEY",
    "BrowserEngine",
    "BrowserUnavailable",
    "find_chromium",
    "shared_engine",
]

T = TypeVar("T")

RESOURCE_KEY = "browser.chromium"
"""The run-resource key of the shared browser."""

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    # nothing but 127.0.0.1 resolves, so a missed route still cannot reach another host
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)

_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")


class BrowserUnavailable(EpisodeError):
    """Chromium or Playwright is missing or failed to start (an infrastructure fault)."""


def find_chromium(executable: str | None = None) -> str:
    """The Chromium binary to launch: ``executable``, ``$ENVLEARN_CHROMIUM``, or Debian's."""
    wanted = executable or os.environ.get("ENVLEARN_CHROMIUM")
    if wanted:
        path = shutil.which(wanted) or wanted
        if not os.access(path, os.X_OK):
            raise BrowserUnavailable(
                f"chromium executable {wanted!r} is not an executable file; install Debian's "
                "chromium (./run.sh setup, or apt-get install chromium) or fix ENVLEARN_CHROMIUM"
            )
        return path
    for path in _CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    raise BrowserUnavailable(
        "no chromium found at /usr/lib/chromium/chromium or /usr/bin/chromium: run ./run.sh setup "
        "(it apt-installs chromium) or set ENVLEARN_CHROMIUM to a Chromium binary; "
        "`playwright install` is not needed"
    )


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            rest = (d / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(rest) > 1:
            kids.setdefault(int(rest[1]), []).append(int(d.name))
    return kids


def process_tree(root: int) -> set[int]:
    """``root`` and every process below it (zombies included), from ``/proc``."""
    kids = _children()
    found = {root}
    stack = [root]
    while stack:
        for c in kids.get(stack.pop(), []):
            if c not in found:
                found.add(c)
                stack.append(c)
    return found


_claimed: set[int] = set()
_claim_lock = threading.Lock()


def _claim_driver() -> int | None:
    """The Playwright driver process just started by this process (a child whose command line
    names playwright) that no other engine has claimed yet."""
    me = os.getpid()
    with _claim_lock:
        found = []
        for pid in _children().get(me, []):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"playwright" in cmd and pid not in _claimed:
                found.append(pid)
        if not found:
            return None
        pid = max(found, key=lambda p: Path(f"/proc/{p}").stat().st_mtime)
        _claimed.add(pid)
        return pid


def _start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None if there is no such process:
    with the pid, it names one process even after the pid is reused."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19])
    except (OSError, IndexError, ValueError):
        return None


class BrowserEngine:
    """A Chromium process and the loop thread that drives it.

    :param executable: the Chromium binary (default: :func:`find_chromium`).
    :param launch_timeout_s: deadline for starting Playwright and Chromium.
    """

    def __init__(self, executable: str | None = None, *, launch_timeout_s: float = 60.0) -> None:
        self.executable = find_chromium(executable)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="envlearn-browser-loop", daemon=True
        )
        self._thread.start()
        self._lock = threading.Lock()
        self._pw: Any = None
        self.browser: Any = None
        self.pids: set[int] = set()
        self.driver_pid: int | None = None
        self._started: dict[int, int] = {}
        self.leftover: list[int] = []  # pids killed at close after the deadline (none expected)
        self.closed = False
        try:
            self.run(self._start(), launch_timeout_s, what="launching chromium")
        except BaseException as e:
            self.close()
            if isinstance(e, EpisodeError):
                raise BrowserUnavailable(str(e)) from e
            raise BrowserUnavailable(f"launching chromium failed: {type(e).__name__}: {e}") from e

    async def _start(self) -> None:
        try:
            from playwright.async_api import async_playwright
        except ImportError as e:  # pragma: no cover - a declared dependency
            raise BrowserUnavailable(
                "the playwright package is missing: pip install -e adapters/browser"
            ) from e
        self._pw = await async_playwright().start()
        self.driver_pid = _claim_driver()  # to wait for its whole process tree at close
        self.refresh_pids()
        self.browser = await self._pw.chromium.launch(
            executable_path=self.executable, headless=True, args=list(CHROMIUM_ARGS)
        )
        self.refresh_pids()

    def refresh_pids(self) -> set[int]:
        """Add the driver's current process tree (renderers come and go) to :attr:`pids`."""
        if self.driver_pid is not None and self._alive(self.driver_pid):
            for pid in process_tree(self.driver_pid) - self.pids:
                started = _start_time(pid)
                if started is not None:
                    self.pids.add(pid)
                    self._started[pid] = started
        return self.pids

    def _alive(self, pid: int) -> bool:
        """Whether our process ``pid`` still has a process-table entry (a zombie counts: it is
        not reaped yet); a reused pid is someone else's process, not ours."""
        started = _start_time(pid)
        return started is not None and started == self._started.get(pid, started)

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float, *, what: str = "") -> T:
        """Run ``coro`` on the browser's loop; its result, or :class:`TimeoutError` after
        ``timeout_s`` (the coroutine is cancelled)."""
        if self.closed or not self._thread.is_alive():
            coro.close()
            raise BrowserUnavailable("the browser was closed (its run ended); start a new run")
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout_s)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(f"{what or 'browser call'} took over {timeout_s:g} s") from None

    @property
    def connected(self) -> bool:
        """Whether Chromium is still running and reachable."""
        return bool(self.browser is not None and self.browser.is_connected() and not self.closed)

    def close(self, *, wait_s: float = 15.0) -> None:
        """Close the browser and Playwright, stop the loop thread, and wait until every process
        they started has left the process table (zombies reaped, not ignored).  Idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self.refresh_pids()
        if self._thread.is_alive():

            async def stop() -> None:
                if self.browser is not None:
                    try:
                        await asyncio.wait_for(self.browser.close(), 10)
                    except Exception:  # noqa: BLE001 - a dead browser is closed too
                        pass
                if self._pw is not None:
                    await asyncio.wait_for(self._pw.stop(), 10)

            fut = asyncio.run_coroutine_threadsafe(stop(), self._loop)
            try:
                fut.result(25)
            except Exception:  # noqa: BLE001 - kill what is left below
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()
        deadline = time.monotonic() + wait_s
        # the driver is reaped by asyncio's child watcher, orphaned Chromium processes by init
        left = {p for p in self.pids if self._alive(p)}
        while left and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the process table with a deadline, not synchronising
            left = {p for p in left if self._alive(p)}
        for pid in left:  # still there after the deadline (and still ours): kill it
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        self.leftover = sorted(left)


MAX_RELAUNCHES = 3
"""How many times one run replaces a crashed Chromium before giving up."""


def shared_engine(executable: str | None = None) -> BrowserEngine:
    """The run's browser: a run-scoped resource under :data:`RESOURCE_KEY`.  If it crashed,
    the next one in the run's chain (``browser.chromium#1``, ``#2``, ...) is used or launched."""
    key = RESOURCE_KEY
    for generation in range(MAX_RELAUNCHES + 1):
        engine = run_resource(key, lambda: BrowserEngine(executable), close=_close)
        if engine.connected:
            return engine
        key = f"{RESOURCE_KEY}#{generation + 1}"
    raise BrowserUnavailable(
        f"chromium crashed {MAX_RELAUNCHES + 1} times in this run; see the system log "
        "(out of memory?) and start a new run"
    )


def _close(engine: BrowserEngine) -> None:
    engine.close()
