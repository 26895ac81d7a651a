"""One Chromium for the whole browser test session (a run scope), closed at the end with a check
that no process it started is left, zombies included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from envlearn.resources import run_scope


def _chromium_left(pids: set[int]) -> list[int]:
    return sorted(p for p in pids if Path(f"/proc/{p}").exists())


@pytest.fixture(scope="session", autouse=True)
def browser_run() -> Iterator[None]:
    """The session's run scope: the first test that needs a browser launches it; it closes at
    session end and every process of it must be gone from the process table."""
    from envlearn_browser.engine import RESOURCE_KEY

    with run_scope("browser-tests") as scope:
        yield
        engines = [
            scope.get(k, lambda: None, None) for k in scope.keys() if k.startswith(RESOURCE_KEY)
        ]
    pids = {p for e in engines if e is not None for p in e.pids}
    left = _chromium_left(pids)
    assert not left, f"browser processes left after the test session: {left}"
