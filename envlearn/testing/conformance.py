"""Turn the conformance checks into pytest test items: one test per check, per adapter.

Lives outside ``pytest_plugin`` on purpose: a test module that imported the plugin module before
pytest registered it (through ``pytest_plugins``) would get an "already imported" warning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from envlearn.channels import Adapter, Task
from envlearn.testing.checks import CHECKS
from envlearn.testing.runner import run_check
from envlearn.testing.subject import Subject

__all__ = ["adapter_conformance_tests", "run_check_for_pytest"]


def run_check_for_pytest(name: str, subject: Subject, *, timeout_s: float | None = 120.0) -> None:
    """Run one check: pass silently, ``pytest.skip`` with its reason, or ``pytest.fail`` with
    what to fix."""
    import pytest

    result = run_check(name, subject, timeout_s=timeout_s)
    if result.status == "skipped":
        pytest.skip(f"{name}: {result.message}")
    if result.status == "failed":
        fix = f"\nFix: {result.fix}" if result.fix else ""
        pytest.fail(f"{name}: {result.message}{fix}", pytrace=False)


def adapter_conformance_tests(
    name_or_factory: str | Callable[..., Adapter],
    *,
    tasks: Sequence[Task] | None = None,
    only: Sequence[str] | None = None,
    timeout_s: float | None = 120.0,
    **settings: Any,
) -> Callable[[str], None]:
    """A test function parametrized over the checks: assign it to a ``test_*`` name.

    ``test_conformance = adapter_conformance_tests("myadapter")`` gives one test item per check
    (``test_conformance[check_oracle]``, …).  ``tasks``, ``options`` and the other settings of
    :func:`envlearn.testing.check_adapter` are accepted.  The adapter and its tasks are resolved
    when the first item runs, so collecting never builds an adapter.
    """
    import pytest

    names = [n if n.startswith("check_") else f"check_{n}" for n in (only or list(CHECKS))]
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check(s) {unknown}; known: {', '.join(CHECKS)}")
    cache: dict[str, Subject] = {}

    def subject() -> Subject:
        if "s" not in cache:
            cache["s"] = Subject.build(name_or_factory, tasks=tasks, **settings)
        return cache["s"]

    @pytest.mark.parametrize("check_name", names)
    def test_conformance(check_name: str) -> None:
        run_check_for_pytest(check_name, subject(), timeout_s=timeout_s)

    return test_conformance
