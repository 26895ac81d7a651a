"""The plugin manager: built-in and third-party adapters load through the same hooks.

Environment variables:

* ``ENVLEARN_DISABLE_AUTOLOAD=1``: load no entry-point plugins (built-ins still load); tests use
  it to get a registry with nothing but what they register themselves.
* ``ENVLEARN_PLUGINS=terminal,http``: load only these entry-point plugins (by entry-point name).
* ``ENVLEARN_TRACE_HOOKS=1``: print every hook call and its result to stderr.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pluggy
from pluggy import HookImpl

from envlearn import hookspecs
from envlearn.channels import Adapter, Task
from envlearn.suggest import did_you_mean

ENTRY_POINT_GROUP = "envlearn"
BUILTIN_PLUGINS: tuple[str, ...] = ("envlearn.builtins.toy",)

__all__ = [
    "AdapterInfo",
    "CommandInfo",
    "PluginError",
    "TaskSuiteInfo",
    "get_adapters",
    "get_commands",
    "get_plugin_manager",
    "get_task_suites",
    "load_tasks",
    "make_adapter",
    "reset_plugin_manager",
]

T = TypeVar("T")


class PluginError(LookupError):
    """An adapter or suite is unknown, registered twice, or a plugin failed to load."""


@dataclass(frozen=True)
class AdapterInfo:
    """A registered adapter: its name, factory, one-line description and the plugin behind it."""

    name: str
    factory: Callable[..., Adapter]
    description: str = ""
    plugin: str = ""


@dataclass
class TaskSuiteInfo:
    """A registered task suite; :meth:`tasks` loads it on first use and keeps the result."""

    name: str
    loader: Callable[[], list[Task]]
    adapter: str
    description: str = ""
    plugin: str = ""
    _tasks: list[Task] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def tasks(self) -> list[Task]:
        """The suite's tasks (loaded and validated once per process; a copy of the list)."""
        with self._lock:
            if self._tasks is None:
                self._tasks = self._load()
            return list(self._tasks)

    def _load(self) -> list[Task]:
        tasks = list(self.loader())
        for t in tasks:
            if not isinstance(t, Task):
                raise PluginError(
                    f"task suite {self.name!r} returned {type(t).__name__}, not "
                    "envlearn.channels.Task"
                )
            if t.adapter != self.adapter:
                raise PluginError(
                    f"task {t.id!r} of suite {self.name!r} names adapter {t.adapter!r}, but "
                    f"the suite was registered for {self.adapter!r}"
                )
        ids = [t.id for t in tasks]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise PluginError(f"task suite {self.name!r} has duplicate task ids: {sorted(dup)}")
        return tasks


@dataclass(frozen=True)
class CommandInfo:
    """A registered ``envlearn NAME`` subcommand."""

    name: str
    main: Callable[[list[str]], int]
    help: str = ""
    plugin: str = ""


# --- the manager and the registry built from it ----------------------------------------------

_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_registry: dict[str, dict[str, Any]] = {}
"""What the hooks registered, by hook ("adapters", "suites", "commands"): built once per
process, on first use; forgotten when a plugin is added or removed, or the manager reset."""


class _PluginManager(pluggy.PluginManager):
    """pluggy's manager, forgetting the registry built from the hooks whenever a plugin is
    registered or unregistered (tests and tools do that in-process)."""

    def register(self, plugin: object, name: str | None = None) -> str | None:
        with _lock:
            _registry.clear()
            return super().register(plugin, name)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        with _lock:
            _registry.clear()
            return super().unregister(plugin, name)


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _build_plugin_manager() -> pluggy.PluginManager:
    pm = _PluginManager("envlearn")
    pm.add_hookspecs(hookspecs)
    for modname in BUILTIN_PLUGINS:
        mod = __import__(modname, fromlist=["_"])
        pm.register(mod, name=modname)
    if not _truthy("ENVLEARN_DISABLE_AUTOLOAD"):
        only = {s.strip() for s in os.environ.get("ENVLEARN_PLUGINS", "").split(",") if s.strip()}
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if only and ep.name not in only:
                continue
            if pm.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
            except Exception as e:  # one broken plugin must not hide the others
                print(
                    f"envlearn: plugin {ep.name!r} ({ep.value}) failed to load: {e!r}",
                    file=sys.stderr,
                )
                continue
            pm.register(plugin, name=ep.name)
    if _truthy("ENVLEARN_TRACE_HOOKS"):
        pm.trace.root.setwriter(lambda s: print(s, end="", file=sys.stderr))
        pm.enable_tracing()
    return pm


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use."""
    global _pm
    with _lock:
        if _pm is None:
            _pm = _build_plugin_manager()
        return _pm


def reset_plugin_manager() -> None:
    """Forget the manager and everything registered through it (tests; after installing a
    plugin in-process): the next use rebuilds both."""
    global _pm
    with _lock:
        _pm = None
        _registry.clear()


def _call_impl(
    pm: pluggy.PluginManager, hook_name: str, impl: HookImpl, register: Callable[..., None]
) -> None:
    """Call one plugin's hook implementation through pluggy (so ENVLEARN_TRACE_HOOKS sees it)."""
    others = [p for p in pm.get_plugins() if p is not impl.plugin]
    pm.subset_hook_caller(hook_name, remove_plugins=others)(register=register)


def _registered(kind: str, collect: Callable[[pluggy.PluginManager], dict[str, T]]) -> dict[str, T]:
    """``collect(pm)`` once per process (until a plugin change); a copy of the mapping."""
    with _lock:
        pm = get_plugin_manager()
        if kind not in _registry:
            _registry[kind] = collect(pm)
        return dict(_registry[kind])


def _collect_adapters(pm: pluggy.PluginManager) -> dict[str, AdapterInfo]:
    found: dict[str, AdapterInfo] = {}
    for impl in pm.hook.register_adapters.get_hookimpls():

        def register(
            name: str,
            factory: Callable[..., Adapter],
            *,
            description: str = "",
            _p: HookImpl = impl,
        ) -> None:
            if name in found:
                raise PluginError(
                    f"adapter {name!r} registered twice (by {found[name].plugin!r} and "
                    f"{_p.plugin_name!r}); rename one or restrict plugins with ENVLEARN_PLUGINS"
                )
            found[name] = AdapterInfo(name, factory, description, _p.plugin_name)

        _call_impl(pm, "register_adapters", impl, register)
    return found


def _collect_suites(pm: pluggy.PluginManager) -> dict[str, TaskSuiteInfo]:
    found: dict[str, TaskSuiteInfo] = {}
    for impl in pm.hook.register_task_suites.get_hookimpls():

        def register(
            name: str,
            loader: Callable[[], list[Task]],
            *,
            adapter: str,
            description: str = "",
            _p: HookImpl = impl,
        ) -> None:
            if name in found:
                raise PluginError(
                    f"task suite {name!r} registered twice (by {found[name].plugin!r} and "
                    f"{_p.plugin_name!r})"
                )
            found[name] = TaskSuiteInfo(name, loader, adapter, description, _p.plugin_name)

        _call_impl(pm, "register_task_suites", impl, register)
    return found


def _collect_commands(pm: pluggy.PluginManager) -> dict[str, CommandInfo]:
    found: dict[str, CommandInfo] = {}
    for impl in pm.hook.register_commands.get_hookimpls():

        def register(
            name: str,
            main: Callable[[list[str]], int],
            *,
            help: str = "",
            _p: HookImpl = impl,
        ) -> None:
            if name in found:
                raise PluginError(f"command {name!r} registered twice")
            found[name] = CommandInfo(name, main, help, _p.plugin_name)

        _call_impl(pm, "register_commands", impl, register)
    return found


# --- the public registry -----------------------------------------------------------------------


def get_adapters() -> dict[str, AdapterInfo]:
    """Every registered adapter by name (the hooks run once per process)."""
    return _registered("adapters", _collect_adapters)


def get_task_suites() -> dict[str, TaskSuiteInfo]:
    """Every registered task suite by name (the hooks run once per process; each suite loads
    its tasks once)."""
    return _registered("suites", _collect_suites)


def get_commands() -> dict[str, CommandInfo]:
    """Extra CLI subcommands registered by plugins."""
    return _registered("commands", _collect_commands)


def make_adapter(name: str, **options: Any) -> Adapter:
    """Build a new adapter instance by registered name (on the calling thread)."""
    adapters = get_adapters()
    if name not in adapters:
        known = ", ".join(sorted(adapters)) or "none"
        raise PluginError(
            f"unknown adapter {name!r}{did_you_mean(name, adapters)} (registered: {known}); "
            "install its plugin "
            f"(e.g. pip install envlearn-{name}) or check ENVLEARN_PLUGINS"
        )
    return adapters[name].factory(**options)


def load_tasks(suite: str, split: str | None = None) -> list[Task]:
    """The tasks of a registered suite, optionally only one split (``train`` | ``heldout``)."""
    suites = get_task_suites()
    if suite not in suites:
        known = ", ".join(sorted(suites)) or "none"
        hint = did_you_mean(suite, suites)
        raise PluginError(f"unknown task suite {suite!r}{hint} (registered: {known})")
    if split is not None and split not in ("train", "heldout"):
        raise PluginError(f"split must be 'train' or 'heldout', got {split!r}")
    tasks = suites[suite].tasks()
    if split is not None:
        tasks = [t for t in tasks if t.split == split]
    return tasks
