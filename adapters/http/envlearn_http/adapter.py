"""``http``: the model talks to a local REST API one request per turn.

Each episode starts the task's service (``services/``) in a thread on ``127.0.0.1`` at a free
port, with fresh state; ``close()`` (or the next ``reset``) stops it.  A task may instead name an
existing service on a loopback address and port (``data["base_url"]``, a user's own API under
test).  Requests only ever go to that base URL: the harness opens every connection itself to
``HOST:PORT`` and refuses targets naming any other host, port or scheme before anything is sent.

Every response is bounded: one deadline covers connect, request, headers and body, whatever the
server does (each socket call waits at most for what is left of it); at most
``max_response_bytes`` are read, and compressed bodies (gzip, deflate, brotli when a decoder is
installed) are decoded up to that many bytes.  A body that cannot be decoded becomes a notice,
never trained text.

Observation channels, in order: ``http_status`` (``HTTP/1.1 201 Created``), ``http_headers`` (a
fixed subset, names lowercased, sorted, then a blank line), ``http_body`` (JSON pretty-printed,
else text; cut at ``max_body_chars`` with a notice).  Harness messages (format hints,
refusals, timeouts, connection errors, truncation) are ``notice`` parts.
"""

from __future__ import annotations

import codecs
import functools
import http.client
import ipaddress
import json
import socket
import time
import zlib
from types import ModuleType
from typing import Any, ClassVar
from urllib.parse import urlsplit

from envlearn.channels import (
    BaseAdapter,
    ChannelSpec,
    EpisodeError,
    Observation,
    Part,
    Task,
    content,
    notice,
)
from envlearn_http.actions import HttpRequest, Refused, parse_action, resolve_target
from envlearn_http.server import Service, ServiceServer
from envlearn_http.services import SERVICES

__all__ = ["SHOWN_HEADERS", "HttpAdapter", "pretty_json"]

SHOWN_HEADERS = frozenset(
    {
        "allow",
        "content-type",
        "link",
        "location",
        "retry-after",
        "www-authenticate",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-total-count",
    }
)
"""Response headers shown to the model; the rest (Date, Server, Content-Length, ...) vary or
repeat what the body says."""

HARNESS_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "expect", "te"})
"""Request headers the harness sets itself; the model's values are dropped with a notice."""

JSON_WIDTH = 140
"""JSON bodies are indented, but arrays/objects that fit in this many columns stay on a line."""

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")

SYSTEM_PROMPT = """\
You are operating a REST API over HTTP. Each reply may send one request, written in a fenced \
code block tagged http:

```http
POST /items?notify=false
Authorization: Bearer <token>
Content-Type: application/json

{"name": "stapler", "quantity": 3}
```

The first line is METHOD PATH (add a query string after ?; percent-encode spaces as %20). \
Header lines follow, then a blank line and the body, if any (a JSON body without a \
Content-Type header is sent as application/json). Paths are relative to the API root; no other \
host can be reached. You will see the status line, the relevant response headers and the body \
(long bodies are cut). When the task is done, write the line TASK COMPLETE (it may follow your \
last request in the same reply).
"""


class HttpAdapter(BaseAdapter):
    """One REST service per episode; one request per step."""

    name: ClassVar[str] = "http"
    channels: ClassVar[tuple[ChannelSpec, ...]] = (
        ChannelSpec(name="http_status", description="status line, e.g. 'HTTP/1.1 200 OK'"),
        ChannelSpec(name="http_headers", description="filtered response headers, sorted"),
        ChannelSpec(name="http_body", description="response body: pretty JSON or text"),
        ChannelSpec(
            name="notice",
            kind="notice",
            description="format hints, refusals, timeouts, connection errors, truncation",
        ),
    )
    deterministic: ClassVar[bool] = True

    def __init__(
        self,
        *,
        timeout_s: float = 5.0,
        max_body_chars: int = 4000,
        max_response_bytes: int = 1_000_000,
        max_request_bytes: int = 65_536,
    ) -> None:
        for opt, value in [
            ("timeout_s", timeout_s),
            ("max_body_chars", max_body_chars),
            ("max_response_bytes", max_response_bytes),
            ("max_request_bytes", max_request_bytes),
        ]:
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(
                    f"http adapter option {opt} must be a positive number, got {value!r}"
                )
        self.timeout_s = float(timeout_s)
        self.max_body_chars = int(max_body_chars)
        self.max_response_bytes = int(max_response_bytes)
        self.max_request_bytes = int(max_request_bytes)
        self._task: Task | None = None
        self._service: Service | None = None
        self._server: ServiceServer | None = None
        self._external: ExternalService | None = None
        self._turns = 0
        self._done = False
        self.closed = False

    # ------------------------------------------------------------------ lifecycle

    def system_prompt(self, task: Task) -> str:
        """The action format, plus the service's OpenAPI description unless the task hides it.

        A task on an existing service (``data["base_url"]``) may carry its OpenAPI document in
        ``data["openapi"]`` (a dict or a JSON string).
        """
        prompt = SYSTEM_PROMPT
        openapi = task.data.get("openapi", True)
        if "base_url" in task.data:
            doc = (
                json.dumps(openapi, separators=(",", ":"), ensure_ascii=False)
                if isinstance(openapi, dict)
                else openapi
                if isinstance(openapi, str)
                else None
            )
        elif openapi:
            service = _service_class(task)(task.data.get("setup", {}), secret=_secret(task))
            doc = json.dumps(service.openapi(), separators=(",", ":"), ensure_ascii=False)
        else:
            doc = None
        if doc:
            prompt += f"\nThe API's OpenAPI description:\n{doc}\n"
        return prompt

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        """Start the task's service with fresh state (``seed`` is unused: state is per task).

        A task naming an existing service (``data["base_url"]``) starts nothing: its service must
        already answer on that loopback address (``EpisodeError`` otherwise), and
        ``data["reset_path"]``, if set, is POSTed to first.
        """
        if self.closed:
            raise RuntimeError("http adapter is closed; make a new one")
        external = ExternalService.from_task(task) if "base_url" in task.data else None
        cls = None if external else _service_class(task)
        verifier = task.data.get("verifier")
        if cls is not None and verifier is not None and verifier not in cls.verifiers:
            known = ", ".join(sorted(cls.verifiers)) or "none"
            raise ValueError(
                f"task {task.id}: service {cls.name!r} has no verifier {verifier!r} (has: {known})"
            )
        self._stop_server()
        self._task = task
        self._turns = 0
        self._done = False
        self._service = None
        self._external = external
        if external is not None:
            external.prepare(self.timeout_s)
            base_url = external.base_url
        else:
            assert cls is not None
            self._service = cls(task.data.get("setup", {}), secret=_secret(task))
            self._server = ServiceServer(self._service)
            base_url = self._server.base_url
        return Observation(
            parts=[notice("[the API is running; send your first request]\n")],
            info={"base_url": base_url},
        )

    def step(self, action_text: str) -> Observation:
        """Send the reply's request (if any) and show the response; never raises on bad text.

        The core grammar picks the request block and sees ``TASK COMPLETE``; a reply with both
        sends the request, then ends the episode.  Turn budgets are the engine's.
        """
        if self.closed:
            raise RuntimeError("http adapter is closed; make a new one")
        if self._task is None or (self._server is None and self._external is None):
            raise RuntimeError("step() before reset(): call reset(task) first")
        if self._done:
            raise RuntimeError("step() after the episode ended: call reset(task) for a new one")
        self._turns += 1
        parsed = parse_action(action_text, max_body_bytes=self.max_request_bytes)
        parts: list[Part] = []
        info: dict[str, Any] = {"turn": self._turns}
        if parsed.error is not None:
            parts.append(notice(f"[invalid request: {parsed.error}]\n"))
            info["invalid"] = True
        elif parsed.request is not None:
            parts += self._send(parsed.request, info)
            if parsed.extra_requests:
                parts.append(
                    notice(
                        f"[only the first request was sent; {parsed.extra_requests} more "
                        "http block(s) ignored: send one request per reply]\n"
                    )
                )
        done = parsed.complete
        if done:
            parts.append(notice("[TASK COMPLETE: episode over]\n"))
            info["complete"] = True
        self._done = done
        return Observation(parts=parts, done=done, info=info)

    def score(self) -> float:
        """The task's verifier on the service's in-memory state (works after close too).

        For a task on an existing service: ``GET data["score_path"]`` must answer a JSON number
        or ``{"score": number}`` (``EpisodeError`` otherwise); without ``score_path``, 0.0.
        """
        if self._task is None or (self._service is None and self._external is None):
            raise RuntimeError("score() before reset(): call reset(task) first")
        if self._external is not None:
            return self._external.score(self.timeout_s)
        assert self._service is not None
        verifier = self._task.data.get("verifier")
        if verifier is None:
            return 0.0
        return self._service.verify(verifier, self._task.data.get("expect", {}))

    def close(self) -> None:
        """Stop the service; safe to call twice."""
        self._stop_server()
        self.closed = True

    # ------------------------------------------------------------------ for tests and tools

    @property
    def base_url(self) -> str | None:
        """The episode's API: ``http://127.0.0.1:PORT`` (or the task's ``base_url``), or None."""
        if self._external is not None:
            return self._external.base_url
        return self._server.base_url if self._server else None

    @property
    def service(self) -> Service | None:
        """The current episode's service (its state is what the verifier reads)."""
        return self._service

    @property
    def server(self) -> ServiceServer | None:
        """The current episode's server."""
        return self._server

    # ------------------------------------------------------------------ internals

    def _stop_server(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def _endpoint(self) -> tuple[str, int, tuple[str, ...]]:
        """(address to connect to, port, host names a target or Host header may use)."""
        if self._external is not None:
            e = self._external
            return e.address, e.port, e.names
        assert self._server is not None
        return "127.0.0.1", self._server.port, ("127.0.0.1", "localhost")

    def _send(self, req: HttpRequest, info: dict[str, Any]) -> list[Part]:
        """Send one request to the episode's service; the observation parts of its answer."""
        address, port, names = self._endpoint()
        info["request"] = f"{req.method} {req.target}"
        try:
            target = resolve_target(req.target, port=port, hosts=names)
            host = req.header("host")
            allowed = {_authority(n, port) for n in names}
            if host is not None and host.lower() not in allowed:
                raise Refused(
                    f"Host {host[:80]!r} is outside this task's API; remove the Host header "
                    "(the harness sets it)"
                )
        except Refused as e:
            info["refused"] = True
            return [notice(f"[refused: {e}]\n")]
        headers: dict[str, str] = {}
        dropped: list[str] = []
        for k, v in req.headers:
            if k.lower() == "host":
                continue
            if k.lower() in HARNESS_HEADERS:
                dropped.append(k)
                continue
            headers[k] = v
        body = req.body.encode("utf-8") if req.body else None
        if body is not None and not any(k.lower() == "content-type" for k in headers):
            try:
                json.loads(req.body)
                headers["Content-Type"] = "application/json"
            except ValueError:
                headers["Content-Type"] = "text/plain; charset=utf-8"
        headers["Connection"] = "close"
        after: list[Part] = []  # notices about the request go after the response
        if dropped:
            after.append(
                notice(f"[ignored header(s) {', '.join(dropped)}: the harness sets them]\n")
            )
        try:
            resp, data, overflow = fetch(
                address,
                port,
                req.method,
                target,
                body=body,
                headers=headers,
                timeout_s=self.timeout_s,
                max_bytes=self.max_response_bytes,
            )
        except TimeoutError:
            info["timeout"] = True
            return [
                *after,
                notice(f"[timeout: no complete response within {self.timeout_s:g} s]\n"),
            ]
        except (OSError, http.client.HTTPException) as e:
            info["connection_error"] = True
            reason = str(e) or type(e).__name__
            return [*after, notice(f"[connection error: {type(e).__name__}: {reason[:200]}]\n")]
        info["status"] = resp.status
        version = "HTTP/1.0" if resp.version == 10 else "HTTP/1.1"
        reason = resp.reason.encode("latin-1", "replace").decode("ascii", "replace")[:100]
        parts = [content("http_status", f"{version} {resp.status} {reason}\n")]
        shown = sorted(
            ((k.lower(), v[:1000]) for k, v in resp.getheaders() if k.lower() in SHOWN_HEADERS),
            key=lambda kv: kv[0],
        )
        parts.append(content("http_headers", "".join(f"{k}: {v}\n" for k, v in shown) + "\n"))
        return parts + self._body_parts(resp, data, overflow) + after

    def _body_parts(
        self, resp: http.client.HTTPResponse, data: bytes, overflow: bool
    ) -> list[Part]:
        """The body as content (an exact prefix when cut), then a notice if it was cut.

        Content-Encoding is undone first (bounded by ``max_response_bytes``); a body that cannot
        be decoded, binary or not valid text in its charset is a notice, never content.
        """
        if not data:
            return []
        cap = self.max_response_bytes
        why = f"the response was over {cap} bytes and the rest was not read" if overflow else ""
        raw_size = f"{len(data)} bytes{' (or more)' if overflow else ''}"
        codings = [
            c.strip().lower()
            for c in (resp.getheader("Content-Encoding") or "").split(",")
            if c.strip() and c.strip().lower() != "identity"
        ]
        if codings:
            label = ", ".join(codings)
            try:
                data, bomb = decode_content(data, codings, cap)
            except UndecodableBody as e:
                return [notice(f"[body not shown: {raw_size} encoded as {label!r}; {e}]\n")]
            if bomb:
                why = f"the {label}-decoded body is over {cap} bytes and the rest was not decoded"
            overflow = overflow or bomb
            raw_size = f"{len(data)} bytes{' (or more)' if overflow else ''}"
        ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
        if ctype and not (ctype.startswith(_TEXT_TYPES) or ctype.endswith(("+json", "+xml"))):
            return [notice(f"[binary body not shown: {raw_size} of {ctype}]\n")]
        charset = resp.headers.get_content_charset() or "utf-8"
        try:
            if not codecs.lookup(charset)._is_text_encoding:
                charset = "utf-8"  # e.g. charset=base64: not a text encoding
        except LookupError:
            charset = "utf-8"  # an unknown charset: read as UTF-8 (or show a notice)
        text = _decode_text(data, charset, cut=overflow)
        if text is None:
            what = ctype or "no content type"
            return [
                notice(
                    f"[binary body not shown: {raw_size} that are not valid {charset} ({what})]\n"
                )
            ]
        if not overflow and ctype.endswith("json"):
            try:
                text = pretty_json(json.loads(text))
            except (ValueError, RecursionError):
                pass
        if len(text) > self.max_body_chars:
            return [
                content("http_body", text[: self.max_body_chars]),
                notice(
                    f"\n[http_body truncated: showing the first {self.max_body_chars} of "
                    f"{len(text)}{'+' if overflow else ''} characters{'; ' + why if why else ''}]\n"
                ),
            ]
        if overflow:
            return [content("http_body", text), notice(f"\n[http_body truncated: {why}]\n")]
        return [content("http_body", text if text.endswith("\n") else text + "\n")]


# ---------------------------------------------------------------------- existing services


class ExternalService:
    """A task's existing service on a loopback address (``data["base_url"]``): nothing is
    started or stopped; only that address and port can be reached.

    ``data["reset_path"]`` (optional) is POSTed at ``reset`` (a 2xx answer is expected);
    ``data["score_path"]`` (optional) is read by ``score``: a 2xx answer holding a JSON number
    or ``{"score": x}``.
    """

    def __init__(
        self, base_url: str, *, reset_path: str | None = None, score_path: str | None = None
    ) -> None:
        problem = (
            f"base_url {base_url!r} must be http://HOST:PORT on a loopback address "
            "(127.0.0.1, another 127.x.y.z, [::1] or localhost), with an explicit port and "
            "no path: only a service on this machine's loopback can be a task's API"
        )
        try:
            u = urlsplit(base_url)
            port = u.port
        except ValueError:
            raise ValueError(problem) from None
        host = (u.hostname or "").lower()
        if (
            u.scheme != "http"
            or port is None
            or u.username is not None
            or u.path not in ("", "/")
            or u.query
            or not _is_loopback(host)
        ):
            raise ValueError(problem)
        for key, path in [("reset_path", reset_path), ("score_path", score_path)]:
            if path is not None and (not isinstance(path, str) or not path.startswith("/")):
                raise ValueError(f"{key} must be a path starting with '/', got {path!r}")
        self.host = host
        self.port = port
        self.address = "127.0.0.1" if host == "localhost" else host
        names = {host, self.address}
        if names & {"localhost", "127.0.0.1"}:
            names |= {"localhost", "127.0.0.1"}
        self.names = tuple(sorted(names))
        self.base_url = f"http://{_authority(host, port)}"
        self.reset_path = reset_path
        self.score_path = score_path

    @classmethod
    def from_task(cls, task: Task) -> ExternalService:
        """The task's service; ``ValueError`` naming the task when its data is wrong."""
        if "service" in task.data:
            raise ValueError(
                f"task {task.id}: set either data['service'] (a service the adapter starts) or "
                "data['base_url'] (an existing service), not both"
            )
        try:
            return cls(
                str(task.data["base_url"]),
                reset_path=task.data.get("reset_path"),
                score_path=task.data.get("score_path"),
            )
        except ValueError as e:
            raise ValueError(f"task {task.id}: {e}") from None

    def _call(self, method: str, path: str, timeout_s: float) -> tuple[int, bytes]:
        try:
            resp, data, _ = fetch(
                self.address,
                self.port,
                method,
                path,
                body=b"" if method == "POST" else None,
                headers={"Connection": "close"},
                timeout_s=timeout_s,
                max_bytes=65_536,
            )
        except (OSError, http.client.HTTPException) as e:
            raise EpisodeError(
                f"the task's service at {self.base_url} did not answer {method} {path}: "
                f"{type(e).__name__}: {e}; start it (and check the port) before the run"
            ) from None
        return resp.status, data

    def prepare(self, timeout_s: float) -> None:
        """Check the service answers (and POST ``reset_path`` if set); ``EpisodeError`` if not."""
        if self.reset_path is None:
            try:
                with socket.create_connection((self.address, self.port), timeout=timeout_s):
                    pass
            except OSError as e:
                raise EpisodeError(
                    f"the task's service at {self.base_url} is not listening "
                    f"({type(e).__name__}: {e}); start it before the run"
                ) from None
            return
        status, _ = self._call("POST", self.reset_path, timeout_s)
        if not 200 <= status < 300:
            raise EpisodeError(
                f"the task's service at {self.base_url} answered {status} to POST "
                f"{self.reset_path}; it must reset its state and answer 2xx"
            )

    def score(self, timeout_s: float) -> float:
        """``GET score_path`` as a number in [0, 1]; 0.0 without a ``score_path``."""
        if self.score_path is None:
            return 0.0
        status, data = self._call("GET", self.score_path, timeout_s)
        try:
            if not 200 <= status < 300:
                raise ValueError(status)
            value = json.loads(data)
            if isinstance(value, dict):
                value = value["score"]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise EpisodeError(
                f"GET {self.score_path} on {self.base_url} answered {status} "
                f'{data[:80]!r}; it must answer 2xx with a JSON number or {{"score": number}}'
            ) from None
        return min(1.0, max(0.0, float(value)))


# ---------------------------------------------------------------------- bounded fetch


class _DeadlineSocket(socket.socket):
    """A socket whose every blocking call waits at most until ``deadline`` (monotonic)."""

    deadline: float = 0.0

    def _arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the response deadline passed")
        self.settimeout(left)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """``socket.recv`` within the deadline."""
        self._arm()
        return super().recv(bufsize, flags)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """``socket.recv_into`` within the deadline (what ``http.client`` reads with)."""
        self._arm()
        return super().recv_into(buffer, nbytes, flags)

    def send(self, data: Any, flags: int = 0) -> int:
        """``socket.send`` within the deadline."""
        self._arm()
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        """``socket.sendall`` within the deadline."""
        self._arm()
        super().sendall(data, flags)


class _DeadlineConnection(http.client.HTTPConnection):
    """An ``HTTPConnection`` whose socket enforces one deadline over the whole exchange."""

    def __init__(self, host: str, port: int, deadline: float) -> None:
        super().__init__(host, port, timeout=max(0.001, deadline - time.monotonic()))
        self._deadline = deadline

    def connect(self) -> None:
        """Connect within the deadline (no DNS: the host is an address literal)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = _DeadlineSocket(family, socket.SOCK_STREAM)
        sock.deadline = self._deadline
        try:
            sock._arm()
            sock.connect((self.host, self.port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def fetch(
    address: str,
    port: int,
    method: str,
    target: str,
    *,
    body: bytes | None,
    headers: dict[str, str],
    timeout_s: float,
    max_bytes: int,
) -> tuple[http.client.HTTPResponse, bytes, bool]:
    """One request; (response, at most ``max_bytes`` of its raw body, whether more was left).

    ``timeout_s`` bounds the whole exchange (connect, send, status line, headers, body):
    ``TimeoutError`` past it, however slowly the server drips its answer.
    """
    deadline = time.monotonic() + timeout_s
    conn = _DeadlineConnection(address, port, deadline)
    try:
        conn.request(method, target, body=body, headers=headers)
        resp = conn.getresponse()
        data, overflow = _read_capped(resp, max_bytes, deadline)
    finally:
        conn.close()
    return resp, data, overflow


# ---------------------------------------------------------------------- content codings


class UndecodableBody(ValueError):
    """A body whose Content-Encoding the harness cannot undo (unknown coding, corrupt data)."""


@functools.cache
def brotli_decoder() -> ModuleType | None:
    """The ``brotli`` module if one is installed that can bound its output, else None."""
    try:
        import brotli  # type: ignore[import-not-found,unused-ignore]

        brotli.Decompressor().process(b"", output_buffer_limit=1)
    except (ImportError, TypeError, AttributeError):
        return None
    except Exception:  # an error on empty input still means the API is there
        pass
    return brotli


def _zlib_decode(data: bytes, wbits: int, cap: int) -> tuple[bytes, bool]:
    d = zlib.decompressobj(wbits)
    out = d.decompress(data, cap + 1)
    if len(out) > cap:
        return out[:cap], True
    if wbits & 16:  # gzip: further members follow back to back
        while d.eof and d.unused_data and len(out) < cap + 1:
            rest = d.unused_data
            d = zlib.decompressobj(wbits)
            out += d.decompress(rest, cap + 1 - len(out))
        if len(out) > cap:
            return out[:cap], True
    return out, False


def decode_content(data: bytes, codings: list[str], cap: int) -> tuple[bytes, bool]:
    """Undo ``codings`` (as listed in Content-Encoding, applied in that order) on ``data``.

    Never produces more than ``cap`` bytes at any stage (a decompression bomb stops there);
    returns (decoded bytes, whether the output was cut at ``cap``).  ``UndecodableBody`` for an
    unknown coding or data that is not in it.  A stream cut short (because the raw body was)
    decodes as far as it goes.
    """
    cut = False
    for coding in reversed(codings):
        try:
            if coding in ("gzip", "x-gzip"):
                data, bomb = _zlib_decode(data, 16 + zlib.MAX_WBITS, cap)
            elif coding == "deflate":  # zlib-wrapped per the RFC; raw deflate in the wild
                try:
                    data, bomb = _zlib_decode(data, zlib.MAX_WBITS, cap)
                except zlib.error:
                    data, bomb = _zlib_decode(data, -zlib.MAX_WBITS, cap)
            elif coding == "br":
                brotli = brotli_decoder()
                if brotli is None:
                    raise UndecodableBody(
                        "no brotli decoder is installed (pip install 'brotli>=1.2')"
                    )
                try:
                    out = brotli.Decompressor().process(data, output_buffer_limit=cap + 1)
                except brotli.error as e:
                    raise UndecodableBody(f"the br data does not decode ({e})") from None
                data, bomb = out[:cap], len(out) > cap
            else:
                raise UndecodableBody(f"the harness cannot decode {coding!r}")
        except zlib.error as e:
            raise UndecodableBody(f"the {coding} data does not decode ({e})") from None
        cut = cut or bomb
    return data, cut


def _decode_text(data: bytes, charset: str, *, cut: bool) -> str | None:
    """``data`` as text in ``charset``, or None when it is not valid text in it.

    When the body was cut, a character split by the cut is dropped.
    """
    try:
        return data.decode(charset)
    except UnicodeDecodeError as e:
        if cut and e.start >= len(data) - 4 and e.reason.startswith("unexpected end"):
            try:
                return data[: e.start].decode(charset)
            except UnicodeDecodeError:
                return None
        return None


def pretty_json(value: Any, width: int = JSON_WIDTH, indent: int = 0, prefix: int = 0) -> str:
    """JSON indented by 2, but any array or object that fits in ``width`` stays on one line."""
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict | list) or not value or indent + prefix + len(flat) <= width:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        inner = []
        for k, v in value.items():
            key = json.dumps(k, ensure_ascii=False) + ": "
            inner.append(pad + key + pretty_json(v, width, indent + 2, len(key)))
        open_, close = "{", "}"
    else:
        inner = [pad + pretty_json(v, width, indent + 2) for v in value]
        open_, close = "[", "]"
    return open_ + "\n" + ",\n".join(inner) + "\n" + " " * indent + close


def _read_capped(resp: http.client.HTTPResponse, cap: int, deadline: float) -> tuple[bytes, bool]:
    """Read at most ``cap`` bytes of the body before ``deadline``; (data, whether more was left)."""
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        if time.monotonic() > deadline:
            raise TimeoutError("response body not complete before the deadline")
        chunk = resp.read(min(65536, cap + 1 - size))
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:cap], True


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _service_class(task: Task) -> type[Service]:
    name = task.data.get("service")
    if name not in SERVICES:
        known = ", ".join(sorted(SERVICES))
        raise ValueError(
            f"task {task.id}: data['service'] is {name!r}; set it to one of: {known} "
            "(or set data['base_url'] to an existing service on a loopback address)"
        )
    return SERVICES[name]


def _secret(task: Task) -> str:
    return str(task.data.get("secret", task.id))
