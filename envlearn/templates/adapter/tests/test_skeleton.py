"""Tests of the skeleton adapter: every conformance check, then its own behaviour."""

from __future__ import annotations

import pytest
from envlearn.testing import adapter_conformance_tests

from envlearn_skeleton import MAX_OUTPUT_CHARS, SkeletonAdapter, kv, skeleton_tasks

pytest_plugins = ["envlearn.testing.pytest_plugin"]

# One test per conformance check (test_conformance[check_oracle], ...).  Built from the class so
# they run before the plugin is installed; `envlearn check skeleton` runs the same checks.
test_conformance = adapter_conformance_tests(SkeletonAdapter, tasks=skeleton_tasks())


def test_registered_through_its_entry_point() -> None:
    from envlearn.plugins import get_adapters, get_task_suites

    assert "skeleton" in get_adapters(), "install the plugin first: pip install -e ."
    assert get_task_suites()["skeleton"].adapter == "skeleton"


@pytest.mark.parametrize("task", skeleton_tasks(), ids=lambda t: t.id)
def test_oracle_solves_each_task(task, make_adapter, scripted_policy) -> None:
    episode = scripted_policy.from_oracle(task).play(make_adapter(SkeletonAdapter), task, seed=3)
    assert episode.done and episode.score == 1.0, episode.text


def test_store_errors_are_content_and_format_hints_are_notices(make_adapter) -> None:
    adapter = make_adapter(SkeletonAdapter)
    adapter.reset(skeleton_tasks()[0], seed=0)
    error = adapter.step(kv("get missing"))
    assert [(p.channel, p.kind) for p in error.parts] == [("error", "content")]
    for reply in ("what should I do?", "```kv\nset a", kv("fly away"), "```sql\nget a\n```"):
        hint = adapter.step(reply)
        assert [p.kind for p in hint.parts] == ["notice"], reply
        assert not hint.done


def test_a_command_and_task_complete_in_one_reply(make_adapter) -> None:
    adapter = make_adapter(SkeletonAdapter)
    adapter.reset(skeleton_tasks()[0], seed=0)  # goal: color=blue
    obs = adapter.step("Setting it now.\n" + kv("set color blue") + "\nTASK COMPLETE")
    assert obs.done and obs.reward == 1.0  # the command ran first, then the episode ended
    assert [(p.channel, p.kind) for p in obs.parts] == [("output", "content"), ("notice", "notice")]
    adapter.reset(skeleton_tasks()[0], seed=0)
    assert adapter.step("TASK COMPLETE").done and adapter.score() == 0.0


def test_long_output_is_cut_with_a_notice(make_adapter) -> None:
    adapter = make_adapter(SkeletonAdapter)
    adapter.reset(skeleton_tasks()[0], seed=0)
    adapter.step(kv("set big " + "y" * (MAX_OUTPUT_CHARS + 500)))
    obs = adapter.step(kv("get big"))
    assert len(obs.content_text()) == MAX_OUTPUT_CHARS
    assert obs.parts[-1].kind == "notice" and "truncated 501 chars" in obs.parts[-1].text
