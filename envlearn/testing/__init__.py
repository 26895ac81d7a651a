"""Tools for adapter authors: conformance checks, a scripted policy, pytest fixtures, a template.

* :func:`check_adapter` runs every ``check_*`` on an adapter and returns a :class:`CheckReport`
  (``envlearn check NAME`` on the command line); each ``check_*`` also runs alone.  The checks
  live in :mod:`~envlearn.testing.checks`, the adapter under test in
  :mod:`~envlearn.testing.subject`, their results in :mod:`~envlearn.testing.results` and the
  runner in :mod:`~envlearn.testing.runner`.
* :class:`ScriptedPolicy` replays action texts (a task's oracle) in place of a model, through
  the one episode loop :func:`envlearn.episode.play`.
* :class:`ThreadBoundAdapter` wraps an adapter and raises :class:`ThreadAffinityError` on a call
  from a thread other than the one that built it: rollouts, evaluation and checks must pass
  with it.
* :func:`adapter_conformance_tests` makes one pytest item per check; the fixtures live in
  ``envlearn.testing.pytest_plugin`` (``pytest_plugins = ["envlearn.testing.pytest_plugin"]``).
* ``envlearn new-adapter NAME`` starts a plugin from the shipped template.
"""

from envlearn.testing.checks import (
    CHECKS,
    HARNESS_MARKERS,
    check_channels_declared,
    check_close,
    check_determinism,
    check_interface,
    check_malformed_actions,
    check_notices_marked,
    check_observation_types,
    check_oracle,
    check_output_truncated,
    check_parallel_isolation,
    check_score_range,
    check_step_after_done,
    check_system_prompt,
    check_tasks,
    check_thread_affinity,
)
from envlearn.testing.conformance import adapter_conformance_tests
from envlearn.testing.results import (
    AdapterCheckError,
    CheckFailed,
    CheckReport,
    CheckResult,
    CheckSkipped,
)
from envlearn.testing.runner import check_adapter, run_check
from envlearn.testing.scripted import Episode, ScriptedPolicy, ScriptedTokenPolicy
from envlearn.testing.subject import (
    DEFAULT_MAX_OBSERVATION_CHARS,
    MALFORMED_ACTIONS,
    PROBE_ACTIONS,
    Subject,
)
from envlearn.testing.threads import ThreadAffinityError, ThreadBoundAdapter

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
    "Episode",
    "ScriptedPolicy",
    "ScriptedTokenPolicy",
    "Subject",
    "ThreadAffinityError",
    "ThreadBoundAdapter",
    "adapter_conformance_tests",
    "check_adapter",
    "check_channels_declared",
    "check_close",
    "check_determinism",
    "check_interface",
    "check_malformed_actions",
    "check_notices_marked",
    "check_observation_types",
    "check_oracle",
    "check_output_truncated",
    "check_parallel_isolation",
    "check_score_range",
    "check_step_after_done",
    "check_system_prompt",
    "check_tasks",
    "check_thread_affinity",
    "run_check",
]
