"""Running the conformance checks: one check with a deadline (:func:`run_check`), all of them
(:func:`check_adapter`), and ``envlearn check NAME`` (:func:`cli_check`).

Each check runs on a worker thread of its own with a deadline, so a hanging adapter fails a
check instead of hanging the run; the adapters a check built are closed on that same thread
when it ends.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from envlearn.channels import Adapter, Task
from envlearn.resources import run_scope
from envlearn.suggest import did_you_mean
from envlearn.testing.checks import CHECKS
from envlearn.testing.results import CheckFailed, CheckReport, CheckResult, CheckSkipped
from envlearn.testing.subject import (
    DEFAULT_MAX_OBSERVATION_CHARS,
    PROBE_ACTIONS,
    Subject,
    short,
)

__all__ = ["check_adapter", "cli_check", "run_check", "select_checks"]

_NEEDS_INTERFACE = "check_interface failed: the adapter can't be built or lacks the interface"


def run_check(name: str, subject: Subject, *, timeout_s: float | None = 120.0) -> CheckResult:
    """Run one registered check on ``subject``: never raises, closes what the check built.

    With ``timeout_s`` the check runs on a new thread and fails at the deadline; with ``None``
    it runs on the calling thread."""
    if name not in CHECKS:
        raise ValueError(f"unknown check {name!r}; known: {', '.join(CHECKS)}")
    fn = CHECKS[name]
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["message"] = fn(subject)
        except BaseException as e:  # noqa: BLE001 - everything becomes a result
            box["error"] = e
        finally:
            subject.close_all()  # the adapters this thread built, on this thread

    t0 = time.perf_counter()
    if timeout_s is None:
        target()
    else:
        worker = threading.Thread(target=target, name=f"envlearn-{name}", daemon=True)
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            subject.close_all(any_thread=True)  # the last resort: that thread is stuck
            return CheckResult(
                name,
                "failed",
                f"did not finish within {timeout_s:g} s; last adapter call: "
                f"{subject.last_call or 'none'}",
                "a call hangs: bound every wait in the adapter (subprocess timeouts, socket "
                "timeouts) and answer with a notice('... timed out') when it runs out",
                time.perf_counter() - t0,
            )
    seconds = time.perf_counter() - t0
    err = box.get("error")
    if err is None:
        return CheckResult(name, "passed", str(box.get("message", "")), "", seconds)
    if isinstance(err, CheckSkipped):
        return CheckResult(name, "skipped", str(err), "", seconds)
    if isinstance(err, CheckFailed):
        return CheckResult(name, "failed", err.problem, err.fix, seconds)
    if isinstance(err, Exception):
        return CheckResult(
            name,
            "failed",
            f"unexpected {type(err).__name__} while checking: {short(str(err), 300)}",
            "this may be a bug in envlearn.testing: please report it with the adapter",
            seconds,
        )
    raise err  # KeyboardInterrupt, SystemExit


def check_adapter(
    name_or_factory: str | Callable[..., Adapter],
    *,
    tasks: Sequence[Task] | None = None,
    max_tasks: int = 3,
    seed: int = 0,
    only: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    options: dict[str, Any] | None = None,
    timeout_s: float | None = 120.0,
    max_observation_chars: int = DEFAULT_MAX_OBSERVATION_CHARS,
    leak_timeout_s: float = 5.0,
    probe_actions: Sequence[str] = PROBE_ACTIONS,
) -> CheckReport:
    """Run every conformance check (or ``only`` some) and return a report; raises nothing.

    :param name_or_factory: a registered adapter name, or a factory (e.g. the class).
    :param tasks: tasks to drive it with; default: up to ``max_tasks`` of the tasks of suites
        registered for the adapter, those with an oracle first.
    :param options: keyword arguments for the factory.
    :param timeout_s: per-check deadline (None: no deadline, run in this thread).
    """
    selected = select_checks(only, skip)
    subject = Subject.build(
        name_or_factory,
        tasks=tasks,
        options=options,
        max_tasks=max_tasks,
        seed=seed,
        max_observation_chars=max_observation_chars,
        leak_timeout_s=leak_timeout_s,
        probe_actions=probe_actions,
    )
    report = CheckReport(adapter=subject.label)
    interface_ok = True
    # one run: run-scoped resources (a browser, a game cache) are shared by the checks and
    # closed once at the end
    with run_scope(f"envlearn check {subject.label}"):
        for name in selected:
            if name != "check_interface" and not interface_ok:
                report.results.append(CheckResult(name, "skipped", _NEEDS_INTERFACE))
                continue
            result = run_check(name, subject, timeout_s=timeout_s)
            report.results.append(result)
            if name == "check_interface" and result.status == "failed":
                interface_ok = False
    if interface_ok:
        try:
            report.description = subject.describe()
        except Exception:  # noqa: BLE001 - the description is cosmetic
            report.description = ""
    report.adapter = subject.label
    return report


def select_checks(only: Iterable[str] | None, skip: Iterable[str] = ()) -> list[str]:
    """The names of the checks to run, in registry order (the ``check_`` prefix is optional)."""

    def norm(n: str) -> str:
        n = n.strip()
        return n if n.startswith("check_") else f"check_{n}"

    wanted = [norm(n) for n in only] if only is not None else list(CHECKS)
    dropped = {norm(n) for n in skip}
    unknown = [n for n in [*wanted, *dropped] if n not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check(s) {unknown}; known: {', '.join(CHECKS)}")
    return [n for n in CHECKS if n in wanted and n not in dropped]


# --------------------------------------------------------------------------------------------
# command line


def _symbols() -> tuple[str, str, str]:
    enc = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✓✗".encode(enc)
    except (UnicodeEncodeError, LookupError):
        return ("OK  ", "FAIL", "SKIP")
    return ("✓", "✗", "-")


def cli_check(argv: list[str]) -> int:
    """``envlearn check NAME``: run the conformance checks on a registered adapter."""
    import yaml

    p = argparse.ArgumentParser(
        prog="envlearn check",
        description="Run the conformance checks on a registered adapter, with the tasks of the "
        "suites registered for it. Exit status 1 if any check fails.",
    )
    p.add_argument("adapter", nargs="?", help="registered adapter name (see `envlearn adapters`)")
    p.add_argument("--tasks", type=int, default=3, metavar="N", help="tasks to try (default 3)")
    p.add_argument(
        "--only",
        action="append",
        default=None,
        metavar="CHECK",
        help="run only this check (repeat, or comma-separate; the check_ prefix is optional)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed passed to reset() (default 0)")
    p.add_argument(
        "--timeout", type=float, default=120.0, metavar="S", help="per-check deadline (120 s)"
    )
    p.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option for the adapter's factory (VALUE parsed as YAML); repeatable",
    )
    p.add_argument("--list", action="store_true", help="list the checks and exit")
    args = p.parse_args(argv)

    if args.list:
        for name, fn in CHECKS.items():
            doc = " ".join((fn.__doc__ or "").split())
            print(f"{name:<26} {doc}")
        return 0
    if not args.adapter:
        p.error("name the adapter to check, e.g. `envlearn check toy` (see `envlearn adapters`)")
    if args.tasks < 1:
        p.error(f"--tasks must be at least 1, got {args.tasks}")
    only = None
    if args.only:
        only = [n for chunk in args.only for n in chunk.split(",") if n.strip()]
    options: dict[str, Any] = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            p.error(f"--option takes KEY=VALUE, got {item!r}")
        options[key.strip()] = yaml.safe_load(value)
    try:
        select_checks(only, ())
    except ValueError as e:
        p.error(str(e))

    from envlearn.plugins import PluginError, get_adapters

    try:
        known = get_adapters()
    except PluginError as e:
        print(f"envlearn check: {e}", file=sys.stderr)
        return 2
    if args.adapter not in known:
        names = ", ".join(sorted(known)) or "none"
        print(
            f"envlearn check: unknown adapter {args.adapter!r}{did_you_mean(args.adapter, known)} "
            f"(registered: {names}); install "
            "its plugin (pip install -e PATH) or check ENVLEARN_PLUGINS",
            file=sys.stderr,
        )
        return 2
    report = check_adapter(
        args.adapter,
        max_tasks=args.tasks,
        seed=args.seed,
        only=only,
        options=options,
        timeout_s=args.timeout,
    )
    print(report.format(symbols=_symbols()))
    return 0 if report.ok else 1
