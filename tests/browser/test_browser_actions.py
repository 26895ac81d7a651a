"""The browser action language: parsing model replies into calls (no browser needed)."""

from __future__ import annotations

import pytest
from envlearn_browser.actions import MAX_CALLS, BrowserCall, format_call, parse_line, parse_reply

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "line, call",
    [
        ("click(12)", BrowserCall("click", "12")),
        ("click([12])", BrowserCall("click", "12")),
        ('click("12")', BrowserCall("click", "12")),
        ('type(7, "alice, bob")', BrowserCall("type", "7", "alice, bob")),
        ("type(7, 'it\\'s \"ok\"')", BrowserCall("type", "7", 'it\'s "ok"')),
        ('type(7, "")', BrowserCall("type", "7", "")),
        ('press("Enter")', BrowserCall("press", None, "Enter")),
        ('press(3, "Control+a")', BrowserCall("press", "3", "Control+a")),
        ('select(9, "Bug report")', BrowserCall("select", "9", "Bug report")),
        ("scroll(down)", BrowserCall("scroll", None, "down")),
        ('scroll("UP")', BrowserCall("scroll", None, "up")),
        ('goto("/cart?x=1")', BrowserCall("goto", None, "/cart?x=1")),
        ("goto(/cart)", BrowserCall("goto", None, "/cart")),
        ("back()", BrowserCall("back")),
        ("  click(3);  ", BrowserCall("click", "3")),
    ],
)
def test_calls_parse(line, call):
    assert parse_line(line) == call


@pytest.mark.parametrize(
    "line, problem",
    [
        ("click 12", "is not a call"),
        ("hover(3)", "unknown action 'hover'"),
        ("click(x)", "'x' is not an element id"),
        ("click(1, 2)", "click takes 1 argument(s), got 2"),
        ("type(3, hello)", "put the text in quotes"),
        ('type(3, "open)', "a string is not closed"),
        ('press("Enter now")', "is not a key name"),
        ("scroll(left)", "direction must be up or down"),
        ('goto("")', "empty URL"),
        ("back(1)", "back takes 0 argument(s), got 1"),
    ],
)
def test_bad_calls_say_what_to_write(line, problem):
    got = parse_line(line)
    assert isinstance(got, str) and problem in got, got
    assert any(fix in got for fix in ("write ", "e.g. click(12)", "the actions are: click(12)"))


def test_format_call_round_trips():
    for call in [
        BrowserCall("click", "4"),
        BrowserCall("type", "2", 'say "hi" \\ bye'),
        BrowserCall("press", None, "Tab"),
        BrowserCall("press", "5", "Enter"),
        BrowserCall("select", "1", "Kenya"),
        BrowserCall("scroll", None, "down"),
        BrowserCall("goto", None, "/a?b=c"),
        BrowserCall("back"),
    ]:
        assert parse_line(format_call(call)) == call


def test_replies_use_the_core_grammar():
    r = parse_reply(
        'Let me sign in.\n```browser\ntype(1, "a")\n\n# then\nclick(3)\n```\nTASK COMPLETE'
    )
    assert [str(c) for c in r.calls] == ['type(1, "a")', "click(3)"] and r.complete
    assert r.problem is None
    assert parse_reply("TASK COMPLETE").complete and not parse_reply("TASK COMPLETE").calls
    assert "no code block" in parse_reply("I will click 3").problem
    assert "```browser" in parse_reply("```bash\nls\n```").problem
    r = parse_reply("```browser\nclick(1)\nfly()\nclick(2)\n```")
    assert [str(c) for c in r.calls] == ["click(1)"]
    assert "unknown action 'fly'" in r.problem and "The 1 call(s) before it ran." in r.problem
    many = "\n".join(f"click({i})" for i in range(MAX_CALLS + 3))
    r = parse_reply(f"```browser\n{many}\n```")
    assert len(r.calls) == MAX_CALLS and r.dropped == 3
