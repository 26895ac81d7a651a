"""Every registered adapter passes every conformance check (one test item per adapter and check),
and the pytest plugin's fixtures work as adapter authors use them.

Adapters installed as plugins (terminal, http, ...) are picked up automatically.  Runtime with
only the built-in toy: about 6 s, most of it the two pytest subprocesses and the tiny model.
"""

from __future__ import annotations

import textwrap

import pytest

from envlearn.builtins.toy import toy_tasks
from envlearn.plugins import get_adapters, load_tasks, make_adapter
from envlearn.testing import (
    CHECKS,
    ScriptedPolicy,
    Subject,
    ThreadAffinityError,
    ThreadBoundAdapter,
    check_adapter,
)
from envlearn.testing.conformance import run_check_for_pytest
from envlearn.testing.threads import run_on_new_thread

pytest_plugins = ["pytester", "envlearn.testing.pytest_plugin"]


def _registered() -> list[object]:
    try:
        names = sorted(get_adapters())
    except Exception as e:  # a broken plugin: one failing item that says so, not a collection error
        return [pytest.param(f"<{type(e).__name__}: {e}>", id="plugin-error")]
    return [
        pytest.param(n, marks=pytest.mark.unit if n == "toy" else pytest.mark.integration)
        for n in names
    ]


_subjects: dict[str, Subject] = {}


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("adapter", _registered())
def test_registered_adapter_conforms(adapter: str, check: str) -> None:
    if adapter.startswith("<"):
        pytest.fail(f"loading the adapter plugins failed: {adapter}", pytrace=False)
    if adapter not in _subjects:  # built once per adapter: tasks and the tour are shared
        _subjects[adapter] = Subject.build(adapter)
    run_check_for_pytest(check, _subjects[adapter])


# --- fixtures ----------------------------------------------------------------------------------


@pytest.mark.unit
def test_scripted_policy_plays_an_oracle(make_adapter, scripted_policy) -> None:
    task = toy_tasks()[0]
    episode = scripted_policy.from_oracle(task).play(make_adapter("toy"), task, seed=0)
    assert episode.done and episode.score == 1.0
    assert episode.actions == task.oracle
    assert episode.text.endswith("3 is correct!\n")


@pytest.mark.unit
def test_scripted_policy_replays_a_shared_script_and_explains_misuse() -> None:
    tasks = toy_tasks()
    shared = ScriptedPolicy(["1", "2"])
    assert shared.actions_for(tasks[0]) == shared.actions_for(tasks[1]) == ["1", "2"]
    assert shared.act(tasks[0], 1) == "2"
    with pytest.raises(IndexError, match="has 2 actions; turn 2 asked for more"):
        shared.act(tasks[0], 2)
    with pytest.raises(TypeError, match="wrap it in a list"):
        ScriptedPolicy("ls -la")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="no script for task 'guess-16-01'"):
        ScriptedPolicy.from_oracle(tasks[0]).actions_for(tasks[1])
    no_oracle = tasks[0].model_copy(update={"oracle": None})
    with pytest.raises(ValueError, match="have no oracle"):
        ScriptedPolicy.from_oracle([no_oracle])


@pytest.mark.unit
def test_scripted_policy_as_token_ids_round_trips(tiny_tokenizer, scripted_policy) -> None:
    task = toy_tasks()[4]
    tokens = scripted_policy.from_oracle(task).as_token_ids(tiny_tokenizer)
    ids = tokens.actions_for(task)
    assert len(ids) == len(task.oracle or [])
    for action, action_ids in zip(task.oracle or [], ids, strict=True):
        assert action_ids[-1] == tiny_tokenizer.eos_token_id
        assert tiny_tokenizer.decode(action_ids) == action + tiny_tokenizer.eos_token
    assert tokens.act(task, 0) == ids[0]


@pytest.mark.unit
def test_thread_bound_registers_a_bound_copy_with_its_tasks(thread_bound) -> None:
    name = thread_bound("toy")
    assert name == "toy_thread_bound"
    adapter = make_adapter(name)
    assert isinstance(adapter, ThreadBoundAdapter) and adapter.name == "toy"
    assert [t.id for t in load_tasks(name)] == [t.id for t in toy_tasks()]
    assert {t.adapter for t in load_tasks(name)} == {name}
    with pytest.raises(ThreadAffinityError):
        run_on_new_thread(adapter.close, name="other")
    adapter.close()
    report = check_adapter(name, only=["oracle", "parallel_isolation", "thread_affinity"])
    assert report.ok, str(report)
    with pytest.raises(KeyError, match="no adapter 'nope' is registered"):
        thread_bound("nope")


@pytest.mark.unit
def test_tiny_model_scores_the_tiny_tokenizers_ids(tiny_model, tiny_tokenizer) -> None:
    import torch

    ids = torch.tensor([tiny_tokenizer("7 is too low.\n")["input_ids"]])
    logits = tiny_model(input_ids=ids).logits
    assert logits.shape == (1, ids.shape[1], tiny_model.config.vocab_size)
    assert tiny_model.config.vocab_size >= len(tiny_tokenizer)


# --- the plugin as an author uses it (a pytest run of its own) ---------------------------------


AUTHOR_TESTS = """
import pytest
from envlearn.builtins.toy import GuessNumber, toy_tasks
from envlearn.channels import Observation
from envlearn.testing import adapter_conformance_tests

pytest_plugins = ["envlearn.testing.pytest_plugin"]

made = []


class Forever(GuessNumber):
    def step(self, action_text):
        self._done = False
        return super().step(action_text)


test_toy = adapter_conformance_tests("toy", only=["oracle", "close"])
test_forever = adapter_conformance_tests(Forever, tasks=toy_tasks()[:2])


def test_make_adapter_builds(make_adapter):
    made.append(make_adapter("toy"))
    made.append(make_adapter(GuessNumber))
    assert not any(a.closed for a in made)


def test_make_adapter_closed_them_at_teardown():
    assert len(made) == 2 and all(a.closed for a in made)
"""


@pytest.mark.integration
def test_author_facing_plugin_in_its_own_pytest_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_author=textwrap.dedent(AUTHOR_TESTS))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-rA")
    # 2 toy checks + 15 checks of Forever (one fails) + 2 make_adapter tests
    result.assert_outcomes(passed=18, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_forever?check_step_after_done?*",
            "*check_step_after_done: step() after task 'guess-16-00' ended*",
            "*Fix: raise RuntimeError('step() after the episode ended: call reset()')*",
        ]
    )
    result.stdout.fnmatch_lines(["PASSED test_author.py::test_toy?check_oracle?"])
