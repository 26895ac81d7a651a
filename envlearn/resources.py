"""Run-scoped resources: one expensive thing shared by every episode of a run.

A browser process serving many isolated contexts, a cache of compiled games, a toolchain check:
an adapter asks for it by key, and the first episode that asks creates it::

    from envlearn.resources import run_resource

    def _browser():
        return launch_browser()          # slow: once per run

    class MyAdapter(BaseAdapter):
        def reset(self, task, *, seed=None):
            browser = run_resource("mydomain.browser", _browser, close=lambda b: b.close())
            self.context = browser.new_context()   # cheap: once per episode

Rules:

* created lazily, at most once per run and key, even when many episode threads ask at once
  (creation holds a per-key lock; the others wait for it);
* closed exactly once, in reverse order of creation, when the run ends (``with run_scope():``,
  which the trainer, ``envlearn rollout`` and ``envlearn check`` open) and, for anything still
  open, at interpreter exit;
* never shared across processes: a forked child that asks gets its own, and never closes its
  parent's;
* a failing ``create`` raises in the episode that asked (its rollout is marked ``failed``) and is
  retried by the next one; a failing ``close`` is reported on stderr and the others still close.

Outside any ``run_scope`` (an adapter used directly, a notebook) resources live in the process's
default scope, closed at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["ResourceScope", "current_scope", "run_resource", "run_scope"]

T = TypeVar("T")


class ResourceScope:
    """The resources of one run, by key; :meth:`close` closes each exactly once."""

    def __init__(self, name: str = "run") -> None:
        self.name = name
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._values: dict[str, tuple[Any, Callable[[Any], None] | None]] = {}
        self._order: list[str] = []
        self.closed = False

    def get(self, key: str, create: Callable[[], T], close: Callable[[T], None] | None) -> T:
        if os.getpid() != self.pid:
            raise RuntimeError("a ResourceScope is never shared across processes")
        with self._lock:
            if self.closed:
                raise RuntimeError(
                    f"run resource {key!r} asked for after its run ended; open a new run_scope()"
                )
            if key in self._values:
                return self._values[key][0]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._values:
                    return self._values[key][0]
            value = create()
            with self._lock:
                if self.closed:  # the run ended while we were creating it
                    _close_one(key, value, close)
                    raise RuntimeError(f"run resource {key!r} created after its run ended")
                self._values[key] = (value, close)
                self._order.append(key)
            return value

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._order)

    def close(self) -> None:
        """Close every resource (last created first), each once; idempotent."""
        if os.getpid() != self.pid:
            return  # a forked child never closes its parent's resources
        with self._lock:
            if self.closed:
                return
            self.closed = True
            items = [(k, *self._values[k]) for k in reversed(self._order)]
            self._values.clear()
            self._order.clear()
        for key, value, close in items:
            _close_one(key, value, close)


def _close_one(key: str, value: Any, close: Callable[[Any], None] | None) -> None:
    try:
        if close is not None:
            close(value)
        elif hasattr(value, "close"):
            value.close()
    except Exception as e:  # one failing close must not leave the others open
        print(f"envlearn: closing run resource {key!r} failed: {e!r}", file=sys.stderr)


_stack: list[ResourceScope] = []
_stack_lock = threading.Lock()
_default: ResourceScope | None = None
_all_open: list[ResourceScope] = []


def current_scope() -> ResourceScope:
    """The innermost open run scope of this process (the default scope when none is open)."""
    global _default
    with _stack_lock:
        pid = os.getpid()
        live = [s for s in _stack if s.pid == pid]
        if live:
            return live[-1]
        if _default is None or _default.pid != pid or _default.closed:
            _default = ResourceScope("default")
            _all_open.append(_default)
        return _default


def run_resource(
    key: str, create: Callable[[], T], *, close: Callable[[T], None] | None = None
) -> T:
    """The run's resource ``key``, created by ``create()`` on first use; ``close(value)`` (or
    ``value.close()``) runs once when the run ends.  Use a key namespaced by your plugin
    (``"browser.chromium"``).  Thread-safe."""
    return current_scope().get(key, create, close)


@contextlib.contextmanager
def run_scope(name: str = "run") -> Iterator[ResourceScope]:
    """Open a run: resources asked for inside it are closed when it ends (also on error or
    Ctrl-C).  Scopes nest; episode threads started inside see the innermost one."""
    scope = ResourceScope(name)
    with _stack_lock:
        _stack.append(scope)
        _all_open.append(scope)
    try:
        yield scope
    finally:
        with _stack_lock:
            if scope in _stack:
                _stack.remove(scope)
            if scope in _all_open:
                _all_open.remove(scope)
        scope.close()


@atexit.register
def _close_at_exit() -> None:
    for scope in reversed(list(_all_open)):
        scope.close()
