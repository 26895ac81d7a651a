"""The observation-channel interface and the plugin registry: clear errors on bad input."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from envlearn.builtins.toy import GuessNumber
from envlearn.channels import Adapter, ChannelSpec, Observation, Part, Task, content, notice
from envlearn.hookspecs import hookimpl
from envlearn.plugins import (
    PluginError,
    get_adapters,
    get_plugin_manager,
    load_tasks,
    make_adapter,
    reset_plugin_manager,
)

pytestmark = pytest.mark.unit


def test_parts_and_observations():
    obs = Observation(parts=[content("stdout", "a\n"), notice("[cut]\n"), content("stderr", "b")])
    assert obs.text == "a\n[cut]\nb"
    assert obs.content_text() == "a\nb" and obs.content_text("stderr") == "b"
    assert Part(channel="http_body", text="").kind == "content"


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Observation(parts=["raw text"]), "bare string.*content\\(channel, text\\)"),
        (lambda: Observation(parts="raw"), "parts must be a list of Part"),
        (lambda: Part(channel="StdOut", text="x"), "channel name 'StdOut' is invalid"),
        (lambda: Part(channel="stdout", text="x", kind="trained"), "content.*notice"),
        (lambda: Part(channel="stdout", text="x", extra=1), "extra"),
        (lambda: ChannelSpec(name="9lives"), "invalid"),
        (lambda: Task(id=" ", adapter="toy", instruction="x"), "non-empty"),
        (lambda: Task(id="t", adapter="toy", instruction="x", split="test"), "train.*heldout"),
        (
            lambda: Task(id="t", adapter="toy", instruction="x", max_turns=0),
            "greater than or equal to 1",
        ),
    ],
)
def test_malformed_input_is_one_clear_error(build, match):
    with pytest.raises(ValidationError, match=match) as e:
        build()
    assert e.value.error_count() == 1


def test_toy_adapter_is_an_adapter_and_plays():
    a = make_adapter("toy")
    assert isinstance(a, Adapter)
    task = load_tasks("toy", "train")[0]
    a.reset(task)
    assert a.step("no number here").parts[0].kind == "notice"
    for action in task.oracle:
        obs = a.step(action)
    assert obs.done and a.score() == 1.0
    with pytest.raises(RuntimeError, match="after the episode ended"):
        a.step("3")
    a.close()
    a.close()


def test_toy_reads_replies_with_the_core_action_grammar():
    a = make_adapter("toy")
    task = load_tasks("toy", "train")[0]  # target 3 in 1..16
    a.reset(task)
    assert a.step("8").text == "8 is too high.\n"  # a bare reply is read whole
    assert a.step("I'd say 1\n```\n2\n```\nor 9").text == "2 is too low.\n"  # first block
    unclosed = a.step("```\n5")
    assert [p.kind for p in unclosed.parts] == ["notice"] and "not closed" in unclosed.text
    assert a.step("no number here").text == "Reply with one integer, e.g. 42.\n"
    gave_up = a.step("```\n4\n```\nTASK COMPLETE")  # the guess runs, then the episode ends
    assert gave_up.text == "4 is too high.\nGame over: the number was not found.\n"
    assert gave_up.done and [p.kind for p in gave_up.parts] == ["content", "notice"]
    assert a.score() == 0.0
    a.reset(task)
    won = a.step("```\n3\n```\n**TASK COMPLETE**")
    assert won.text == "3 is correct!\n" and won.done and a.score() == 1.0
    a.close()


def test_registry_errors_name_the_problem():
    with pytest.raises(PluginError, match="unknown adapter 'nope'.*registered: .*toy"):
        make_adapter("nope")
    with pytest.raises(PluginError, match="unknown task suite"):
        load_tasks("nope")
    with pytest.raises(PluginError, match="split must be"):
        load_tasks("toy", "test")


class _Dup:
    @hookimpl
    def register_adapters(self, register):
        register("toy", object)

    @hookimpl
    def register_task_suites(self, register):
        register("bad", lambda: [Task(id="x", adapter="other", instruction="i")], adapter="dup")


def test_duplicate_and_mismatched_registrations_are_caught():
    reset_plugin_manager()
    try:
        get_plugin_manager().register(_Dup(), name="dup-test")
        with pytest.raises(PluginError, match="adapter 'toy' registered twice"):
            get_adapters()
        with pytest.raises(PluginError, match="names adapter 'other'.*registered for 'dup'"):
            load_tasks("bad")
    finally:
        reset_plugin_manager()


class _Counting:
    """A plugin counting how often its hooks run and its suite loads."""

    def __init__(self) -> None:
        self.hook_calls = 0
        self.loads = 0

    @hookimpl
    def register_adapters(self, register):
        self.hook_calls += 1
        register("counted", GuessNumber)

    @hookimpl
    def register_task_suites(self, register):
        def load() -> list[Task]:
            self.loads += 1
            return [Task(id="c1", adapter="counted", instruction="i", split="heldout")]

        register("counted", load, adapter="counted")


class _Other:
    @hookimpl
    def register_adapters(self, register):
        register("other", GuessNumber)


def test_registry_is_built_once_and_suites_load_once():
    reset_plugin_manager()
    counting = _Counting()
    try:
        get_plugin_manager().register(counting, name="counting")
        for _ in range(3):
            assert isinstance(make_adapter("counted"), GuessNumber)
            get_adapters().pop("counted")  # a copy: the registry is not changed
            assert [t.id for t in load_tasks("counted")] == ["c1"]
            assert load_tasks("counted", "train") == []
        assert (counting.hook_calls, counting.loads) == (1, 1)
        # a plugin registered in-process is seen: the registry is built again
        get_plugin_manager().register(_Other(), name="other")
        assert "other" in get_adapters() and counting.hook_calls == 2
        get_plugin_manager().unregister(name="other")
        assert "other" not in get_adapters() and counting.hook_calls == 3
        # reset_plugin_manager() forgets everything: a new manager, a new registry
        reset_plugin_manager()
        assert "counted" not in get_adapters()
    finally:
        reset_plugin_manager()
