"""The browser adapter against real Chromium: observations, isolation, dialogs, console, popups,
downloads, notices, determinism, and the browser process's life (one per run, nothing left)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from envlearn_browser.adapter import BrowserAdapter
from envlearn_browser.engine import BrowserEngine, shared_engine

from envlearn.channels import EpisodeError, Task
from envlearn.resources import run_scope

pytestmark = pytest.mark.integration


def _task(start: str = "/", site: str = "playground", max_turns: int = 8) -> Task:
    return Task(
        id=f"pg-{start}",
        adapter="browser",
        instruction="explore",
        max_turns=max_turns,
        data={"kind": "site", "site": site, "start": start, "verifier": "x"},
    )


def _act(*calls: str) -> str:
    return "```browser\n" + "\n".join(calls) + "\n```"


def _notices(obs) -> str:
    return "".join(p.text for p in obs.parts if p.kind == "notice")


@pytest.fixture
def adapter():
    a = BrowserAdapter()
    yield a
    a.close()


def test_first_observation_shows_url_title_and_page_with_ids(adapter):
    obs = adapter.reset(_task("/"), seed=0)
    assert obs.content_text("url") == "url: /\n"
    assert obs.content_text("title") == "title: Playground\n"
    page = obs.content_text("page")
    assert page.startswith('page:\n[100] heading "Playground"\n')
    assert '[1] link "Long"' in page and '[2] link "Away"' in page
    assert not obs.done and all(p.kind == "content" for p in obs.parts)


def test_outside_requests_are_aborted_and_reported(adapter):
    obs = adapter.reset(_task("/external"), seed=0)
    n = _notices(obs)
    # two images (another host, another port on 127.0.0.1) and a WebSocket to another port
    assert "[blocked 3 request(s) outside this site" in n, n
    assert obs.content_text("console") == ""  # the blocking is the harness's, not the page's
    obs = adapter.step(_act('goto("http://example.com/")'))
    assert "[navigation blocked: http://example.com/ is outside this task's site]" in _notices(obs)
    obs = adapter.step(_act('goto("file:///etc/passwd")'))
    assert "navigation blocked: file:///etc/passwd" in _notices(obs)
    obs = adapter.step(_act('goto("/")'))
    assert obs.content_text("url") == "url: /\n"
    obs = adapter.step(_act(f'goto("/{"x" * 1000}")'))  # a 404 page with a very long url
    assert obs.content_text("url") == f"url: /{'x' * 299}\n"
    assert "[url cut: 1001 characters, first 300 shown]" in _notices(obs)
    obs = adapter.step(_act('goto("/")'))
    obs = adapter.step(_act("click(2)"))  # a link to another host
    assert "navigation blocked" in _notices(obs)
    assert obs.content_text("url") == "url: /\n"  # back on the site
    obs = adapter.step(_act("click(3)"))  # a file:// link: Chromium refuses it from http pages
    assert obs.content_text("url") == "url: /\n"


def test_dialogs_console_errors_and_disabled_elements(adapter):
    obs = adapter.reset(_task("/console"), seed=0)
    assert obs.content_text("console") == "console: error: loaded with an error\n"
    obs = adapter.step(_act("click(1)"))
    assert obs.content_text("console") == (
        "console: error: boom at step\nconsole: error: undefinedFn is not defined\n"
    )
    obs = adapter.step(_act("click(2)"))
    assert obs.content_text("dialog") == "dialog: alert: Saved!\n"
    assert obs.content_text("console") == ""
    obs = adapter.step(_act("click(4)"))  # hidden: not on the page, not clickable
    assert _notices(obs) == "[element 4 is not visible on this page: click(4)]\n"
    obs = adapter.step(_act("click(77)"))
    assert _notices(obs) == "[element 77 not found on this page: click(77)]\n"
    assert "Hidden text" not in obs.content_text("page")


def test_action_on_a_disabled_button_times_out_with_a_notice():
    a = BrowserAdapter(action_timeout_s=0.5)
    try:
        a.reset(_task("/console"), seed=0)
        obs = a.step(_act("click(3)", "click(1)"))
        assert _notices(obs).startswith("[action timed out after 0.5 s: click(3)]\n")
        assert obs.content_text("console") == ""  # the call after the failed one did not run
    finally:
        a.close()


def test_popups_are_closed_and_downloads_refused(adapter):
    adapter.reset(_task("/popup"), seed=0)
    for call in ("click(1)", "click(2)"):
        obs = adapter.step(_act(call))
        assert _notices(obs) == (
            "[a popup/new tab for /long was not opened; use goto() to go there]\n"
        ), call
        assert obs.content_text("url") == "url: /popup\n"
    obs = adapter.step(_act('goto("/download")'))
    obs = adapter.step(_act("click(1)"))
    assert "[download refused" in _notices(obs)


def test_long_pages_are_cut_with_a_notice_and_scroll_moves_the_view():
    a = BrowserAdapter(max_page_chars=2000)
    try:
        obs = a.reset(_task("/long", max_turns=50), seed=0)
        page = obs.content_text("page")
        assert len(page) <= 2000 + len("page:\n")
        assert "[page cut: lines 1-" in _notices(obs) and "scroll(down) shows more" in _notices(obs)
        assert "Line number 0000" in page and "Line number 0399" not in page
        seen = page
        for _ in range(40):
            obs = a.step(_act("scroll(down)"))
            if "Line number 0399" in obs.content_text("page"):
                break
        assert "Line number 0399" in obs.content_text("page")
        assert "scroll(up) shows earlier lines" in _notices(obs)
        assert obs.content_text("page") != seen
    finally:
        a.close()


def test_the_page_tree_is_capped_in_lines(monkeypatch):
    import envlearn_browser.adapter as mod

    monkeypatch.setattr(mod, "MAX_TREE_LINES", 100)
    a = BrowserAdapter(max_page_chars=100_000)
    try:
        obs = a.reset(_task("/long"), seed=0)
        assert obs.content_text("page").count("\n") == 1 + 100
        assert "[the page has 302 more element(s) than can be shown]" in _notices(obs)
    finally:
        a.close()


def test_failed_calls_are_notices_that_name_the_problem(adapter):
    adapter.reset(_task("/signup", site="forms"), seed=0)
    for call, expect in [
        ('select(13, "Atlantis")', "[drop-down 13 has no option 'Atlantis'; it has 'Choose…', "),
        ('select(10, "x")', '[element 10 is not a drop-down: select(10, "x")]'),
        ('type(15, "hi")', '[element 15 does not support type: type(15, "hi")]'),
        ('press("Foo")', 'Unknown key: "Foo"'),
        ("back()", "[back(): there is no earlier page on this site]"),
    ]:
        obs = adapter.step(_act(call))
        assert expect in _notices(obs), (call, _notices(obs))
        assert obs.content_text("url") == "url: /signup\n"
    obs = adapter.step(_act('select(13, "Kenya")'))
    assert 'combobox "Country" value="Kenya"' in obs.content_text("page")


def test_malformed_replies_are_notices_and_the_page_is_unchanged(adapter):
    adapter.reset(_task("/"), seed=0)
    for reply, expect in [
        ("no block here", "no code block"),
        ("```browser\nteleport(3)\n```", "unknown action 'teleport'"),
        ("```browser\nclick(abc)\n```", "'abc' is not an element id"),
        ('```browser\ntype(1, "unclosed)\n```', "a string is not closed"),
        ("```browser\nscroll(sideways)\n```", "direction must be up or down"),
        ("```python\nclick(1)\n```", "actions go in ```browser block"),
    ]:
        obs = adapter.step(reply)
        assert expect in _notices(obs), (reply, _notices(obs))
        assert not obs.done
    obs = adapter.step(_act("click(1)", "bogus line"))  # the good call runs, then the problem
    assert obs.content_text("url") == "url: /long\n"
    assert "The 1 call(s) before it ran." in _notices(obs)


def test_same_task_same_actions_same_observations():
    task = _task("/", site="dynamic")
    actions = [_act('goto("/catalog")'), _act("click(10)"), _act("click(55)"), "TASK COMPLETE"]

    def play() -> list[str]:
        a = BrowserAdapter()
        try:
            texts = [a.reset(task, seed=0).text]
            texts += [a.step(x).text for x in actions]
            return texts
        finally:
            a.close()

    first, second = play(), play()
    assert first == second
    assert "You picked Gadget F." in first[3]


def test_step_after_done_and_bad_tasks_raise_clear_errors(adapter):
    with pytest.raises(RuntimeError, match="before reset"):
        adapter.step("TASK COMPLETE")
    with pytest.raises(ValueError, match="data\\['kind'\\] is None; set it to 'site' or 'miniwob'"):
        adapter.reset(Task(id="t", adapter="browser", instruction="x"))
    with pytest.raises(ValueError, match="data\\['site'\\] is 'nope'; set it to one of"):
        adapter.reset(_task(site="nope"))
    adapter.reset(_task("/", max_turns=1), seed=0)
    obs = adapter.step(_act("click(1)"))
    assert obs.done and "turn limit (1) reached" in _notices(obs)
    with pytest.raises(RuntimeError, match="after the episode ended"):
        adapter.step(_act("click(1)"))
    with pytest.raises(ValueError, match="max_page_chars must be a positive number"):
        BrowserAdapter(max_page_chars=0)


def test_one_browser_per_run_and_a_crashed_browser_is_replaced():
    with run_scope("crash-test"):
        a, b = BrowserAdapter(), BrowserAdapter()
        a.reset(_task("/"), seed=0)
        b.reset(_task("/"), seed=0)
        assert a._engine is b._engine  # one Chromium, two contexts
        engine = a._engine
        assert shared_engine() is engine  # the run's resource
        browser_pids = [
            p
            for p in engine.refresh_pids()
            if b"--type=" not in Path(f"/proc/{p}/cmdline").read_bytes()
            and b"chromium" in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        assert browser_pids
        os.kill(min(browser_pids), signal.SIGKILL)  # the browser process dies under us
        with pytest.raises(EpisodeError):
            for _ in range(3):
                a.step(_act('goto("/long")'))
        fresh = BrowserAdapter()
        obs = fresh.reset(_task("/"), seed=0)  # a new Chromium for the rest of the run
        assert obs.content_text("title") == "title: Playground\n" and fresh._engine is not engine
        for x in (a, b, fresh):
            x.close()
        engines = [engine, fresh._engine]
    for e in engines:  # the run ended: every process of both browsers is gone, zombies reaped
        assert e.closed
        assert not [p for p in e.pids if Path(f"/proc/{p}").exists()], e.pids


def test_engine_close_leaves_no_process_even_zombies():
    engine = BrowserEngine()
    pids = set(engine.pids)
    assert any(b"chromium" in Path(f"/proc/{p}/cmdline").read_bytes() for p in pids)
    engine.close()
    engine.close()
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]
    with pytest.raises(EpisodeError, match="was closed"):
        shared = engine.run(_noop(), 1.0)
        del shared


async def _noop() -> None:
    return None


def test_a_missing_chromium_fails_the_episode_with_the_fix():
    from envlearn_browser.engine import BrowserUnavailable

    with run_scope("no-chromium"):
        a = BrowserAdapter(chromium="/nonexistent/chromium")
        with pytest.raises(BrowserUnavailable, match="not an executable file; install Debian's"):
            a.reset(_task("/"), seed=0)
        assert isinstance(BrowserUnavailable("x"), EpisodeError)  # the rollout is marked failed
        a.close()


CHILD = """
import sys
from envlearn.channels import Task
from envlearn_browser.adapter import BrowserAdapter
a = BrowserAdapter()
a.reset(Task(id="x", adapter="browser", instruction="x",
             data={"kind": "site", "site": "playground"}), seed=0)
print(" ".join(map(str, sorted(a._engine.refresh_pids()))), flush=True)
if sys.argv[1] == "hang":
    sys.stdin.read()
"""


@pytest.mark.parametrize("how", ["exit", "killed"])
def test_no_browser_process_outlives_its_python_process(how):
    """Normal exit (no run scope: the default scope closes at exit) and SIGKILL (Playwright's
    driver sees its pipe close and takes Chromium down): every process is gone, reaped."""
    import subprocess
    import sys
    import time

    with subprocess.Popen(
        [sys.executable, "-c", CHILD, "hang" if how == "killed" else "exit"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            pids = [int(p) for p in proc.stdout.readline().split()]
            assert len(pids) >= 3
            if how == "killed":
                proc.kill()
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    deadline = time.monotonic() + 20
    left = pids
    while left and time.monotonic() < deadline:
        left = [p for p in left if Path(f"/proc/{p}").exists()]
        time.sleep(0.1)  # polling the process table with a deadline, not synchronising
    assert not left, [(p, Path(f"/proc/{p}/cmdline").read_bytes()[:80]) for p in left]
