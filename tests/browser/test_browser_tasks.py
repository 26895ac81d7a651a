"""The bundled ``browser`` suite: every oracle solves its task, doing nothing does not, and the
suite has the promised shape (≥ 24 tasks, train and heldout, every kind of page)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from envlearn_browser.adapter import BrowserAdapter
from envlearn_browser.tasks import browser_tasks

from envlearn.plugins import load_tasks

pytestmark = pytest.mark.integration


def test_suite_shape():
    tasks = browser_tasks()
    assert len(tasks) >= 24 and len({t.id for t in tasks}) == len(tasks)
    splits = Counter(t.split for t in tasks)
    assert splits["train"] >= 16 and splits["heldout"] >= 6
    sites = Counter(t.data["site"] for t in tasks)
    assert set(sites) == {"login", "forms", "search", "table", "shop", "wizard", "dynamic"}
    assert all(t.oracle and len(t.oracle) <= t.max_turns for t in tasks)
    assert [t.id for t in load_tasks("browser")] == [t.id for t in tasks]
    assert {t.id for t in load_tasks("browser", "heldout")} == {
        t.id for t in tasks if t.split == "heldout"
    }


def test_every_oracle_solves_and_no_op_does_not():
    """Three episode threads share the one browser, each with its own contexts and servers."""
    tasks = browser_tasks()
    results: dict[str, tuple[float, float, bool]] = {}
    errors: list[str] = []

    def worker(chunk: list) -> None:
        a = BrowserAdapter()
        try:
            for task in chunk:
                a.reset(task, seed=0)
                no_op = a.score()  # doing nothing: the fresh state's score
                obs = None
                for reply in task.oracle:
                    obs = a.step(reply)
                results[task.id] = (a.score(), no_op, bool(obs and obs.done))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"{type(e).__name__}: {e}")
        finally:
            a.close()

    threads = [threading.Thread(target=worker, args=(tasks[k::3],)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert set(results) == {t.id for t in tasks}
    not_solved = {k: v for k, v in results.items() if v[0] != 1.0 or not v[2]}
    assert not not_solved, not_solved
    no_op_solves = {k: v[1] for k, v in results.items() if v[1] >= 1.0}
    assert not no_op_solves, no_op_solves


def test_partial_credit_where_a_task_has_parts():
    task = next(t for t in browser_tasks() if t.id == "web-login-change-email")
    a = BrowserAdapter()
    try:
        a.reset(task, seed=0)
        a.step(task.oracle[0])  # logged in, email not changed yet
        assert a.score() == 0.5
        a.step(task.oracle[1])
        obs = a.step('```browser\ntype(30, "not-an-email")\nclick(31)\n```')
        assert "That is not a valid email address." in obs.content_text("page")  # validation
        assert a.score() == 0.5
        a.step(task.oracle[2])
        assert a.score() == 1.0
    finally:
        a.close()
