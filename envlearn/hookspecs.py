"""pluggy hook specifications: the only way adapters and task suites reach envlearn.

Every hook takes a ``register`` callback and calls it, rather than returning values (the
pattern of simonw/llm): a plugin can register any number of things, and the signature of
``register`` can grow keyword arguments without breaking plugins.  Built-in adapters are
registered through these same hooks.  The hooks are the functions below marked ``@hookspec``
(``tests/test_docs.py`` finds them that way and holds ``docs/plugins.md`` to them).
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("envlearn")
hookimpl = pluggy.HookimplMarker("envlearn")


@hookspec
def register_adapters(register: Callable[..., None]) -> None:
    """Register adapter factories: ``register(name, factory, *, description="")``.

    :param register: call it once per adapter.  ``factory(**options)`` must return a new object
        implementing :class:`envlearn.channels.Adapter`; ``name`` is what configs and
        ``envlearn check NAME`` use.
    """


@hookspec
def register_task_suites(register: Callable[..., None]) -> None:
    """Register task suites: ``register(name, loader, *, adapter, description="")``.

    :param register: call it once per suite.  ``loader()`` returns a list of
        :class:`envlearn.channels.Task` (each with ``task.adapter == adapter``); it is called
        lazily, only when the suite is used.
    """


@hookspec
def register_commands(register: Callable[..., None]) -> None:
    """Register extra ``envlearn`` subcommands: ``register(name, main, *, help="")``.

    :param register: ``main(argv: list[str]) -> int`` parses its own arguments (argparse) and
        returns an exit code.  Use it for domain tools, e.g. a task importer.
    """
