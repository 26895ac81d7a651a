"""The adapter under test, as the conformance checks drive it.

A :class:`Subject` knows how to build the adapter, which tasks to drive it with, and how to call
it so that any failure becomes a :class:`~envlearn.testing.results.CheckFailed` naming the call.
Episodes go through the one episode loop, :func:`envlearn.episode.play`, on the calling thread:
an adapter is built, driven and closed on one thread, as the rollout engine does.
"""

from __future__ import annotations

import functools
import math
import random
import string
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from envlearn.channels import Adapter, Observation, Part, Task
from envlearn.episode import ChooseAction, EpisodeRecord, play, replay
from envlearn.testing.results import CheckFailed, CheckSkipped
from envlearn.testing.threads import ThreadAffinityError

__all__ = [
    "DEFAULT_MAX_OBSERVATION_CHARS",
    "MALFORMED_ACTIONS",
    "PROBE_ACTIONS",
    "AdapterFactory",
    "Seen",
    "Subject",
    "Tour",
    "describe_observation",
    "expect_observation",
    "expect_score",
    "first_difference",
    "short",
]

AdapterFactory = Callable[[], Adapter]

DEFAULT_MAX_OBSERVATION_CHARS = 16_384
"""Content characters one observation may carry before ``check_output_truncated`` complains."""

PROBE_ACTIONS: tuple[str, ...] = ("help", "1", "hello world")
"""Actions sent to tasks that have no oracle (and to test episodes that need some steps)."""


def _garbage(n: int = 300) -> str:
    pool = string.ascii_letters + string.digits + " .,;:!?-_/+=*#@%^~|<>[]{}()"
    rng = random.Random(1234)
    return "".join(rng.choice(pool) for _ in range(n))


MALFORMED_ACTIONS: dict[str, str] = {
    "empty string": "",
    "whitespace only": " \n\t \n",
    "random garbage": _garbage(),
    "very long text": "x" * 50_000,
    "unicode": "ünïcödé 🤖 ∑∫√ 中文 עברית \u202eevil\u202c \u200b",
    "NUL bytes": "ab\x00cd\x00\x00",
    "control characters": "\x1b[31mred\x1b[0m \x07\x08\r",
    "unclosed quotes and markup": '```bash\necho "unterminated \'<tool_call>{"name": ',
}
"""What a model may well write: each must be answered with an Observation (a notice), not raised."""


# --- messages ------------------------------------------------------------------------------------


def short(text: str, n: int = 60) -> str:
    """A readable excerpt of possibly huge or odd text, for messages."""
    s = text if len(text) <= n else text[:n] + f"…(+{len(text) - n} chars)"
    return repr(s)


def describe_observation(obs: Observation) -> str:
    """One line: every part (kind, channel, excerpt), ``done`` and ``reward``."""
    parts = ", ".join(f"{p.kind} {p.channel}: {short(p.text, 50)}" for p in obs.parts)
    return f"[{parts}] done={obs.done} reward={obs.reward}"


def expect_observation(where: str, value: Any) -> Observation:
    """``value`` if it is a well-formed Observation, else :class:`CheckFailed` saying why."""
    if not isinstance(value, Observation):
        raise CheckFailed(
            f"{where} returned {type(value).__name__}, not an Observation",
            "return envlearn.Observation(parts=[content(channel, text), ...], done=..., "
            "reward=...)",
        )
    if not isinstance(value.parts, list):
        raise CheckFailed(
            f"{where} returned an Observation whose parts is a {type(value.parts).__name__}",
            "parts must be a list of envlearn.content(...) / envlearn.notice(...) parts",
        )
    if not all(isinstance(p, Part) for p in value.parts):
        bad = next(p for p in value.parts if not isinstance(p, Part))
        raise CheckFailed(
            f"{where} returned an Observation whose parts hold a {type(bad).__name__} "
            f"({short(str(bad), 40)}), not Part",
            "build parts with envlearn.content(channel, text) or envlearn.notice(text) "
            "(and don't bypass validation with model_construct)",
        )
    if not isinstance(value.done, bool):
        raise CheckFailed(f"{where} returned done={value.done!r}", "done must be True or False")
    r = value.reward
    if r is not None and (isinstance(r, bool) or not math.isfinite(float(r))):
        raise CheckFailed(f"{where} returned reward={r!r}", "reward must be None or a finite float")
    return value


def expect_score(where: str, value: Any) -> float:
    """``value`` as a float if it is a number in [0, 1], else :class:`CheckFailed`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CheckFailed(
            f"{where} returned {type(value).__name__} {value!r}, not a number",
            "score() returns the episode reward as a float in [0, 1]",
        )
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise CheckFailed(
            f"{where} returned {value!r}, outside [0, 1]",
            "score() must return a reward in [0, 1]: normalise it (e.g. passed / total)",
        )
    return float(value)


# --- comparing episodes --------------------------------------------------------------------------


def _label(record: EpisodeRecord, i: int) -> str:
    if i == 0:
        return f"reset(task {record.task.id!r}, seed={record.seed})"
    return f"step {i} ({short(record.actions[i - 1], 40)})"


def _comparable(obs: Observation) -> tuple[Any, ...]:
    return (tuple((p.channel, p.kind, p.text) for p in obs.parts), obs.done, obs.reward)


def first_difference(
    a: EpisodeRecord,
    b: EpisodeRecord,
    *,
    full: bool,
    names: tuple[str, str] = ("first", "second"),
) -> str | None:
    """Where two records of the same episode part ways (labelled ``names``), or None.

    ``full`` compares every observation's parts; otherwise only ``done`` flags, lengths and
    scores (for adapters that are not deterministic)."""
    width = max(len(n) for n in names) + 1
    for i, (x, y) in enumerate(zip(a.observations, b.observations, strict=False)):
        same = _comparable(x) == _comparable(y) if full else x.done == y.done
        if not same:
            return (
                f"{_label(a, i)}:\n  {names[0] + ':':<{width}} {describe_observation(x)}"
                f"\n  {names[1] + ':':<{width}} {describe_observation(y)}"
            )
    if len(a.turns) != len(b.turns):
        return (
            f"the episode length: {names[0]} {len(a.turns)} steps, {names[1]} {len(b.turns)} steps"
        )
    if a.score != b.score:
        return f"score(): {names[0]} {a.score}, {names[1]} {b.score}"
    return None


# --- the subject ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One observation collected by the tour, with the call that produced it."""

    where: str
    obs: Observation


@dataclass
class Tour:
    """Observations of every task's script and of the malformed actions (see
    :meth:`Subject.tour`), and the failures met on the way."""

    seen: list[Seen] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    episodes: int = 0


def _pick_tasks(tasks: Sequence[Task], n: int) -> list[Task]:
    """Up to ``n`` tasks, those with an oracle first (they exercise the most), order kept."""
    with_oracle = [t for t in tasks if t.oracle]
    without = [t for t in tasks if not t.oracle]
    return (with_oracle + without)[:n]


class _Checked:
    """One adapter as the checks call it in an episode: each call labelled for messages and its
    result type-checked (what :func:`envlearn.episode.play` drives)."""

    def __init__(self, subject: Subject, adapter: Adapter, task: Task) -> None:
        self.subject, self.adapter, self.task = subject, adapter, task
        self.turn = 0

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        self.turn = 0
        return self.subject.reset(self.adapter, task, seed)

    def step(self, action_text: str) -> Observation:
        self.turn += 1
        return self.subject.step(self.adapter, self.task, action_text, self.turn)

    def score(self) -> float:
        return self.subject.score(self.adapter, self.task)


class Subject:
    """The adapter under test: how to build it, the tasks to drive it with, and check settings.

    Build one with :meth:`Subject.build`.  It tracks every adapter a check creates, with the
    thread that built it, so each can be closed on that thread (:meth:`close_all`).
    """

    def __init__(
        self,
        label: str,
        factory: AdapterFactory,
        *,
        adapter_name: str | None = None,
        tasks: Sequence[Task] | None = None,
        max_tasks: int = 3,
        seed: int = 0,
        probe_actions: Sequence[str] = PROBE_ACTIONS,
        max_observation_chars: int = DEFAULT_MAX_OBSERVATION_CHARS,
        leak_timeout_s: float = 5.0,
    ) -> None:
        self.label = label
        self.factory = factory
        self._adapter_name = adapter_name
        self._given_tasks = list(tasks) if tasks is not None else None
        self.max_tasks = max_tasks
        self.seed = seed
        self.probe_actions = tuple(probe_actions)
        self.max_observation_chars = max_observation_chars
        self.leak_timeout_s = leak_timeout_s
        self.last_call = ""
        self._tasks: list[Task] | None = None
        self._task_error: str | None = None
        self._task_source = ""
        self._tour: Tour | None = None
        self._lock = threading.Lock()
        self._made: list[tuple[Adapter, int]] = []

    @classmethod
    def build(
        cls,
        name_or_factory: str | Callable[..., Adapter],
        *,
        tasks: Sequence[Task] | None = None,
        options: dict[str, Any] | None = None,
        **settings: Any,
    ) -> Subject:
        """A subject from a registered adapter name or a factory (a class or a function)."""
        options = dict(options or {})
        if isinstance(name_or_factory, str):
            from envlearn.plugins import make_adapter

            name = name_or_factory
            factory: AdapterFactory = functools.partial(make_adapter, name, **options)
            return cls(name, factory, adapter_name=name, tasks=tasks, **settings)
        if not callable(name_or_factory):
            raise TypeError(
                f"check_adapter takes a registered adapter name or a factory (e.g. the adapter "
                f"class), got {type(name_or_factory).__name__}"
            )
        factory = functools.partial(name_or_factory, **options) if options else name_or_factory
        declared = getattr(name_or_factory, "name", None)
        adapter_name = declared if isinstance(declared, str) and declared else None
        label = adapter_name or getattr(name_or_factory, "__name__", repr(name_or_factory))
        return cls(label, factory, adapter_name=adapter_name, tasks=tasks, **settings)

    # --- adapters -------------------------------------------------------------------------

    def new(self) -> Adapter:
        """A fresh adapter from the factory, tracked so it is closed after the check."""
        adapter: Adapter = self.call("building the adapter (factory())", self.factory)
        with self._lock:
            self._made.append((adapter, threading.get_ident()))
        return adapter

    def close_all(self, *, any_thread: bool = False) -> None:
        """Close the adapters this thread made (all of them with ``any_thread``: the last resort
        after a check hung), ignoring errors (``check_close`` reports those)."""
        me = threading.get_ident()
        with self._lock:
            mine = [a for a, t in self._made if any_thread or t == me]
            self._made = [(a, t) for a, t in self._made if not (any_thread or t == me)]
        for a in mine:
            try:
                a.close()
            except Exception:  # noqa: BLE001 - cleanup; check_close reports close() failures
                pass

    def call(self, where: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call an adapter method; an exception becomes a :class:`CheckFailed` naming the call."""
        self.last_call = where
        try:
            return fn(*args, **kwargs)
        except (CheckFailed, CheckSkipped):
            raise
        except ThreadAffinityError as e:
            raise CheckFailed(
                f"{where} raised ThreadAffinityError: {e}",
                "build the adapter inside the factory call, on the calling thread (no pool of "
                "adapters built elsewhere), and make every call on the thread that built it",
            ) from e
        except Exception as e:
            raise CheckFailed(
                f"{where} raised {type(e).__name__}: {short(str(e), 200)}",
                "model mistakes must come back as observations (a notice part), and "
                "infrastructure faults as EpisodeError; other exceptions are adapter bugs",
            ) from e

    # --- tasks ----------------------------------------------------------------------------

    @property
    def adapter_name(self) -> str:
        """The name tasks refer to (registered name, else the class's ``name``)."""
        if self._adapter_name is None:
            a = self.call("building the adapter (factory())", self.factory)
            try:
                self._adapter_name = str(getattr(a, "name", "") or self.label)
            finally:
                try:
                    a.close()
                except Exception:  # noqa: BLE001 - check_close reports close() failures
                    pass
        return self._adapter_name

    def _load_tasks(self) -> None:
        if self._tasks is not None or self._task_error is not None:
            return
        if self._given_tasks is not None:
            self._tasks = list(self._given_tasks)
            self._task_source = "(given)"
            return
        from envlearn.plugins import get_task_suites

        name = self.adapter_name
        found: list[Task] = []
        names: list[str] = []
        try:
            for suite in get_task_suites().values():
                if suite.adapter == name:
                    names.append(suite.name)
                    found.extend(suite.tasks())
        except Exception as e:
            self._task_error = (
                f"loading the task suites of {name!r} failed: {type(e).__name__}: {e}"
            )
            return
        self._tasks = _pick_tasks(found, self.max_tasks)
        if names:
            self._task_source = f"from suite {', '.join(names)}"

    def task_error(self) -> str | None:
        """Why the tasks could not be loaded, or None."""
        self._load_tasks()
        return self._task_error

    def tasks(self) -> list[Task]:
        """The tasks to drive the adapter with (may be empty; see :meth:`require_tasks`)."""
        self._load_tasks()
        return list(self._tasks or [])

    def require_tasks(self) -> list[Task]:
        """The tasks, or :class:`CheckSkipped` when there are none (``check_tasks`` fails then)."""
        self._load_tasks()
        if self._task_error or not self._tasks:
            raise CheckSkipped("no usable tasks (see check_tasks)")
        return list(self._tasks)

    def describe(self) -> str:
        """One line: how many tasks, from where, which seed."""
        self._load_tasks()
        n = len(self._tasks or [])
        src = f" {self._task_source}" if self._task_source else ""
        return f"{n} task{'s' if n != 1 else ''}{src}, seed {self.seed}"

    def script(self, task: Task) -> list[str]:
        """The actions to play on ``task``: its oracle, else the probe actions (within max_turns)."""
        actions = list(task.oracle) if task.oracle else list(self.probe_actions)
        return actions[: task.max_turns]

    # --- episodes -------------------------------------------------------------------------

    def reset(self, adapter: Adapter, task: Task, seed: int | None) -> Observation:
        """``reset`` with its result type-checked."""
        where = f"reset(task {task.id!r}, seed={seed})"
        return expect_observation(where, self.call(where, adapter.reset, task, seed=seed))

    def step(self, adapter: Adapter, task: Task, action: str, turn: int) -> Observation:
        """``step`` with its result type-checked."""
        where = f"step({short(action, 40)}) on task {task.id!r} turn {turn}"
        return expect_observation(where, self.call(where, adapter.step, action))

    def score(self, adapter: Adapter, task: Task) -> float:
        """``score`` with its result checked to be a number in [0, 1]."""
        where = f"score() on task {task.id!r}"
        return expect_score(where, self.call(where, adapter.score))

    def play(
        self,
        adapter: Adapter,
        task: Task,
        seed: int | None,
        choose_action: ChooseAction,
        *,
        max_turns: int,
        score: bool = True,
    ) -> EpisodeRecord:
        """:func:`envlearn.episode.play` with every adapter call checked and labelled."""
        checked = _Checked(self, adapter, task)
        return play(checked, task, choose_action, seed=seed, max_turns=max_turns, score=score)

    def episode(
        self, adapter: Adapter, task: Task, seed: int | None, actions: Sequence[str]
    ) -> EpisodeRecord:
        """Reset, play ``actions`` until done, score (every call checked), with ``actions`` as
        the turn budget."""
        return self.play(adapter, task, seed, replay(actions), max_turns=len(actions))

    def tour(self) -> Tour:
        """Observations from every task's script and from malformed actions (computed once)."""
        with self._lock:
            if self._tour is not None:
                return self._tour
        tour = Tour()
        tasks = self.require_tasks()
        for task in tasks:
            try:
                record = self.episode(self.new(), task, self.seed, self.script(task))
            except CheckFailed as e:
                tour.errors.append(e.problem)
                continue
            tour.episodes += 1
            labels = [f"reset(task {task.id!r})"] + [
                f"step({short(a, 40)}) on task {task.id!r}" for a in record.actions
            ]
            tour.seen.extend(Seen(w, o) for w, o in zip(labels, record.observations, strict=True))
        task = tasks[0]
        adapter: Adapter | None = None
        obs: Observation | None = None
        for what, action in MALFORMED_ACTIONS.items():
            try:
                if adapter is None or obs is None or obs.done:
                    adapter = adapter or self.new()
                    obs = self.reset(adapter, task, self.seed)
                    tour.episodes += 1
                obs = self.step(adapter, task, action, 1)
                tour.seen.append(Seen(f"step(<{what}>) on task {task.id!r}", obs))
            except CheckFailed as e:
                tour.errors.append(e.problem)
                adapter, obs = None, None
        with self._lock:
            self._tour = tour
        return tour
