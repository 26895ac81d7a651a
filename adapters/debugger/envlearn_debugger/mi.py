"""A small parser for gdb's machine interface (GDB/MI 3) output records.

Each line gdb writes in MI mode is one record: a result (``12^done,bkpt={...}``), an async
record (``*stopped,reason="breakpoint-hit",...``, ``=thread-created,...``), a stream record
(``~"console text"``, ``@"target"``, ``&"log"``) or the prompt ``(gdb)``.  Values are C strings,
tuples ``{a=..,b=..}`` and lists ``[..]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MIError", "Record", "parse_cstring", "parse_record"]

_ESCAPES = {
    "n": b"\n",
    "t": b"\t",
    "r": b"\r",
    '"': b'"',
    "\\": b"\\",
    "a": b"\a",
    "b": b"\b",
    "f": b"\f",
    "v": b"\v",
    "e": b"\x1b",
    "'": b"'",
}
_HEAD_RE = re.compile(r"^(\d*)([\^*+=])([a-zA-Z-]+)")


class MIError(ValueError):
    """A line that is not a well-formed MI record."""


@dataclass
class Record:
    """One MI record: ``type`` is ``result``, ``exec``, ``status``, ``notify``, ``console``,
    ``target``, ``log`` or ``prompt``; ``cls`` the class (``done``, ``stopped``, ...),
    ``results`` its fields, ``text`` a stream record's bytes."""

    type: str
    cls: str = ""
    token: int | None = None
    results: dict[str, Any] = field(default_factory=dict)
    text: bytes = b""


def parse_cstring(s: str, i: int) -> tuple[bytes, int]:
    """The C string starting at ``s[i] == '"'``: its bytes and the index after its quote."""
    if i >= len(s) or s[i] != '"':
        raise MIError(f"expected a C string at column {i}: {s[i : i + 20]!r}")
    out = bytearray()
    i += 1
    while i < len(s):
        c = s[i]
        if c == '"':
            return bytes(out), i + 1
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n in "01234567":
                j = i + 1
                while j < len(s) and j < i + 4 and s[j] in "01234567":
                    j += 1
                out.append(int(s[i + 1 : j], 8) & 0xFF)
                i = j
                continue
            out += _ESCAPES.get(n, n.encode("utf-8", "surrogateescape"))
            i += 2
            continue
        out += c.encode("utf-8", "surrogateescape")
        i += 1
    raise MIError("unterminated C string")


def _value(s: str, i: int) -> tuple[Any, int]:
    if i >= len(s):
        raise MIError("value expected at end of line")
    c = s[i]
    if c == '"':
        b, i = parse_cstring(s, i)
        return b.decode("utf-8", "replace"), i
    if c == "{":
        return _results(s, i + 1, "}")
    if c == "[":
        i += 1
        items: list[Any] = []
        if i < len(s) and s[i] == "]":
            return items, i + 1
        while True:
            if s[i] in '"{[':
                v, i = _value(s, i)
                items.append(v)
            else:
                name, v, i = _result(s, i)
                items.append({name: v})
            if i < len(s) and s[i] == ",":
                i += 1
                continue
            if i < len(s) and s[i] == "]":
                return items, i + 1
            raise MIError(f"bad list at column {i}")
    raise MIError(f"unexpected {c!r} at column {i}")


def _result(s: str, i: int) -> tuple[str, Any, int]:
    j = s.find("=", i)
    if j < 0:
        raise MIError(f"'name=value' expected at column {i}")
    v, k = _value(s, j + 1)
    return s[i:j], v, k


def _results(s: str, i: int, end: str) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    if i < len(s) and s[i] == end:
        return out, i + 1
    while True:
        name, v, i = _result(s, i)
        out[name] = v
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        if i < len(s) and s[i] == end:
            return out, i + 1
        raise MIError(f"bad tuple at column {i}")


_STREAMS = {"~": "console", "@": "target", "&": "log"}
_ASYNC = {"^": "result", "*": "exec", "+": "status", "=": "notify"}


def parse_record(line: str) -> Record:
    """Parse one line of MI output (without its newline)."""
    line = line.rstrip("\r")
    if line.strip() == "(gdb)":
        return Record("prompt")
    if line[:1] in _STREAMS:
        text, _ = parse_cstring(line, 1)
        return Record(_STREAMS[line[0]], text=text)
    m = _HEAD_RE.match(line)
    if m is None:
        raise MIError(f"not an MI record: {line[:80]!r}")
    token = int(m.group(1)) if m.group(1) else None
    rec = Record(_ASYNC[m.group(2)], cls=m.group(3), token=token)
    i = m.end()
    if i < len(line):
        if line[i] != "," or i + 1 == len(line):
            raise MIError(f"',' expected after the record class: {line[:80]!r}")
        rec.results, _ = _results(line + "\x00", i + 1, "\x00")
    return rec
