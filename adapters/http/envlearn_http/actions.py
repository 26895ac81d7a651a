"""The action format: one HTTP/1.1-like request in a fenced ``http`` code block.

    ```http
    POST /items?dry_run=false
    Authorization: Bearer tok-123
    Content-Type: application/json

    {"name": "stapler", "quantity": 3}
    ```

The first line is ``METHOD TARGET`` (an optional ``HTTP/1.1`` after it is ignored); ``TARGET`` is
a path with an optional query string.  Header lines ``Name: value`` follow; a blank line then
starts the body.  A line starting with ``{`` or ``[`` in the header section also starts the body.

Which block is the action and whether the reply ends the episode is the core grammar's call
(:mod:`envlearn.actions`): the first ```` ```http ```` block (or bare ```` ``` ```` block) is the
request; the line ``TASK COMPLETE`` outside code blocks ends the episode, after the reply's
request, if any, is sent.  This module only reads the request inside the chosen block.

:func:`parse_action` never raises on model text: problems come back as
:attr:`ParsedAction.error`, a message saying what is wrong and how to write it instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from envlearn.actions import parse_action as core_parse_action

__all__ = [
    "METHODS",
    "HttpRequest",
    "ParsedAction",
    "Refused",
    "format_request",
    "parse_action",
    "resolve_target",
]

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MAX_HEADERS = 50
MAX_HEADER_VALUE = 8192

_REQUEST_LINE_RE = re.compile(r"^([A-Za-z]+)[ \t]+(\S+)(?:[ \t]+HTTP/\d(?:\.\d)?)?[ \t]*$")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_PATH_RE = re.compile(r"^/[\x21-\x7e]*$")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

EXAMPLE = "```http\nGET /items?page=2\nAuthorization: Bearer <token>\n```"


@dataclass
class HttpRequest:
    """One request as the model wrote it (target not yet checked against the base URL)."""

    method: str
    target: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


@dataclass
class ParsedAction:
    """What a reply asks for: at most one request, and whether it declares the task complete."""

    request: HttpRequest | None = None
    complete: bool = False
    error: str | None = None
    extra_requests: int = 0


def parse_request(block: str, *, max_body_bytes: int) -> HttpRequest | str:
    """Parse one block into an :class:`HttpRequest`, or return an error message."""
    lines = block.strip("\n").splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return f"the http block is empty: its first line must be METHOD PATH, e.g.\n{EXAMPLE}"
    m = _REQUEST_LINE_RE.match(lines[0].strip())
    if m is None:
        return (
            f"could not read the request line {lines[0].strip()[:80]!r}: write METHOD PATH on "
            "the first line, e.g. 'GET /items?page=2' (no spaces inside the path; encode them "
            "as %20)"
        )
    method, target = m.group(1).upper(), m.group(2)
    if method not in METHODS:
        return f"unsupported method {m.group(1)!r}: use one of {', '.join(METHODS)}"
    headers: list[tuple[str, str]] = []
    i = 1
    while i < len(lines):
        line = lines[i].rstrip("\r")
        if not line.strip():
            i += 1
            break
        if line.lstrip().startswith(("{", "[")):
            break
        name, sep, value = line.partition(":")
        if not sep or not _HEADER_NAME_RE.match(name.strip()):
            return (
                f"line {i + 1} {line.strip()[:80]!r} is not a header 'Name: value'; "
                "leave one blank line between the headers and the body"
            )
        value = value.strip()
        if len(value) > MAX_HEADER_VALUE:
            return f"header {name.strip()!r} is over {MAX_HEADER_VALUE} characters"
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            return f"header {name.strip()!r} has non-Latin-1 characters; HTTP headers cannot carry them"
        headers.append((name.strip(), value))
        if len(headers) > MAX_HEADERS:
            return f"more than {MAX_HEADERS} headers"
        i += 1
    body = "\n".join(lines[i:]).strip()
    size = len(body.encode("utf-8"))
    if size > max_body_bytes:
        return f"the request body is {size} bytes; the limit is {max_body_bytes} bytes"
    return HttpRequest(method=method, target=target, headers=headers, body=body)


def parse_action(text: str, *, max_body_bytes: int = 65536) -> ParsedAction:
    """Read a reply with the core grammar, then the chosen block as one HTTP request.

    The core (:func:`envlearn.actions.parse_action`) picks the first ```` ```http ```` (or bare)
    block and sees ``TASK COMPLETE``; this function only reads the block's request.
    """
    action = core_parse_action(text, languages={"http"}, bare=True, example=EXAMPLE)
    if action.body is None:
        if action.complete:
            return ParsedAction(complete=True)
        return ParsedAction(error=action.problem)
    parsed = parse_request(action.body, max_body_bytes=max_body_bytes)
    if isinstance(parsed, str):
        return ParsedAction(complete=action.complete, error=parsed)
    return ParsedAction(
        request=parsed, complete=action.complete, extra_requests=action.extra_blocks
    )


class Refused(ValueError):
    """A request the harness will not send (another host, port or scheme; a bad target)."""


def resolve_target(
    target: str, *, port: int, hosts: Collection[str] = ("127.0.0.1", "localhost")
) -> str:
    """The path+query to send for ``target``, or :class:`Refused` if it leaves the task's API.

    Only the target's own scheme and authority decide where it points: a target starting with
    one ``/`` is a path (whatever its query string holds, ``?next=http://x`` included) and
    always stays on the base URL.  An absolute URL is accepted only as ``http://HOST:PORT/...``
    with ``HOST`` one of ``hosts`` (the task's API) and the task's own ``port``.
    """
    if target.startswith("//"):
        raise Refused(
            f"{target[:80]!r} names another host; only this task's API can be reached: write a "
            "path such as /items"
        )
    if not target.startswith("/"):
        # only what comes before the query or fragment can be a scheme and authority
        head = re.split(r"[?#]", target, maxsplit=1)[0]
        if not _SCHEME_RE.match(head):
            raise Refused(
                f"the target {target[:80]!r} must start with '/', e.g. /{target.lstrip('./')[:40]}"
            )
        try:
            u = urlsplit(target)
            u_port = u.port
        except ValueError:
            raise Refused(
                f"{target[:80]!r} is not a valid URL; write a path such as /items"
            ) from None
        if u.scheme.lower() != "http":
            raise Refused(
                f"scheme {u.scheme!r} is not allowed; only this task's plain-HTTP API can be "
                "reached: write a path such as /items"
            )
        if u.username is not None or u.password is not None:
            raise Refused("URLs with user:password@ are not allowed; send an Authorization header")
        if (u.hostname or "").lower() not in hosts or u_port != port:
            raise Refused(
                f"{target[:80]!r} is outside this task's API; only the task's API can be "
                "reached: write a path such as /items"
            )
        target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    target = target.split("#", 1)[0]
    if not _PATH_RE.match(target):
        raise Refused(
            f"the path {target[:80]!r} has spaces or non-ASCII characters: percent-encode them "
            "(e.g. %20 for a space)"
        )
    return target


def format_request(
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> str:
    """An action text for one request (JSON bodies get a Content-Type header)."""
    lines = [f"{method} {path}"]
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, str):
        hdrs.setdefault("Content-Type", "application/json")
        body = json.dumps(body, ensure_ascii=False)
    lines += [f"{k}: {v}" for k, v in hdrs.items()]
    if body is not None:
        lines += ["", body]
    return "```http\n" + "\n".join(lines) + "\n```"
