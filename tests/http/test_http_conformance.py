"""A tiny conformance smoke test of the http adapter (the core's check_adapter goes further)."""

from __future__ import annotations

import pytest

from envlearn.channels import Adapter, Observation, Part
from envlearn.plugins import load_tasks, make_adapter

pytestmark = pytest.mark.integration

MALFORMED = [
    "",
    "   \n",
    "no request here",
    "```http\n```",
    "```http\nGET\n```",
    "```http\nTELEPORT /x\n```",
    "```http\nGET /x\nbroken header line\n```",
    "```json\n{}\n```",
    "```http\nGET /a b c\n```",
    "\x00\x1b[31m ünï 🤖",
    "x" * 50_000,
]


def _check(obs: object, declared: dict[str, str]) -> Observation:
    assert isinstance(obs, Observation)
    for p in obs.parts:
        assert isinstance(p, Part)
        assert p.channel in declared, f"undeclared channel {p.channel!r}"
        assert p.kind == declared[p.channel], f"{p.channel} emitted as {p.kind}"
    return obs


def test_http_adapter_conformance_smoke() -> None:
    adapter = make_adapter("http")
    assert isinstance(adapter, Adapter)
    declared = {c.name: c.kind for c in adapter.channels}
    assert {"http_status", "http_headers", "http_body"} <= declared.keys()
    task = load_tasks("http", "train")[0]
    task = task.model_copy(update={"max_turns": len(MALFORMED) + len(task.oracle or []) + 1})
    assert adapter.system_prompt(task).strip()

    _check(adapter.reset(task, seed=0), declared)
    for action in MALFORMED:
        obs = _check(adapter.step(action), declared)
        assert obs.parts and all(p.kind == "notice" for p in obs.parts), repr(action[:30])
        assert not obs.done
    for action in task.oracle or []:
        _check(adapter.step(action), declared)
    assert 0.0 <= adapter.score() <= 1.0
    adapter.close()
    adapter.close()
    with pytest.raises(RuntimeError):
        adapter.reset(task)


def test_bad_task_data_and_options_fail_with_a_clear_error() -> None:
    task = load_tasks("http")[0]
    adapter = make_adapter("http")
    with pytest.raises(ValueError, match="data\\['service'\\] is 'nope'; set it to one of"):
        adapter.reset(task.model_copy(update={"data": {"service": "nope"}}))
    with pytest.raises(ValueError, match="has no verifier 'nope'"):
        adapter.reset(task.model_copy(update={"data": {**task.data, "verifier": "nope"}}))
    with pytest.raises(RuntimeError, match="before reset"):
        adapter.step("TASK COMPLETE")
    adapter.close()
    with pytest.raises(ValueError, match="timeout_s must be a positive number"):
        make_adapter("http", timeout_s=0)
    both = task.model_copy(update={"data": {**task.data, "base_url": "http://127.0.0.1:9"}})
    with pytest.raises(ValueError) as e:
        make_adapter("http").reset(both)
    assert str(e.value) == (
        f"task {task.id}: set either data['service'] (a service the adapter starts) or "
        "data['base_url'] (an existing service), not both"
    )
