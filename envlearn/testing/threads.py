"""Thread affinity, made testable: an adapter wrapper that refuses calls from a foreign thread.

The rollout engine promises that each episode's adapter is built, reset, stepped, scored and
closed on one thread (so Playwright's sync API, a debugger binding or any thread-bound native
object made in ``reset`` can be used in ``step``).  :class:`ThreadBoundAdapter` holds a harness
to that promise: it records the thread of every call and raises :class:`ThreadAffinityError`
when a call comes from a thread other than the one that built it.

``ThreadBoundAdapter.factory(GuessNumber)`` is a factory to register or to pass to
``check_adapter``; rollouts, oracle rollouts, evaluation and ``envlearn check`` must all run
with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from envlearn.channels import Adapter, ChannelSpec, Observation, Task

__all__ = ["Call", "ThreadAffinityError", "ThreadBoundAdapter", "run_on_new_thread"]

T = TypeVar("T")


class ThreadAffinityError(RuntimeError):
    """An adapter call came from a thread other than the one that built the adapter."""


@dataclass(frozen=True)
class Call:
    """One call seen by a :class:`ThreadBoundAdapter`: the method and the thread it came from."""

    method: str
    thread_id: int
    thread_name: str


class ThreadBoundAdapter:
    """Wraps an adapter; every method call must come from the thread that built the wrapper.

    ``calls`` lists every call (refused ones included) with its thread.  A refused call raises
    :class:`ThreadAffinityError` naming both threads and does not reach the inner adapter.  Build
    the inner adapter on the same thread (``ThreadBoundAdapter.factory(cls)`` does both).
    """

    def __init__(self, inner: Adapter) -> None:
        self.inner = inner
        self.name: str = inner.name
        self.channels: Sequence[ChannelSpec] = inner.channels
        self.deterministic: bool = inner.deterministic
        owner = threading.current_thread()
        self.owner_id: int = owner.ident or threading.get_ident()
        self.owner_name: str = owner.name
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    @classmethod
    def factory(cls, inner_factory: Callable[..., Adapter]) -> Callable[..., ThreadBoundAdapter]:
        """A factory building ``inner_factory(**options)`` wrapped, both on the calling thread."""

        def build(**options: Any) -> ThreadBoundAdapter:
            return cls(inner_factory(**options))

        inner_name = getattr(inner_factory, "name", None)
        if isinstance(inner_name, str):
            build.name = inner_name  # type: ignore[attr-defined]  # read by check_adapter
        build.__name__ = f"thread_bound_{getattr(inner_factory, '__name__', 'adapter')}"
        return build

    def _enter(self, method: str) -> None:
        me = threading.current_thread()
        call = Call(method, me.ident or threading.get_ident(), me.name)
        with self._lock:
            self.calls.append(call)
        if call.thread_id != self.owner_id:
            raise ThreadAffinityError(
                f"{self.name}.{method}() called from thread {call.thread_name!r} "
                f"(id {call.thread_id}), but the adapter was built on thread "
                f"{self.owner_name!r} (id {self.owner_id}): an episode's adapter calls must all "
                "run on the thread that built it"
            )

    @property
    def foreign_calls(self) -> list[Call]:
        """The calls that came from another thread than the builder's (each one raised)."""
        with self._lock:
            return [c for c in self.calls if c.thread_id != self.owner_id]

    def system_prompt(self, task: Task) -> str:
        """The inner adapter's system prompt (from the owner thread only)."""
        self._enter("system_prompt")
        return self.inner.system_prompt(task)

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        """The inner adapter's ``reset`` (from the owner thread only)."""
        self._enter("reset")
        return self.inner.reset(task, seed=seed)

    def step(self, action_text: str) -> Observation:
        """The inner adapter's ``step`` (from the owner thread only)."""
        self._enter("step")
        return self.inner.step(action_text)

    def score(self) -> float:
        """The inner adapter's ``score`` (from the owner thread only)."""
        self._enter("score")
        return self.inner.score()

    def close(self) -> None:
        """The inner adapter's ``close`` (from the owner thread only)."""
        self._enter("close")
        self.inner.close()

    def __getattr__(self, attr: str) -> Any:  # other attributes (e.g. ``closed``) of the inner
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(attr)
        return getattr(inner, attr)


def run_on_new_thread(fn: Callable[[], T], *, name: str, timeout_s: float | None = None) -> T:
    """Run ``fn`` on a new thread of its own and return its result (or raise its exception).

    A ``timeout_s`` that runs out raises :class:`TimeoutError` (the thread is a daemon and is
    left behind)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised on the caller's thread
            box["error"] = e

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise TimeoutError(f"thread {name!r} did not finish within {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]
