"""MiniWoB++ through the browser adapter: pages from the ``miniwob`` wheel served over HTTP, the
page's instruction first, MiniWoB's own reward at the end, seeded."""

from __future__ import annotations

import re

import pytest
from envlearn_browser.adapter import BrowserAdapter
from envlearn_browser.miniwob_suite import EXCLUDED, EXPRESSIBLE, miniwob_pages, miniwob_tasks

pytestmark = pytest.mark.integration

# tasks that one or two clicks end (right or wrong): the scripted episode gets MiniWoB's verdict
SAMPLE = [
    "click-button", "click-link", "click-dialog", "click-dialog-2", "click-tab", "click-test",
    "click-test-2", "click-option", "click-checkboxes", "click-collapsible", "enter-text",
    "enter-password", "enter-date", "login-user", "choose-list", "simple-arithmetic",
    "odd-or-even", "find-word", "identify-shape", "count-sides", "use-spinner",
]  # fmt: skip


def _task(name: str):
    return next(t for t in miniwob_tasks() if t.data["miniwob"] == name)


def test_every_page_is_listed_or_excluded_with_a_reason():
    pages = set(miniwob_pages())
    assert len(pages) >= 100
    assert set(EXPRESSIBLE) | set(EXCLUDED) == pages
    assert not set(EXPRESSIBLE) & set(EXCLUDED)
    assert all(reason.strip() for reason in EXCLUDED.values())
    tasks = miniwob_tasks()
    assert len(tasks) == len(EXPRESSIBLE) and {t.split for t in tasks} == {"train", "heldout"}


def test_sample_loads_shows_instruction_and_returns_miniwobs_own_reward():
    """A scripted episode (click the last button or link, up to 3 times) on 21 tasks: each
    shows its instruction first and ends with MiniWoB's reward, which ``score`` reports."""
    assert len(SAMPLE) >= 20
    a = BrowserAdapter()
    try:
        for name in SAMPLE:
            obs = a.reset(_task(name), seed=0)
            instruction = obs.content_text("instruction")
            assert instruction.startswith("instruction: ") and len(instruction) > 20, name
            assert obs.parts[0].channel == "instruction"
            assert a.evaluate("() => core.getUtterance()") in instruction
            ids = re.findall(r"\[(\d+)\] (?:button|link|clickable)", obs.content_text("page"))
            assert ids, (name, obs.text)
            for i in ids[::-1][:3]:
                obs = a.step(f"```browser\nclick({i})\n```")
                if obs.done:
                    break
            assert obs.done, name
            info = obs.info["miniwob"]
            raw = a.evaluate("() => WOB_RAW_REWARD_GLOBAL")
            assert a.evaluate("() => WOB_DONE_GLOBAL") is True
            assert info["raw_reward"] == raw
            assert a.score() == max(0.0, min(1.0, raw)), name
            assert "[the MiniWoB++ episode is over]" in obs.text
    finally:
        a.close()


def _solve(a: BrowserAdapter, name: str) -> float:
    """Scripted solutions reading the instruction and the page tree, as a model would."""
    obs = a.reset(_task(name), seed=0)
    text, page = obs.content_text("instruction"), obs.content_text("page")

    def ids(role: str) -> list[tuple[str, str]]:
        return re.findall(rf'\[(\d+)\] {role} "((?:[^"\\]|\\.)*)"', page)

    if name == "click-button":
        want = re.search(r'Click on the "(.*)" button', text).group(1)
        reply = f"click({next(i for i, n in ids('button') if n == want)})"
    elif name == "enter-text":
        want = re.search(r'Enter "(.*)" into', text).group(1)
        box, _ = ids("textbox")[0]
        reply = f'type({box}, "{want}")\nclick({ids("button")[0][0]})'
    elif name == "login-user":
        user, pw = re.search(r'username "(.*)" and the password "(.*)" into', text).groups()
        (u, _), (p, _) = ids("textbox")[:2]
        reply = f'type({u}, "{user}")\ntype({p}, "{pw}")\nclick({ids("button")[0][0]})'
    elif name == "choose-list":
        want = re.search(r"Select (.*) from the list", text).group(1)
        sel = re.search(r"\[(\d+)\] combobox", page).group(1)
        reply = f'select({sel}, "{want}")\nclick({ids("button")[0][0]})'
    else:
        raise AssertionError(name)
    obs = a.step(f"```browser\n{reply}\n```")
    assert obs.done, (name, obs.text)
    return a.score()


@pytest.mark.parametrize("name", ["click-button", "enter-text", "login-user", "choose-list"])
def test_scripted_solutions_earn_miniwobs_reward(name):
    a = BrowserAdapter()
    try:
        assert _solve(a, name) == 1.0
    finally:
        a.close()


def test_seeds_give_the_same_page_and_different_seeds_differ():
    a = BrowserAdapter()
    try:
        task = _task("click-button")
        first = a.reset(task, seed=0).text
        again = a.reset(task, seed=0).text
        other = [a.reset(task, seed=s).text for s in (1, 2, 3)]
        assert first == again
        assert any(o != first for o in other)
    finally:
        a.close()


@pytest.mark.slow
def test_every_listed_task_loads_with_its_instruction_deterministically():
    """All listed MiniWoB++ tasks: the page loads, shows its instruction, raises no notice, and
    two adapters given the same seed see the same first observation (minutes)."""
    a, b = BrowserAdapter(), BrowserAdapter()
    problems = []
    try:
        for task in miniwob_tasks():
            first, second = a.reset(task, seed=3), b.reset(task, seed=3)
            if (
                first.text != second.text
                or len(first.content_text("instruction")) < 20
                or any(p.kind == "notice" for p in first.parts)
            ):
                problems.append(task.id)
    finally:
        a.close()
        b.close()
    assert not problems, problems
