"""The browser action language: one call per line in a fenced ```` ```browser ```` block.

::

    click(12)                 click the element with id 12 (ids are shown as [12] in the page)
    type(7, "alice")          clear the field with id 7, then type the text
    press("Enter")            press a key (on the focused element); press(7, "Tab") on element 7
    select(9, "Blue")         choose the option labelled Blue in drop-down 9
    scroll(down)              scroll the page (down or up)
    goto("/cart")             open a page of this site (a path, or the site's own full URL)
    back()                    go back one page

Up to :data:`MAX_CALLS` lines run in order in one reply; the observation comes after the last.
The block is found by the core grammar (:func:`envlearn.actions.parse_action`); this module
parses its body and never raises on model text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from envlearn.actions import Action, parse_action

__all__ = [
    "EXAMPLE",
    "LANGUAGES",
    "MAX_CALLS",
    "BrowserCall",
    "ParsedReply",
    "format_call",
    "parse_calls",
    "parse_reply",
]

LANGUAGES = frozenset({"browser"})
MAX_CALLS = 8
EXAMPLE = "```browser\nclick(12)\n```"

_KEYS = re.compile(
    r"^(?:[A-Za-z0-9]|F\d{1,2}|[A-Z][A-Za-z]+)(?:\+(?:[A-Za-z0-9]|[A-Z][A-Za-z]+))*$"
)
_CALL = re.compile(r"^([a-z_]+)\s*\((.*)\)\s*;?$", re.S)
_ARITY = {
    "click": ("id",),
    "type": ("id", "text"),
    "press": ("key",),
    "select": ("id", "text"),
    "scroll": ("dir",),
    "goto": ("url",),
    "back": (),
}
USAGE = {
    "click": "click(12)",
    "type": 'type(12, "text")',
    "press": 'press("Enter") or press(12, "Enter")',
    "select": 'select(12, "Option")',
    "scroll": "scroll(down) or scroll(up)",
    "goto": 'goto("/path")',
    "back": "back()",
}


@dataclass(frozen=True)
class BrowserCall:
    """One parsed call: ``name`` (click, type, ...), the element ``id`` it targets (if any) and
    its ``text`` argument (typed text, key, option, direction or URL)."""

    name: str
    id: str | None = None
    text: str | None = None

    def __str__(self) -> str:
        return format_call(self)


@dataclass(frozen=True)
class ParsedReply:
    """A reply understood: the calls to run, a problem to show (the first bad line: calls
    before it still run), whether the reply says TASK COMPLETE, and ignored extra lines."""

    calls: tuple[BrowserCall, ...] = ()
    problem: str | None = None
    complete: bool = False
    dropped: int = 0


def format_call(call: BrowserCall) -> str:
    """The canonical text of a call (what oracles write)."""

    def s(v: str | None) -> str:
        return '"' + (v or "").replace("\\", "\\\\").replace('"', '\\"') + '"'

    if call.name == "click":
        return f"click({call.id})"
    if call.name in ("type", "select"):
        return f"{call.name}({call.id}, {s(call.text)})"
    if call.name == "press":
        return f"press({call.id}, {s(call.text)})" if call.id else f"press({s(call.text)})"
    if call.name == "scroll":
        return f"scroll({call.text})"
    if call.name == "goto":
        return f"goto({s(call.text)})"
    return "back()"


def _split_args(raw: str) -> list[str] | str:
    """Split the argument list on top-level commas; string literals keep their commas."""
    args: list[str] = []
    cur: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(raw):
        ch = raw[i]
        if quote:
            cur.append(ch)
            if ch == "\\" and i + 1 < len(raw):
                cur.append(raw[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            cur.append(ch)
        elif ch == ",":
            args.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    if quote:
        return "a string is not closed (missing quote)"
    last = "".join(cur).strip()
    if last or args:
        args.append(last)
    return args


def _unquote(arg: str) -> str:
    if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "\"'":
        body = arg[1:-1]
        out: list[str] = []
        i = 0
        while i < len(body):
            if body[i] == "\\" and i + 1 < len(body):
                nxt = body[i + 1]
                out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
                i += 2
            else:
                out.append(body[i])
                i += 1
        return "".join(out)
    return arg


def _element_id(arg: str) -> str | None:
    v = _unquote(arg).strip().strip("[]")
    return v if v.isdigit() and len(v) <= 9 else None


def parse_line(line: str) -> BrowserCall | str:
    """One line → a call, or the problem (a sentence naming the fix)."""
    m = _CALL.match(line.strip())
    if not m:
        return f"{line.strip()[:60]!r} is not a call; write one call per line, e.g. click(12)"
    name, raw = m.group(1), m.group(2)
    if name not in _ARITY:
        known = ", ".join(USAGE.values())
        return f"unknown action {name!r}; the actions are: {known}"
    args = _split_args(raw)
    if isinstance(args, str):
        return f"{name}: {args}; write {USAGE[name]}"
    usage = f"write {USAGE[name]}"
    if name == "press" and len(args) == 2:
        el = _element_id(args[0])
        key = _unquote(args[1]).strip()
        if el is None:
            return f"press: {args[0][:30]!r} is not an element id; {usage}"
        if not _KEYS.match(key):
            return f"press: {key[:30]!r} is not a key name (Enter, Tab, ArrowDown, a, ...); {usage}"
        return BrowserCall("press", el, key)
    want = _ARITY[name]
    if len(args) != len(want):
        return f"{name} takes {len(want)} argument(s), got {len(args)}; {usage}"
    el: str | None = None
    text: str | None = None
    for kind, arg in zip(want, args, strict=True):
        if kind == "id":
            el = _element_id(arg)
            if el is None:
                return (
                    f"{name}: {arg[:30]!r} is not an element id (a number shown as [12]); {usage}"
                )
        elif kind == "text":
            if not (len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "\"'"):
                return f"{name}: put the text in quotes; {usage}"
            text = _unquote(arg)
        elif kind == "key":
            text = _unquote(arg).strip()
            if not _KEYS.match(text):
                return (
                    f"press: {text[:30]!r} is not a key name (Enter, Tab, ArrowDown, a, ...); "
                    + usage
                )
        elif kind == "dir":
            text = _unquote(arg).strip().lower()
            if text not in ("up", "down"):
                return f"scroll: direction must be up or down, got {text[:20]!r}; {usage}"
        elif kind == "url":
            text = _unquote(arg).strip()
            if not text:
                return f"goto: empty URL; {usage}"
    return BrowserCall(name, el, text)


def parse_calls(body: str) -> tuple[list[BrowserCall], str | None, int]:
    """Every call of a block body (blank lines and ``#`` comments skipped): the calls up to the
    first bad line, that line's problem, and how many lines past :data:`MAX_CALLS` were dropped."""
    calls: list[BrowserCall] = []
    lines = [ln for ln in body.split("\n") if ln.strip() and not ln.strip().startswith("#")]
    dropped = max(0, len(lines) - MAX_CALLS)
    for line in lines[:MAX_CALLS]:
        got = parse_line(line)
        if isinstance(got, str):
            return calls, got, dropped
        calls.append(got)
    return calls, None, dropped


def parse_reply(text: str) -> ParsedReply:
    """A model reply → the calls in its first ```browser block (never raises)."""
    action: Action = parse_action(text, languages=LANGUAGES, bare=True, example=EXAMPLE)
    if action.body is None:
        if action.complete:
            return ParsedReply(complete=True)
        return ParsedReply(problem=action.problem, complete=False)
    calls, problem, dropped = parse_calls(action.body)
    if problem is not None:
        problem = f"{problem}. " + (
            f"The {len(calls)} call(s) before it ran." if calls else "Nothing ran."
        )
    return ParsedReply(tuple(calls), problem, action.complete, dropped)
