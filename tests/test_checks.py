"""Each kind of adapter breakage is caught by the check named for it, with a message saying what
to fix; a conforming adapter passes every check.  Runtime: about 3 s (2-core CI)."""

from __future__ import annotations

import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from envlearn.builtins.toy import GuessNumber, toy_tasks
from envlearn.channels import EpisodeError, Observation, Part, Task, content
from envlearn.hookspecs import hookimpl
from envlearn.plugins import get_plugin_manager
from envlearn.testing import (
    CHECKS,
    HARNESS_MARKERS,
    AdapterCheckError,
    CheckFailed,
    CheckReport,
    CheckSkipped,
    ThreadAffinityError,
    ThreadBoundAdapter,
    check_adapter,
    check_close,
    check_determinism,
    check_oracle,
    check_thread_affinity,
)
from envlearn.testing.runner import cli_check
from envlearn.testing.threads import run_on_new_thread

TASKS = toy_tasks()[:3]


def failed(report: CheckReport, name: str) -> str:
    """The message and fix of check ``name``, asserting it failed."""
    result = report[name]
    assert result.status == "failed", f"{name} should fail:\n{report}"
    return f"{result.message}\nfix: {result.fix}"


# --- a conforming adapter ----------------------------------------------------------------------


@pytest.mark.unit
def test_toy_passes_every_check() -> None:
    report = check_adapter("toy")
    assert report.ok, str(report)
    assert [r.name for r in report.passed] == list(CHECKS)
    report.raise_for_failures()  # nothing to raise


@pytest.mark.unit
def test_each_check_runs_alone_and_returns_a_summary() -> None:
    assert "oracles score 1, 1" in check_oracle("toy")
    assert "no child process is left" in check_close(GuessNumber, tasks=TASKS)


# --- one breakage each -------------------------------------------------------------------------


class UndeclaredChannel(GuessNumber):
    def step(self, action_text: str) -> Observation:
        obs = super().step(action_text)
        return Observation(parts=[*obs.parts, content("debug", "x\n")], done=obs.done)


@pytest.mark.unit
def test_undeclared_channel_is_caught() -> None:
    msg = failed(check_adapter(UndeclaredChannel, tasks=TASKS), "check_channels_declared")
    assert "channel 'debug', which channels does not declare" in msg
    assert "ChannelSpec(name='debug'" in msg


class WrongKind(GuessNumber):
    def step(self, action_text: str) -> Observation:
        obs = super().step(action_text)
        return obs.model_copy(update={"parts": [Part(channel="feedback", text="?", kind="notice")]})


@pytest.mark.unit
def test_part_with_the_wrong_kind_is_caught() -> None:
    msg = failed(check_adapter(WrongKind, tasks=TASKS), "check_channels_declared")
    assert "notice part on channel 'feedback', declared kind='content'" in msg


class RaisesOnMalformed(GuessNumber):
    def step(self, action_text: str) -> Observation:
        if not any(c.isdigit() for c in action_text):
            raise ValueError("no number in the reply")
        return super().step(action_text)


@pytest.mark.unit
def test_exception_on_malformed_action_is_caught() -> None:
    msg = failed(check_adapter(RaisesOnMalformed, tasks=TASKS), "check_malformed_actions")
    assert "step(<empty string>) raised ValueError: 'no number in the reply'" in msg
    assert "step(<NUL bytes>) raised ValueError" in msg
    assert "answer it with Observation(parts=[notice(" in msg


class EpisodeErrorOnMalformed(GuessNumber):
    def step(self, action_text: str) -> Observation:
        if not action_text.strip():
            raise EpisodeError("empty reply")
        return super().step(action_text)


@pytest.mark.unit
def test_episode_error_for_a_model_mistake_is_caught() -> None:
    msg = failed(check_adapter(EpisodeErrorOnMalformed, tasks=TASKS), "check_malformed_actions")
    assert "step(<empty string>) raised EpisodeError" in msg
    assert "EpisodeError is for infrastructure faults, not model mistakes" in msg


class Nondeterministic(GuessNumber):
    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        obs = super().reset(task, seed=seed)
        session = uuid.uuid4().hex[:8]
        return Observation(parts=[*obs.parts, content("feedback", f"session {session}\n")])


@pytest.mark.unit
def test_nondeterminism_while_claiming_determinism_is_caught() -> None:
    msg = failed(check_adapter(Nondeterministic, tasks=TASKS), "check_determinism")
    assert "two fresh adapters disagree at reset(task 'guess-16-00', seed=0)" in msg
    assert "random.Random(seed)" in msg and "deterministic = False" in msg


class HonestlyNondeterministic(Nondeterministic):
    deterministic: ClassVar[bool] = False


@pytest.mark.unit
def test_determinism_is_skipped_when_not_claimed_and_parallel_compares_less() -> None:
    report = check_adapter(HonestlyNondeterministic, tasks=TASKS)
    assert report["check_determinism"].status == "skipped"
    assert "deterministic = False" in report["check_determinism"].message
    assert report["check_parallel_isolation"].status == "passed"
    assert "done flags and scores" in report["check_parallel_isolation"].message
    with pytest.raises(CheckSkipped, match="deterministic = False"):
        check_determinism(HonestlyNondeterministic, tasks=TASKS)


class StateSurvivesReset(GuessNumber):
    def __init__(self) -> None:
        super().__init__()
        self.turns = 0  # never cleared by reset()

    def step(self, action_text: str) -> Observation:
        self.turns += 1
        obs = super().step(action_text)
        return Observation(
            parts=[content("feedback", f"turn {self.turns}: "), *obs.parts],
            done=obs.done,
            reward=obs.reward,
        )


@pytest.mark.unit
def test_state_surviving_reset_is_caught() -> None:
    msg = failed(check_adapter(StateSurvivesReset, tasks=TASKS), "check_determinism")
    assert "the same adapter, reset() after an episode, disagrees" in msg
    assert "reset() must clear all state from the previous episode" in msg


class StepAfterDoneAllowed(GuessNumber):
    def step(self, action_text: str) -> Observation:
        self._done = False  # goes on forever
        return super().step(action_text)


@pytest.mark.unit
def test_step_after_done_allowed_is_caught() -> None:
    msg = failed(check_adapter(StepAfterDoneAllowed, tasks=TASKS), "check_step_after_done")
    assert "step() after task 'guess-16-00' ended (done=True) returned Observation" in msg
    assert "raise RuntimeError(" in msg


class LeaksChildProcess(GuessNumber):
    started: ClassVar[list[subprocess.Popen[bytes]]] = []  # the test stops them

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        LeaksChildProcess.started.append(subprocess.Popen(["sleep", "60"]))
        return super().reset(task, seed=seed)


@pytest.fixture
def leaked() -> Iterator[list[subprocess.Popen[bytes]]]:
    LeaksChildProcess.started.clear()
    yield LeaksChildProcess.started
    for proc in LeaksChildProcess.started:
        proc.kill()
        proc.wait()


@pytest.mark.integration
def test_child_process_left_by_close_is_caught(leaked: list[subprocess.Popen[bytes]]) -> None:
    report = check_adapter(LeaksChildProcess, tasks=TASKS, only=["close"], leak_timeout_s=0.5)
    msg = failed(report, "check_close")
    assert "close() left 1 child process(es) running after 0.5 s" in msg
    assert f"pid {leaked[-1].pid}: sleep 60" in msg
    assert "proc.terminate()" in msg


class CloseTwiceRaises(GuessNumber):
    def close(self) -> None:
        if self.closed:
            raise RuntimeError("already closed")
        self.closed = True


@pytest.mark.unit
def test_close_twice_raising_is_caught() -> None:
    msg = failed(check_adapter(CloseTwiceRaises, tasks=TASKS), "check_close")
    assert "a second close() on an adapter that was never reset raised RuntimeError" in msg


class SharedClassState(GuessNumber):
    shared: ClassVar[dict[str, int]] = {}  # one target for every instance: the bug

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        obs = super().reset(task, seed=seed)
        SharedClassState.shared["target"] = self._target
        return obs

    def step(self, action_text: str) -> Observation:
        self._target = SharedClassState.shared["target"]
        return super().step(action_text)


@pytest.mark.unit
def test_class_level_state_shared_between_instances_is_caught() -> None:
    report = check_adapter(SharedClassState, tasks=TASKS)
    msg = failed(report, "check_parallel_isolation")
    assert "(task 'guess-16-00', seed 0) differs when run alongside the others in threads" in msg
    assert "alone:      [content feedback: '8 is too high.\\n']" in msg
    assert "in threads: [content feedback: '8 is too low.\\n']" in msg
    assert "never in class attributes, module globals" in msg
    # run one at a time it looks fine: only the parallel check can see it
    assert report["check_determinism"].status == "passed"
    assert report["check_oracle"].status == "passed"


@pytest.mark.unit
def test_failing_oracle_is_caught() -> None:
    wrong = [t.model_copy(update={"oracle": ["1", "2"]}) for t in TASKS]
    msg = failed(check_adapter("toy", tasks=wrong), "check_oracle")
    assert (
        "task 'guess-16-00': the oracle (2 of 2 actions sent, episode not ended) scored 0.0" in msg
    )
    assert "the oracle must solve its task" in msg


@pytest.mark.unit
def test_oracle_longer_than_max_turns_is_caught() -> None:
    short = [t.model_copy(update={"max_turns": 1}) for t in TASKS]
    msg = failed(check_adapter("toy", tasks=short, only=["oracle"]), "check_oracle")
    assert "the oracle has 4 actions but max_turns is 1" in msg


class NoticeTextAsContent(GuessNumber):
    def step(self, action_text: str) -> Observation:
        obs = super().step(action_text)
        if obs.parts and obs.parts[0].kind == "notice":  # the format hint, emitted as content
            return Observation(parts=[content("feedback", obs.parts[0].text)])
        return obs


@pytest.mark.unit
def test_notice_text_emitted_as_content_is_caught() -> None:
    msg = failed(check_adapter(NoticeTextAsContent, tasks=TASKS), "check_notices_marked")
    assert (
        "step(<empty string>) on task 'guess-16-00' (and 4 more): content part on channel "
        "'feedback' holds a format hint: 'Reply with one integer, e.g. 42.'"
    ) in msg
    # the core grammar's problems (envlearn.actions) are harness text too
    assert (
        "step(<unclosed quotes and markup>) on task 'guess-16-00': content part on channel "
        "'feedback' holds a format hint: 'Your code block is not closed (no ``` line after it), "
    ) in msg
    assert "as its own notice part (notice('Reply with ...')" in msg


class TruncationMarkerInContent(GuessNumber):
    def step(self, action_text: str) -> Observation:
        text = f"{action_text[:20]}[truncated {max(0, len(action_text) - 20)} chars]\n"
        return Observation(parts=[content("feedback", text)])


@pytest.mark.unit
def test_truncation_marker_in_content_is_caught() -> None:
    msg = failed(check_adapter(TruncationMarkerInContent, tasks=TASKS), "check_notices_marked")
    assert "holds a truncation marker" in msg


class EchoesEverything(GuessNumber):
    def step(self, action_text: str) -> Observation:
        obs = super().step(action_text)
        return Observation(
            parts=[content("feedback", f"you said {action_text}\n"), *obs.parts], done=obs.done
        )


@pytest.mark.unit
def test_untruncated_long_output_is_caught() -> None:
    msg = failed(check_adapter(EchoesEverything, tasks=TASKS), "check_output_truncated")
    assert "returned 50,010 chars of content on feedback (limit 16,384)" in msg
    assert "notice(f'[truncated" in msg


class ScoreOutOfRange(GuessNumber):
    def score(self) -> float:
        return 100.0 if self._won else 0.0


@pytest.mark.unit
def test_score_outside_unit_interval_is_caught() -> None:
    msg = failed(check_adapter(ScoreOutOfRange, tasks=TASKS), "check_score_range")
    assert "returned 100.0, outside [0, 1]" in msg


class EmptySystemPrompt(GuessNumber):
    def system_prompt(self, task: Task) -> str:
        return "  "


@pytest.mark.unit
def test_empty_system_prompt_is_caught() -> None:
    msg = failed(check_adapter(EmptySystemPrompt, tasks=TASKS), "check_system_prompt")
    assert "system_prompt(task 'guess-16-00') returned '  '" in msg


class ResetReturnsDict(GuessNumber):
    def reset(self, task: Task, *, seed: int | None = None) -> Any:
        return {"text": super().reset(task, seed=seed).text}


@pytest.mark.unit
def test_wrong_return_type_is_caught() -> None:
    msg = failed(check_adapter(ResetReturnsDict, tasks=TASKS), "check_observation_types")
    assert "returned dict, not an Observation" in msg
    assert "return envlearn.Observation(parts=[content(channel, text)" in msg


class HangsOnce(GuessNumber):
    release: ClassVar[threading.Event] = threading.Event()

    def step(self, action_text: str) -> Observation:
        self.release.wait(timeout=30)  # released by the test, bounded in any case
        return super().step(action_text)


@pytest.mark.unit
def test_hanging_adapter_fails_at_the_deadline() -> None:
    HangsOnce.release.clear()
    try:
        report = check_adapter(HangsOnce, tasks=TASKS, only=["observation_types"], timeout_s=0.3)
    finally:
        HangsOnce.release.set()
    msg = failed(report, "check_observation_types")
    assert "did not finish within 0.3 s; last adapter call: step('8') on task 'guess-16-00'" in msg
    assert "bound every wait" in msg


class NotAnAdapter:
    name = "nothing"


@pytest.mark.unit
def test_missing_interface_fails_first_and_skips_the_rest() -> None:
    report = check_adapter(NotAnAdapter)
    msg = failed(report, "check_interface")
    assert "NotAnAdapter lacks system_prompt, reset, step" in msg
    assert "subclass envlearn.BaseAdapter" in msg
    assert len(report.skipped) == len(CHECKS) - 1
    assert all("check_interface failed" in r.message for r in report.skipped)


class Unregistered(GuessNumber):
    name: ClassVar[str] = "unregistered"


@pytest.mark.unit
def test_no_tasks_fails_check_tasks_and_skips_what_needs_them() -> None:
    report = check_adapter(Unregistered)
    msg = failed(report, "check_tasks")
    assert "no tasks for adapter 'unregistered'" in msg
    assert "register(name, loader, adapter='unregistered')" in msg
    assert report["check_oracle"].status == "skipped"
    assert report["check_oracle"].message == "no usable tasks (see check_tasks)"


@pytest.mark.unit
def test_tasks_of_another_adapter_are_caught() -> None:
    report = check_adapter(Unregistered, tasks=TASKS, only=["tasks"])
    assert "task 'guess-16-00' names adapter 'toy'" in failed(report, "check_tasks")


# --- thread affinity ---------------------------------------------------------------------------


class CountingToy(GuessNumber):
    steps: ClassVar[int] = 0

    def step(self, action_text: str) -> Observation:
        CountingToy.steps += 1
        return super().step(action_text)


@pytest.mark.unit
def test_a_call_from_another_thread_is_refused_before_it_reaches_the_adapter() -> None:
    CountingToy.steps = 0
    bound = ThreadBoundAdapter(CountingToy())
    bound.reset(TASKS[0], seed=0)  # the building thread: fine
    with pytest.raises(ThreadAffinityError) as info:
        run_on_new_thread(lambda: bound.step("8"), name="intruder")
    assert "toy.step() called from thread 'intruder'" in str(info.value)
    assert f"built on thread {threading.current_thread().name!r}" in str(info.value)
    assert CountingToy.steps == 0
    assert [(c.method, c.thread_name) for c in bound.foreign_calls] == [("step", "intruder")]
    assert bound.step("8").text == "8 is too high.\n" and CountingToy.steps == 1
    bound.close()
    assert bound.closed  # other attributes are the inner adapter's


@pytest.mark.unit
def test_every_check_keeps_each_adapter_on_the_thread_that_built_it() -> None:
    report = check_adapter(ThreadBoundAdapter.factory(GuessNumber), tasks=TASKS)
    assert report.ok and len(report.passed) == len(CHECKS), str(report)
    assert "all on the thread that built the adapter" in report["check_thread_affinity"].message


@pytest.mark.unit
def test_a_factory_handing_out_adapters_built_elsewhere_is_caught() -> None:
    def pooled() -> ThreadBoundAdapter:  # a pre-warmed pool: built on another thread
        return run_on_new_thread(lambda: ThreadBoundAdapter(GuessNumber()), name="warm-up")

    pooled.name = "toy"  # type: ignore[attr-defined]
    with pytest.raises(CheckFailed) as info:
        check_thread_affinity(pooled, tasks=TASKS)
    # the other checks meet it too, and say the same
    report = check_adapter(pooled, tasks=TASKS, only=["observation_types"])
    assert "raised ThreadAffinityError" in failed(report, "check_observation_types")
    assert "build the adapter inside the factory call" in report["check_observation_types"].fix
    here = threading.current_thread().name  # the check ran on this thread (no timeout thread)
    assert f"toy.reset() called from thread {here!r}" in info.value.problem
    assert "but the adapter was built on thread 'warm-up'" in info.value.problem
    assert "build the adapter inside the factory call, on the calling thread" in info.value.fix


class NeedsMainThread(GuessNumber):
    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        # arms a timeout the main-thread-only way (re-installing the current SIGALRM handler)
        signal.signal(signal.SIGALRM, signal.getsignal(signal.SIGALRM))
        return super().reset(task, seed=seed)


@pytest.mark.unit
def test_an_adapter_that_only_works_on_the_main_thread_is_caught() -> None:
    assert threading.current_thread() is threading.main_thread()
    report = check_adapter(NeedsMainThread, tasks=TASKS, only=["thread_affinity"], timeout_s=None)
    msg = failed(report, "check_thread_affinity")
    assert "on a thread of its own: reset(task 'guess-16-00', seed=0) raised ValueError" in msg
    assert "signal only works in main thread" in msg
    assert "no signal handlers or alarms" in msg


class _BoundPlugin:
    @hookimpl
    def register_adapters(self, register: Any) -> None:
        register("bound_toy", ThreadBoundAdapter.factory(GuessNumber), description="for tests")

    @hookimpl
    def register_task_suites(self, register: Any) -> None:
        def load() -> list[Task]:
            return [t.model_copy(update={"adapter": "bound_toy"}) for t in toy_tasks()[:3]]

        register("bound_toy", load, adapter="bound_toy")


@pytest.mark.unit
def test_envlearn_check_passes_with_a_thread_bound_adapter(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pm = get_plugin_manager()
    pm.register(_BoundPlugin(), name="test-bound-toy")
    try:
        assert cli_check(["bound_toy"]) == 0
    finally:
        pm.unregister(name="test-bound-toy")
    out = capsys.readouterr().out
    assert "✓ check_thread_affinity" in out and f"{len(CHECKS)} passed, 0 failed" in out


# --- the report and the single-check API -------------------------------------------------------


@pytest.mark.unit
def test_check_adapter_raises_nothing_but_raise_for_failures_lists_every_failure() -> None:
    report = check_adapter(EchoesEverything, tasks=TASKS)  # no exception here
    assert {r.name for r in report.failed} == {"check_output_truncated"}
    with pytest.raises(AdapterCheckError) as info:
        report.raise_for_failures()
    text = str(info.value)
    assert "adapter 'toy' failed 1 of 15 conformance checks" in text
    assert "check_output_truncated: step(<very long text>)" in text and "Fix: cut long" in text


@pytest.mark.unit
def test_a_single_check_raises_check_failed_with_its_name() -> None:
    with pytest.raises(CheckFailed) as info:
        check_close(CloseTwiceRaises, tasks=TASKS)
    assert info.value.check == "check_close"
    assert "never reset raised RuntimeError" in info.value.problem and info.value.fix


@pytest.mark.unit
def test_unknown_check_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown check.*check_nope.*known: check_interface"):
        check_adapter("toy", only=["nope"])


@pytest.mark.unit
@pytest.mark.parametrize(
    "text",
    [
        "[truncated 300 chars]",
        "lots of output... truncated",
        "(output truncated)",
        "Command timed out after 10 s",
        "[timed out]",
        "Reply with one integer, e.g. 42.",
        "Invalid action: expected a JSON object",
        "Format: one command per line",
        "Your reply must be a single SQL statement",
        "Your reply has no code block, so nothing ran.",
        "Put your action in one fenced code block, for example:",
    ],
)
def test_harness_markers_are_recognised(text: str) -> None:
    assert any(p.search(text) for p, _ in HARNESS_MARKERS), text


@pytest.mark.unit
@pytest.mark.parametrize(
    "text",
    [
        "7 is too low.\n",
        "curl: (28) Connection timed out after 10001 milliseconds\n",
        "ValueError: Invalid format string\n",
        "the log file was truncated to zero length\n",
        "SELECT name FROM users; -- reply with care\n",
        "HTTP/1.1 408 Request Timeout\n",
    ],
)
def test_environment_text_is_not_taken_for_a_marker(text: str) -> None:
    assert not any(p.search(text) for p, _ in HARNESS_MARKERS), text


# --- envlearn check ----------------------------------------------------------------------------


class _BrokenPlugin:
    @hookimpl
    def register_adapters(self, register: Any) -> None:
        register("broken_toy", StepAfterDoneAllowed, description="for tests")

    @hookimpl
    def register_task_suites(self, register: Any) -> None:
        def load() -> list[Task]:
            return [t.model_copy(update={"adapter": "broken_toy"}) for t in toy_tasks()[:4]]

        register("broken_toy", load, adapter="broken_toy")


@pytest.fixture
def broken_registered() -> Iterator[str]:
    pm = get_plugin_manager()
    pm.register(_BrokenPlugin(), name="test-broken-toy")
    try:
        yield "broken_toy"
    finally:
        pm.unregister(name="test-broken-toy")


@pytest.mark.unit
def test_cli_check_passes_on_toy(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_check(["toy", "--tasks", "2"]) == 0
    out = capsys.readouterr().out
    assert "envlearn check toy: 2 tasks from suite toy, seed 0" in out
    assert "✓ check_oracle" in out and "15 passed, 0 failed, 0 skipped" in out


@pytest.mark.unit
def test_cli_check_fails_with_the_fix(
    broken_registered: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_check([broken_registered]) == 1
    out = capsys.readouterr().out
    assert "✗ check_step_after_done" in out
    assert "fix: raise RuntimeError('step() after the episode ended: call reset()')" in out
    assert "14 passed, 1 failed, 0 skipped" in out


@pytest.mark.unit
def test_cli_check_only_and_tasks(
    broken_registered: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_check([broken_registered, "--only", "oracle,close", "--tasks", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 task from suite broken_toy" in out
    assert "check_oracle" in out and "check_close" in out and "check_step_after" not in out


@pytest.mark.unit
def test_cli_check_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_check(["no_such_adapter"]) == 2
    assert "unknown adapter 'no_such_adapter' (registered: " in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli_check(["toy", "--only", "nope"])
    assert info.value.code == 2
    assert "unknown check(s) ['check_nope']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_check(["toy", "--tasks", "0"])
    assert "--tasks must be at least 1" in capsys.readouterr().err


@pytest.mark.unit
def test_cli_check_lists_the_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_check(["--list"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == list(CHECKS)
