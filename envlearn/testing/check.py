"""The conformance checks' former single module, kept so ``envlearn.testing.check`` imports work.

The checks now live in :mod:`envlearn.testing.checks`, the adapter under test in
:mod:`envlearn.testing.subject`, results in :mod:`envlearn.testing.results` and the runner
(``check_adapter``, ``envlearn check``) in :mod:`envlearn.testing.runner`.  Import from
:mod:`envlearn.testing` (or ``cli_check`` from :mod:`envlearn.testing.runner`).
"""

from envlearn.testing.checks import CHECKS, HARNESS_MARKERS
from envlearn.testing.results import (
    AdapterCheckError,
    CheckFailed,
    CheckReport,
    CheckResult,
    CheckSkipped,
)
from envlearn.testing.runner import check_adapter, cli_check, run_check
from envlearn.testing.subject import (
    DEFAULT_MAX_OBSERVATION_CHARS,
    MALFORMED_ACTIONS,
    PROBE_ACTIONS,
    Subject,
)

__all__ = [
    "CHECKS",
    "DEFAULT_MAX_OBSERVATION_CHARS",
    "HARNESS_MARKERS",
    "MALFORMED_ACTIONS",
    "PROBE_ACTIONS",
    "AdapterCheckError",
    "CheckFailed",
    "CheckReport",
    "CheckResult",
    "CheckSkipped",
    "Subject",
    "check_adapter",
    "cli_check",
    "run_check",
]
