"""The conformance checks: small ``check_*`` functions, each holding an adapter to one promise
of the :class:`envlearn.channels.Adapter` protocol and saying what to fix when it breaks.

Each is registered in :data:`CHECKS` (the order ``check_adapter`` runs them) and also runs alone
on a registered name or a factory: ``check_close("toy")`` returns a one-line summary or raises
:class:`CheckFailed` / :class:`CheckSkipped`.  A check gets a
:class:`~envlearn.testing.subject.Subject` and drives its adapters on the check's own thread
(``check_parallel_isolation`` and ``check_thread_affinity`` start threads of their own and build
each adapter on the thread that drives it).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from envlearn.channels import Adapter, ChannelSpec, EpisodeError, Observation, Task
from envlearn.episode import EpisodeRecord
from envlearn.resources import run_scope
from envlearn.testing._proc import descendants, proc_available
from envlearn.testing.results import CheckFailed, CheckSkipped
from envlearn.testing.subject import (
    MALFORMED_ACTIONS,
    Subject,
    describe_observation,
    expect_observation,
    first_difference,
    short,
)
from envlearn.testing.threads import ThreadAffinityError, ThreadBoundAdapter, run_on_new_thread

__all__ = [
    "CHECKS",
    "HARNESS_MARKERS",
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
]

HARNESS_MARKERS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE | re.MULTILINE), what)
    for p, what in [
        (r"(?:[\[(<]|\.\.\.)\s*(?:output\s+)?truncated\b", "a truncation marker"),
        (
            r"\btruncated\s+(?:\d[\d,]*\s+)?(?:chars|characters|bytes|lines|tokens)\b",
            "a truncation marker",
        ),
        (
            r"^\W{0,3}(?:the\s+)?(?:command|step|action|episode|request|execution)\s+timed\s+out\b",
            "a timeout notice",
        ),
        (r"^\W{0,3}timed\s+out\b", "a timeout notice"),
        (r"^\W{0,3}(?:please\s+)?(?:reply|respond|answer)\s+with\b", "a format hint"),
        (
            r"^\W{0,3}(?:invalid|unrecognized|malformed)\s+(?:action|reply|response)\b",
            "a format hint",
        ),
        (r"^\W{0,3}(?:expected|use)\s+(?:the\s+)?format\b", "a format hint"),
        (r"^\W{0,3}format\s*(?:hint|error)?\s*:", "a format hint"),
        (r"\byour\s+(?:reply|response|action)\s+(?:must|should)\b", "a format hint"),
        (r"\bso\s+nothing\s+ran\b", "a format hint"),
        (r"^\W{0,3}put\s+your\s+action\s+in\b", "a format hint"),
    ]
)
"""Text the harness adds, not the environment: emitted as ``content`` it would be trained by L_env."""


# --------------------------------------------------------------------------------------------
# registry of checks

CHECKS: dict[str, Callable[[Subject], str]] = {}
"""Every check by name, in the order ``check_adapter`` runs them."""


def _adapter_check(fn: Callable[[Subject], str]) -> Callable[..., str]:
    """Register ``fn(subject)`` and return a version runnable alone on a name or a factory."""
    CHECKS[fn.__name__] = fn

    def run_alone(
        name_or_factory: str | Callable[..., Adapter],
        *,
        tasks: Sequence[Task] | None = None,
        options: dict[str, Any] | None = None,
        **settings: Any,
    ) -> str:
        subject = Subject.build(name_or_factory, tasks=tasks, options=options, **settings)
        try:
            return fn(subject)
        except CheckFailed as e:
            e.check = fn.__name__
            raise
        finally:
            subject.close_all()

    run_alone.__name__ = fn.__name__
    run_alone.__qualname__ = fn.__qualname__
    run_alone.__doc__ = fn.__doc__
    run_alone.__module__ = fn.__module__
    return run_alone


# --------------------------------------------------------------------------------------------
# the checks

_INTERFACE = ("system_prompt", "reset", "step", "score", "close")


@_adapter_check
def check_interface(s: Subject) -> str:
    """The factory builds a new adapter each call, with ``name``, ``channels``, ``deterministic``
    and every method of the Adapter protocol."""
    a = s.new()
    missing = [m for m in _INTERFACE if not callable(getattr(a, m, None))]
    missing += [attr for attr in ("name", "channels", "deterministic") if not hasattr(a, attr)]
    if missing:
        raise CheckFailed(
            f"{type(a).__name__} lacks {', '.join(missing)}",
            "implement system_prompt, reset, step, score and close (or subclass "
            "envlearn.BaseAdapter) and set the class attributes name, channels and deterministic",
        )
    if not isinstance(a.name, str) or not a.name:
        raise CheckFailed(
            f"name is {a.name!r}", "set a class attribute name = 'your_adapter' (non-empty str)"
        )
    if not isinstance(a.deterministic, bool):
        raise CheckFailed(
            f"deterministic is {a.deterministic!r}",
            "set deterministic = True only if the same task, seed and actions always give the "
            "same observations; otherwise False",
        )
    specs = list(a.channels) if isinstance(a.channels, Sequence) else None
    if not specs:
        raise CheckFailed(
            f"channels is {a.channels!r}: an adapter must declare the channels it emits",
            "channels = (ChannelSpec(name='stdout'), ChannelSpec(name='notice', kind='notice'))",
        )
    bad = [c for c in specs if not isinstance(c, ChannelSpec)]
    if bad:
        raise CheckFailed(
            f"channels holds {type(bad[0]).__name__} {bad[0]!r}, not ChannelSpec",
            "declare each channel as envlearn.ChannelSpec(name=..., kind='content'|'notice')",
        )
    names = [c.name for c in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise CheckFailed(
            f"channels declares {dup} more than once", "declare each channel name once"
        )
    b = s.new()
    if b is a:
        raise CheckFailed(
            "the factory returned the same object twice",
            "factory() must build a new adapter on every call: instances are never shared",
        )
    declared = ", ".join(f"{c.name} ({c.kind})" for c in specs)
    return f"name {a.name!r}, channels {declared}, deterministic={a.deterministic}"


@_adapter_check
def check_tasks(s: Subject) -> str:
    """There are tasks to check with: registered for this adapter (or given), with unique ids."""
    error = s.task_error()
    if error:
        raise CheckFailed(error, "fix the suite loader registered by register_task_suites")
    tasks = s.tasks()
    if not tasks:
        raise CheckFailed(
            f"no tasks for adapter {s.adapter_name!r}",
            "register a suite: register(name, loader, adapter="
            f"{s.adapter_name!r}) in register_task_suites, or pass tasks=[...] to check_adapter",
        )
    for t in tasks:
        if not isinstance(t, Task):
            raise CheckFailed(
                f"tasks holds a {type(t).__name__}, not envlearn.Task", "build tasks as Task(...)"
            )
        if t.adapter != s.adapter_name:
            raise CheckFailed(
                f"task {t.id!r} names adapter {t.adapter!r}, but it is checked against "
                f"{s.adapter_name!r}",
                f"set Task(adapter={s.adapter_name!r}, ...) for this adapter's tasks",
            )
    ids = [t.id for t in tasks]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise CheckFailed(f"duplicate task ids {dup}", "give every task a unique id")
    n_oracle = sum(1 for t in tasks if t.oracle)
    return f"{len(tasks)} tasks ({n_oracle} with an oracle): {', '.join(ids)}"


@_adapter_check
def check_system_prompt(s: Subject) -> str:
    """``system_prompt(task)`` returns a non-empty string for every task."""
    lengths = []
    for task in s.require_tasks():
        a = s.new()
        where = f"system_prompt(task {task.id!r})"
        p = s.call(where, a.system_prompt, task)
        if not isinstance(p, str) or not p.strip():
            raise CheckFailed(
                f"{where} returned {p!r}",
                "return a non-empty str: what the environment is and how to write an action",
            )
        lengths.append(len(p))
    return f"non-empty on {len(lengths)} tasks ({min(lengths)}–{max(lengths)} chars)"


@_adapter_check
def check_observation_types(s: Subject) -> str:
    """``reset`` and ``step`` return an Observation made of Parts (valid done and reward)."""
    n = 0
    for task in s.require_tasks():
        a = s.new()
        obs = s.reset(a, task, s.seed)
        n += 1
        script = s.script(task)
        if script and not obs.done:
            s.step(a, task, script[0], 1)
            n += 1
    return f"{n} reset/step results are Observations of Parts"


@_adapter_check
def check_channels_declared(s: Subject) -> str:
    """Every part's channel is declared in ``channels``, with the declared kind."""
    tour = s.tour()
    if not tour.seen:
        raise CheckFailed(
            "no observation could be collected: " + "; ".join(tour.errors[:3]),
            "see check_observation_types and check_malformed_actions",
        )
    specs = {c.name: c for c in s.new().channels}
    problems: dict[tuple[str, str], str] = {}
    used: set[str] = set()
    for seen in tour.seen:
        for p in seen.obs.parts:
            used.add(p.channel)
            spec = specs.get(p.channel)
            if spec is None:
                problems.setdefault(
                    (p.channel, "undeclared"),
                    f"{seen.where} emitted a {p.kind} part on channel {p.channel!r}, which "
                    f"channels does not declare (declared: {', '.join(sorted(specs))})",
                )
            elif spec.kind != p.kind:
                problems.setdefault(
                    (p.channel, "kind"),
                    f"{seen.where} emitted a {p.kind} part on channel {p.channel!r}, declared "
                    f"kind={spec.kind!r}",
                )
    if problems:
        undeclared = sorted(ch for ch, what in problems if what == "undeclared")
        fix = []
        if undeclared:
            fix.append(
                "add "
                + ", ".join(f"ChannelSpec(name={ch!r}, kind=...)" for ch in undeclared)
                + " to channels"
            )
        if any(what == "kind" for _, what in problems):
            fix.append(
                "emit each channel with its declared kind (content: what the environment "
                "said; notice: what the harness adds), or fix the declaration"
            )
        raise CheckFailed("\n".join(problems.values()), "; ".join(fix))
    unused = sorted(set(specs) - used)
    note = f"; not seen: {', '.join(unused)}" if unused else ""
    return f"{len(tour.seen)} observations used declared channels {', '.join(sorted(used))}{note}"


@_adapter_check
def check_notices_marked(s: Subject) -> str:
    """Harness text (truncation markers, timeouts, format hints) is a notice, never content."""
    tour = s.tour()
    flagged: dict[tuple[str, str], list[str]] = {}
    for seen in tour.seen:
        for p in seen.obs.parts:
            if p.kind != "content":
                continue
            for pattern, what in HARNESS_MARKERS:
                m = pattern.search(p.text)
                if m:
                    start = p.text.rfind("\n", 0, m.start()) + 1  # the whole line
                    end = p.text.find("\n", m.start())
                    line = p.text[start : end if end >= 0 else len(p.text)]
                    key = (p.channel, f"{what}: {short(line, 60)}")
                    flagged.setdefault(key, []).append(seen.where)
                    break
    if flagged:
        lines = []
        for (channel, found), wheres in list(flagged.items())[:5]:
            more = f" (and {len(wheres) - 1} more)" if len(wheres) > 1 else ""
            lines.append(f"{wheres[0]}{more}: content part on channel {channel!r} holds {found}")
        raise CheckFailed(
            "\n".join(lines),
            "emit text the harness adds as its own notice part (notice('Reply with ...'), "
            "notice('[truncated 300 chars]')), never inside content: L_env would train the "
            "model to predict it",
        )
    n_notice = sum(1 for seen in tour.seen for p in seen.obs.parts if p.kind == "notice")
    return f"{len(tour.seen)} observations: no harness text in content ({n_notice} notice parts)"


@_adapter_check
def check_output_truncated(s: Subject) -> str:
    """No observation carries more than ``max_observation_chars`` of content (long output is cut,
    with a notice saying so)."""
    tour = s.tour()
    limit = s.max_observation_chars
    biggest = 0
    for seen in tour.seen:
        size = len(seen.obs.content_text())
        biggest = max(biggest, size)
        if size > limit:
            channels = sorted({p.channel for p in seen.obs.parts if p.kind == "content"})
            raise CheckFailed(
                f"{seen.where} returned {size:,} chars of content on {', '.join(channels)} "
                f"(limit {limit:,})",
                "cut long outputs and say so in a notice, e.g. [content(ch, text[:N]), "
                "notice(f'[truncated {len(text) - N} chars]')]: an unbounded observation "
                "blows the context and the token budget",
            )
    return f"largest observation {biggest:,} chars of content (limit {limit:,})"


@_adapter_check
def check_malformed_actions(s: Subject) -> str:
    """Malformed actions (empty, garbage, very long, unicode, NUL bytes, …) are answered with an
    Observation, not an exception."""
    task = s.require_tasks()[0]
    failures: list[str] = []
    noticed = 0
    adapter: Adapter | None = None
    obs: Observation | None = None
    for what, action in MALFORMED_ACTIONS.items():
        if adapter is None or obs is None or obs.done:
            adapter = adapter or s.new()
            obs = s.reset(adapter, task, s.seed)
        try:
            obs = expect_observation(
                f"step(<{what}>)", s.call(f"step(<{what}>)", adapter.step, action)
            )
        except CheckFailed as e:
            cause = e.__cause__
            if isinstance(cause, EpisodeError):
                failures.append(
                    f"step(<{what}>) raised EpisodeError: {short(str(cause), 120)} "
                    "(EpisodeError is for infrastructure faults, not model mistakes)"
                )
            else:
                failures.append(e.problem)
            adapter, obs = None, None
            continue
        noticed += any(p.kind == "notice" for p in obs.parts)
    if failures:
        raise CheckFailed(
            "\n".join(failures),
            "a malformed action is a model mistake: answer it with "
            "Observation(parts=[notice('Reply with ...')]) so the episode goes on",
        )
    return f"{len(MALFORMED_ACTIONS)} malformed actions answered ({noticed} with a notice)"


@_adapter_check
def check_determinism(s: Subject) -> str:
    """If ``deterministic = True``: same task, seed and actions give the same observations, on a
    fresh adapter and on one reset after an episode."""
    a = s.new()
    if not a.deterministic:
        raise CheckSkipped(
            "the adapter declares deterministic = False (set it True when the same task, seed "
            "and actions always give the same observations, and this check holds you to it)"
        )
    fix = (
        "derive every random choice from reset(seed=...) (random.Random(seed)), keep times, "
        "PIDs and temp paths out of observations, or set deterministic = False"
    )
    n = 0
    for task in s.require_tasks()[:2]:
        actions = s.script(task)
        first = s.episode(a, task, s.seed, actions)
        second = s.episode(s.new(), task, s.seed, actions)
        diff = first_difference(first, second, full=True, names=("first", "second"))
        if diff:
            raise CheckFailed(
                f"task {task.id!r}, seed {s.seed}: two fresh adapters disagree at {diff}", fix
            )
        again = s.episode(a, task, s.seed, actions)
        diff = first_difference(first, again, full=True, names=("first", "after reset"))
        if diff:
            raise CheckFailed(
                f"task {task.id!r}, seed {s.seed}: the same adapter, reset() after an episode, "
                f"disagrees with its first episode at {diff}",
                "reset() must clear all state from the previous episode",
            )
        n += 1
    return f"same observations twice on {n} tasks (fresh and re-reset adapters)"


@_adapter_check
def check_step_after_done(s: Subject) -> str:
    """``step`` after the episode ended (``done=True``) raises instead of going on."""
    for task in s.require_tasks():
        a = s.new()
        record = s.episode(a, task, s.seed, s.script(task))
        if not record.observations[-1].done:
            continue
        try:
            result = a.step(s.probe_actions[0] if s.probe_actions else "help")
        except Exception as e:
            return f"raised {type(e).__name__} after task {task.id!r} ended"
        raise CheckFailed(
            f"step() after task {task.id!r} ended (done=True) returned "
            f"{type(result).__name__} instead of raising",
            "raise RuntimeError('step() after the episode ended: call reset()') so a runaway "
            "rollout loop fails loudly instead of training on a finished episode",
        )
    raise CheckSkipped(
        "no episode ended within its script: give a task an oracle that finishes the episode"
    )


@_adapter_check
def check_close(s: Subject) -> str:
    """``close()`` is safe twice (and before ``reset``) and leaves no child process running."""
    task = s.require_tasks()[0]
    tracked = proc_available()
    before = descendants() if tracked else {}
    # a run of its own: run-scoped resources made here (a browser) must be gone at its end too
    with run_scope("check_close"):
        fresh = s.new()
        s.call("close() on an adapter that was never reset", fresh.close)
        s.call("a second close() on an adapter that was never reset", fresh.close)
        a = s.new()
        actions = s.script(task)[:3]
        s.episode(a, task, s.seed, actions)
        s.call("close() after an episode", a.close)
        s.call("a second close() after an episode", a.close)
    if not tracked:
        return "close() twice is safe (no /proc here: child processes not checked)"
    deadline = time.monotonic() + s.leak_timeout_s
    while True:
        left = {p: c for p, c in descendants().items() if p not in before}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # polling the process table with a deadline, not synchronising
    if left:
        shown = "; ".join(f"pid {p}: {c}" for p, c in sorted(left.items())[:5])
        raise CheckFailed(
            f"close() left {len(left)} child process(es) running after {s.leak_timeout_s:g} s: "
            f"{shown}",
            "in close(), stop every process the adapter started (proc.terminate(); "
            "proc.wait(timeout=...); then proc.kill(); or kill its process group) — each "
            "episode would leak them otherwise",
        )
    return "close() twice is safe and no child process is left"


@_adapter_check
def check_parallel_isolation(s: Subject) -> str:
    """Episodes run at once in threads (different tasks and seeds, interleaved step by step)
    give what they give when run alone: no state shared between instances."""
    tasks = s.require_tasks()
    n = 3
    runs = [(tasks[i % len(tasks)], s.seed + i) for i in range(n)]
    full = bool(s.new().deterministic)
    alone = [s.episode(s.new(), t, seed, s.script(t)) for t, seed in runs]

    longest = max(len(s.script(t)) for t, _ in runs)
    barrier = threading.Barrier(n, timeout=60)
    together: list[EpisodeRecord | None] = [None] * n
    errors: list[str | None] = [None] * n

    def run(k: int) -> None:
        """Episode ``k`` on a thread of its own, which builds, drives and closes its adapter;
        every step waits for the others' (the episodes advance in lock-step)."""
        task, seed = runs[k]
        actions = s.script(task)
        waits = 0

        def choose(record: EpisodeRecord) -> str | None:
            nonlocal waits
            barrier.wait()
            waits += 1
            return actions[len(record.turns)]

        try:
            adapter = s.new()
            record = s.play(adapter, task, seed, choose, max_turns=len(actions), score=False)
            while waits < longest:  # keep step with the longer episodes
                barrier.wait()
                waits += 1
            barrier.wait()
            record.score = s.score(adapter, task)
            together[k] = record
        except threading.BrokenBarrierError:
            errors[k] = errors[k] or "another episode failed"
        except Exception as e:  # noqa: BLE001 - reported below with its episode
            errors[k] = e.problem if isinstance(e, CheckFailed) else f"{type(e).__name__}: {e}"
            barrier.abort()
        finally:
            s.close_all()

    threads = [
        threading.Thread(target=run, args=(k,), name=f"envlearn-episode-{k}", daemon=True)
        for k in range(n)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fix = (
        "keep all episode state on the instance (self...), never in class attributes, module "
        "globals, or shared files, ports and processes; give each instance its own"
    )
    for k, (a_run, t_run) in enumerate(zip(alone, together, strict=True)):
        task, seed = runs[k]
        what = f"episode {k + 1} of {n} (task {task.id!r}, seed {seed})"
        error = errors[k]
        if error and error != "another episode failed":
            raise CheckFailed(
                f"{what} failed when run alongside the others in threads but not alone: {error}",
                fix,
            )
        if t_run is None:
            continue  # another episode failed: that one is reported
        diff = first_difference(a_run, t_run, full=full, names=("alone", "in threads"))
        if diff:
            raise CheckFailed(
                f"{what} differs when run alongside the others in threads, at {diff}", fix
            )
    kind = "observations" if full else "done flags and scores (adapter not deterministic)"
    return f"{n} interleaved episodes in threads match their lone runs ({kind})"


@_adapter_check
def check_oracle(s: Subject) -> str:
    """Every checked task with an oracle reaches a positive score with it, within max_turns."""
    tasks = [t for t in s.require_tasks() if t.oracle]
    if not tasks:
        raise CheckSkipped(
            "no checked task has an oracle: add Task(oracle=[...action texts...]) so tests, SFT "
            "warm starts and this check can use it"
        )
    scores = []
    for task in tasks:
        oracle = list(task.oracle or [])
        if len(oracle) > task.max_turns:
            raise CheckFailed(
                f"task {task.id!r}: the oracle has {len(oracle)} actions but max_turns is "
                f"{task.max_turns}",
                "raise the task's max_turns or shorten the oracle; rollouts stop at max_turns",
            )
        record = s.episode(s.new(), task, s.seed, oracle)
        if not record.score or record.score <= 0:
            last = record.observations[-1]
            raise CheckFailed(
                f"task {task.id!r}: the oracle ({len(record.actions)} of {len(oracle)} actions "
                f"sent, episode {'ended' if last.done else 'not ended'}) scored {record.score}; "
                f"last observation {describe_observation(last)}",
                "the oracle must solve its task: check the oracle's actions and the verifier "
                "behind score()",
            )
        scores.append(record.score)
    return f"oracles score {', '.join(f'{x:g}' for x in scores)} on {len(scores)} tasks"


@_adapter_check
def check_score_range(s: Subject) -> str:
    """``score()`` is a float in [0, 1]: right after reset, after a malformed action, after a
    scripted episode."""
    task = s.require_tasks()[0]
    a = s.new()
    s.reset(a, task, s.seed)
    got = [s.score(a, task)]
    obs = s.step(a, task, "", 1)
    got.append(s.score(a, task))
    if not obs.done:
        got.append(s.episode(a, task, s.seed, s.script(task)).score or 0.0)
    return f"score() in [0, 1]: {', '.join(f'{x:g}' for x in got)}"


_OWN_THREAD = "envlearn-episode-thread"


def _episode_on_own_thread(
    s: Subject, task: Task, actions: Sequence[str]
) -> tuple[EpisodeRecord, ThreadBoundAdapter]:
    """On a new thread, as the rollout engine runs an episode: build the adapter (wrapped so a
    call from any other thread raises), reset, step, score and close it."""

    def episode() -> tuple[EpisodeRecord, ThreadBoundAdapter]:
        try:
            bound = ThreadBoundAdapter(s.new())
            record = s.episode(bound, task, s.seed, actions)
            s.call("close()", bound.close)
            return record, bound
        finally:
            s.close_all()  # what this thread built, on this thread

    return run_on_new_thread(episode, name=_OWN_THREAD)


@_adapter_check
def check_thread_affinity(s: Subject) -> str:
    """Built, reset, stepped, scored and closed on a thread of its own (as the rollout engine
    runs each episode), the adapter works and gives what it gives on another thread; every call
    comes from the thread that built it."""
    task = s.require_tasks()[0]
    actions = s.script(task)
    try:
        first = s.new()
        full = bool(first.deterministic)
        here = s.episode(first, task, s.seed, actions)
        there, bound = _episode_on_own_thread(s, task, actions)
    except CheckFailed as e:
        if isinstance(e.__cause__, ThreadAffinityError):
            raise CheckFailed(
                str(e.__cause__),
                "build the adapter inside the factory call, on the calling thread (no pool of "
                "adapters built elsewhere), and make every call on the thread that built it",
            ) from e
        raise CheckFailed(
            f"on a thread of its own: {e.problem}",
            "the rollout engine builds and drives each episode's adapter on a worker thread: "
            "no signal handlers or alarms (main thread only; bound waits with timeouts "
            "instead), no asyncio.get_event_loop() (use asyncio.new_event_loop() or "
            "asyncio.run on that thread), no thread-bound object made at import time",
        ) from e
    diff = first_difference(here, there, full=full, names=("checker's thread", "own thread"))
    if diff:
        raise CheckFailed(
            f"task {task.id!r}: the episode on a thread of its own differs at {diff}",
            "keep episode state on the instance, not in thread-locals set up elsewhere",
        )
    methods = [c.method for c in bound.calls]
    expected = {"reset", "score", "close"} | ({"step"} if there.turns else set())
    if bound.foreign_calls or not expected <= set(methods):
        raise CheckFailed(  # the checker's own promise; a failure here is an envlearn bug
            f"the calls seen were {methods} from threads "
            f"{sorted({c.thread_name for c in bound.calls})}",
            "this is a bug in envlearn.testing: please report it with the adapter",
        )
    return (
        f"{len(methods)} calls ({', '.join(dict.fromkeys(methods))}) all on the thread that "
        f"built the adapter, same {'observations' if full else 'done flags and score'}"
    )
