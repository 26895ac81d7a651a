"""envlearn-terminal: a persistent bash shell in a bubblewrap sandbox, as an envlearn adapter.

This module is the plugin (entry point ``terminal`` in the ``envlearn`` group): it registers
the ``terminal`` adapter, the bundled ``terminal`` task suite and the ``terminal-import``
command.  The suite's loader (:mod:`envlearn_terminal.suite`) and the Terminal-Bench importer
(:mod:`envlearn_terminal.tbench`) are imported only when used.
"""

from __future__ import annotations

from collections.abc import Callable

from envlearn.channels import Task
from envlearn.hookspecs import hookimpl
from envlearn_terminal.adapter import TerminalAdapter
from envlearn_terminal.sandbox import Limits, SandboxUnavailable, UnsandboxedWarning

__all__ = ["Limits", "SandboxUnavailable", "TerminalAdapter", "UnsandboxedWarning"]


def _load_bundled_tasks() -> list[Task]:
    from envlearn_terminal.suite import load_bundled_tasks

    return load_bundled_tasks()


def _terminal_import(argv: list[str]) -> int:
    from envlearn_terminal.tbench import cli_import

    return cli_import(argv)


@hookimpl
def register_adapters(register: Callable[..., None]) -> None:
    """Register the ``terminal`` adapter."""
    register(
        "terminal",
        TerminalAdapter,
        description="persistent bash shell in a bubblewrap sandbox (stdout/stderr/exit_code)",
    )


@hookimpl
def register_task_suites(register: Callable[..., None]) -> None:
    """Register the bundled ``terminal`` task suite (loaded lazily)."""
    register(
        "terminal",
        _load_bundled_tasks,
        adapter="terminal",
        description="bundled shell tasks (files, text, archives, git, python, processes)",
    )
    __import__("envlearn_terminal.families", fromlist=["_"]).register_suites(register)


@hookimpl
def register_commands(register: Callable[..., None]) -> None:
    """Register ``envlearn terminal-import``."""
    register(
        "terminal-import",
        _terminal_import,
        help="import Terminal-Bench-style task directories into a terminal task suite",
    )
