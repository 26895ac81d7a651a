"""envlearn-browser: web pages in headless Chromium (Playwright on Debian's chromium).

Registers the adapter ``browser`` and the task suites ``browser`` (bundled local sites) and
``miniwob`` (MiniWoB++ pages from the ``miniwob`` package) through envlearn's pluggy hooks
(entry point ``[project.entry-points.envlearn] browser = "envlearn_browser"``).
"""

from __future__ import annotations

from collections.abc import Callable

from envlearn.channels import Task
from envlearn.hookspecs import hookimpl
from envlearn_browser.actions import format_call, parse_reply
from envlearn_browser.adapter import BrowserAdapter

__all__ = ["BrowserAdapter", "format_call", "parse_reply"]


def _site_tasks() -> list[Task]:
    from envlearn_browser.tasks import browser_tasks

    return browser_tasks()


def _miniwob_tasks() -> list[Task]:
    from envlearn_browser.miniwob_suite import miniwob_tasks

    return miniwob_tasks()


@hookimpl
def register_adapters(register: Callable[..., None]) -> None:
    """Register the ``browser`` adapter."""
    register(
        "browser",
        BrowserAdapter,
        description="web pages in headless Chromium: url/title/page tree with element ids",
    )


@hookimpl
def register_task_suites(register: Callable[..., None]) -> None:
    """Register the ``browser`` (bundled sites) and ``miniwob`` suites (loaded lazily)."""
    register(
        "browser",
        _site_tasks,
        adapter="browser",
        description="27 tasks on local sites: forms, search, tables, login, cart, dynamic pages",
    )
    register(
        "miniwob",
        _miniwob_tasks,
        adapter="browser",
        description="MiniWoB++ tasks the action language can express (its own reward)",
    )
