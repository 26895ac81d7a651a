"""What the conformance checks report: a failure with its fix, a skip with its reason, and the
report of every check run on one adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "AdapterCheckError",
    "CheckFailed",
    "CheckReport",
    "CheckResult",
    "CheckSkipped",
    "Status",
]

Status = Literal["passed", "failed", "skipped"]


class AdapterCheckError(Exception):
    """An adapter broke one or more conformance checks; the message says what to fix."""


class CheckFailed(AdapterCheckError):
    """One check failed: ``problem`` says what went wrong, ``fix`` how to repair the adapter."""

    def __init__(self, problem: str, fix: str = "", *, check: str = "") -> None:
        self.problem = problem
        self.fix = fix
        self.check = check
        super().__init__(problem + (f"\nFix: {fix}" if fix else ""))


class CheckSkipped(Exception):
    """A check could not apply to this adapter (e.g. no task has an oracle); says why."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: its name, status, message and (on failure) what to fix."""

    name: str
    status: Status
    message: str
    fix: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True unless the check failed (a skip is not a failure)."""
        return self.status != "failed"


@dataclass
class CheckReport:
    """Every check run on one adapter, in order; ``raise_for_failures()`` turns failures into one
    :class:`AdapterCheckError`."""

    adapter: str
    results: list[CheckResult] = field(default_factory=list)
    description: str = ""

    @property
    def passed(self) -> list[CheckResult]:
        """The checks that passed."""
        return [r for r in self.results if r.status == "passed"]

    @property
    def failed(self) -> list[CheckResult]:
        """The checks that failed."""
        return [r for r in self.results if r.status == "failed"]

    @property
    def skipped(self) -> list[CheckResult]:
        """The checks that did not apply (each says why)."""
        return [r for r in self.results if r.status == "skipped"]

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.failed

    def __getitem__(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"no check {name!r} in this report (ran: {[r.name for r in self.results]})")

    def __contains__(self, name: object) -> bool:
        return any(r.name == name for r in self.results)

    def raise_for_failures(self) -> None:
        """Raise :class:`AdapterCheckError` listing every failed check, or return quietly."""
        if self.failed:
            body = "\n".join(
                f"- {r.name}: {r.message}" + (f"\n  Fix: {r.fix}" if r.fix else "")
                for r in self.failed
            )
            raise AdapterCheckError(
                f"adapter {self.adapter!r} failed {len(self.failed)} of {len(self.results)} "
                f"conformance checks:\n{body}"
            )

    def format(self, *, symbols: tuple[str, str, str] = ("✓", "✗", "-")) -> str:
        """The report as text: one line per check, the fix indented under each failure."""
        ok_s, bad_s, skip_s = symbols
        width = max((len(r.name) for r in self.results), default=0)
        head = f"envlearn check {self.adapter}"
        lines = [head + (f": {self.description}" if self.description else "")]
        for r in self.results:
            if r.status == "passed":
                lines.append(f"  {ok_s} {r.name:<{width}}  {r.message}")
            elif r.status == "skipped":
                lines.append(f"  {skip_s} {r.name:<{width}}  skipped: {r.message}")
            else:
                lines.append(f"  {bad_s} {r.name}")
                lines.extend(f"      {line}" for line in r.message.splitlines())
                if r.fix:
                    lines.append(f"      fix: {r.fix}")
        total = sum(r.seconds for r in self.results)
        lines.append(
            f"{len(self.passed)} passed, {len(self.failed)} failed, {len(self.skipped)} skipped "
            f"in {total:.2f} s"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()
