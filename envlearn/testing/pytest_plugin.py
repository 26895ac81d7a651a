"""pytest fixtures for adapter authors: ``pytest_plugins = ["envlearn.testing.pytest_plugin"]``.

Fixtures:

* ``tiny_tokenizer`` (session): the tokenizer shipped with envlearn (ChatML, byte-level BPE).
* ``tiny_model``: a fresh randomly initialised tiny Qwen3 (no download).
* ``scripted_policy``: the :class:`~envlearn.testing.ScriptedPolicy` class: replay action texts
  (``scripted_policy(["ls"])``, ``scripted_policy.from_oracle(task)``), ``.play(adapter, task)``,
  ``.as_token_ids(tokenizer)``.
* ``make_adapter``: ``make_adapter("name", **options)`` or ``make_adapter(MyAdapter)`` builds an
  adapter and closes it when the test ends.
* ``thread_bound``: ``thread_bound("name")`` registers ``name_thread_bound``, the adapter wrapped
  in :class:`~envlearn.testing.ThreadBoundAdapter` with the tasks of its suites, and returns
  that name: code that drives adapters by name (rollouts, evaluation, ``check_adapter``) must
  run with it.  Unregistered when the test ends.

For one test item per conformance check, use
``test_conformance = envlearn.testing.adapter_conformance_tests("name")`` in a test module (import
it from ``envlearn.testing``, not from this module).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from envlearn.channels import Adapter, Task
from envlearn.hookspecs import hookimpl
from envlearn.testing.conformance import adapter_conformance_tests
from envlearn.testing.scripted import ScriptedPolicy
from envlearn.testing.threads import ThreadBoundAdapter

__all__ = [
    "adapter_conformance_tests",
    "make_adapter",
    "scripted_policy",
    "thread_bound",
    "tiny_model",
    "tiny_tokenizer",
]


@pytest.fixture(scope="session")
def tiny_tokenizer() -> Any:
    """The tokenizer shipped with envlearn (no download)."""
    from envlearn.models import load_tokenizer

    return load_tokenizer()


@pytest.fixture
def tiny_model() -> Any:
    """A fresh tiny Qwen3 (random weights, seeded, float32, train mode)."""
    from envlearn.models import tiny_model as build

    return build()


@pytest.fixture
def scripted_policy() -> type[ScriptedPolicy]:
    """The ScriptedPolicy class: build one from action texts or from a task's oracle."""
    return ScriptedPolicy


@pytest.fixture
def make_adapter() -> Iterator[Callable[..., Adapter]]:
    """Build adapters by registered name or factory; each is closed when the test ends."""
    made: list[Adapter] = []

    def make(name_or_factory: str | Callable[..., Adapter], **options: Any) -> Adapter:
        if isinstance(name_or_factory, str):
            from envlearn.plugins import make_adapter as by_name

            adapter = by_name(name_or_factory, **options)
        else:
            adapter = name_or_factory(**options)
        made.append(adapter)
        return adapter

    yield make
    for adapter in reversed(made):
        adapter.close()


class _ThreadBoundCopy:
    """A plugin registering a thread-bound copy of an adapter and of its suites' tasks."""

    def __init__(self, name: str, factory: Callable[..., Adapter], loaders: list[Any]) -> None:
        self.name = name
        self.factory = ThreadBoundAdapter.factory(factory)
        self.loaders = loaders

    def tasks(self) -> list[Task]:
        return [
            t.model_copy(update={"adapter": self.name}) for load in self.loaders for t in load()
        ]

    @hookimpl
    def register_adapters(self, register: Callable[..., None]) -> None:
        register(self.name, self.factory, description="thread-bound copy (tests)")

    @hookimpl
    def register_task_suites(self, register: Callable[..., None]) -> None:
        register(self.name, self.tasks, adapter=self.name, description="thread-bound copy")


@pytest.fixture
def thread_bound() -> Iterator[Callable[[str], str]]:
    """Register a thread-bound copy of a registered adapter (and its tasks); returns its name."""
    from envlearn.plugins import get_adapters, get_plugin_manager, get_task_suites

    registered: list[str] = []

    def bind(adapter: str) -> str:
        adapters = get_adapters()
        if adapter not in adapters:
            raise KeyError(f"no adapter {adapter!r} is registered (registered: {sorted(adapters)})")
        name = f"{adapter}_thread_bound"
        loaders = [s.tasks for s in get_task_suites().values() if s.adapter == adapter]
        plugin_name = f"envlearn-testing-{name}"
        get_plugin_manager().register(
            _ThreadBoundCopy(name, adapters[adapter].factory, loaders), name=plugin_name
        )
        registered.append(plugin_name)
        return name

    yield bind
    pm = get_plugin_manager()  # the same one unless the test reset it
    for plugin_name in registered:
        if pm.get_plugin(plugin_name) is not None:
            pm.unregister(name=plugin_name)
