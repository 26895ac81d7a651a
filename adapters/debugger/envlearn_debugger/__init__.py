"""envlearn-debugger: pdb and gdb sessions on buggy programs, as an envlearn adapter.

This module is the plugin (entry point ``debugger`` in the ``envlearn`` group): it registers the
``debugger`` adapter, the bundled ``debugger`` suite of buggy programs and the
``debugger-import`` command.  Sessions run in the terminal adapter's bubblewrap sandbox
(:mod:`envlearn_terminal.sandbox`).
"""

from __future__ import annotations

from collections.abc import Callable

from envlearn.channels import Task
from envlearn.hookspecs import hookimpl
from envlearn_debugger.adapter import DebuggerAdapter

__all__ = ["DebuggerAdapter"]


def _load_bundled() -> list[Task]:
    from envlearn_debugger.suite import load_bundled_tasks

    return load_bundled_tasks()


def _debugger_import(argv: list[str]) -> int:
    from envlearn_debugger.suite import cli_import

    return cli_import(argv)


@hookimpl
def register_adapters(register: Callable[..., None]) -> None:
    """Register the ``debugger`` adapter."""
    register(
        "debugger",
        DebuggerAdapter,
        description="pdb / gdb sessions on buggy programs in a bubblewrap sandbox (debugger, "
        "program_stdout, program_stderr, test_report)",
    )


@hookimpl
def register_task_suites(register: Callable[..., None]) -> None:
    """Register the bundled ``debugger`` suite (loaded lazily)."""
    register(
        "debugger",
        _load_bundled,
        adapter="debugger",
        description="buggy Python and C programs with failing tests (fix them with pdb / gdb)",
    )


@hookimpl
def register_commands(register: Callable[..., None]) -> None:
    """Register ``envlearn debugger-import``."""
    register(
        "debugger-import",
        _debugger_import,
        help="import a bug benchmark (buggy/ fixed/ tests/ folders, or a folder per bug) "
        "into debugger tasks",
    )
