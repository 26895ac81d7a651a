"""A local web server per episode: ``127.0.0.1``, a free port, a thread of its own.

It serves either a :class:`Site` (a bundled web app with in-memory state, see
:mod:`envlearn_browser.sites`) or a directory of static files (MiniWoB++'s pages).  Request
bodies and paths are bounded; every request is logged for the verifiers.
"""

from __future__ import annotations

import mimetypes
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["Request", "Response", "Site", "SiteServer"]

MAX_BODY = 65_536


@dataclass
class Request:
    """What a site's handler sees: method, path, query and form fields (first values)."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    form_all: dict[str, list[str]] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)


@dataclass
class Response:
    """A site's answer: status, body (HTML unless ``content_type`` says otherwise), headers."""

    body: str = ""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class Site:
    """A bundled web app: state in memory, one ``handle`` per request (serialized by a lock)."""

    name = ""

    def __init__(self, setup: dict[str, Any]) -> None:
        self.setup = setup
        self.log: list[tuple[str, str]] = []

    def handle(self, req: Request) -> Response:  # pragma: no cover - overridden
        raise NotImplementedError

    def verify(self, verifier: str, expect: dict[str, Any]) -> float:  # pragma: no cover
        raise NotImplementedError


class SiteServer:
    """Serve ``site`` (or the files under ``static_root``) on ``http://127.0.0.1:PORT``."""

    def __init__(self, site: Site | None = None, *, static_root: Path | None = None) -> None:
        self.site = site
        self.static_root = static_root.resolve() if static_root else None
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                outer._serve(self, "GET")

            def do_POST(self) -> None:
                outer._serve(self, "POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits for one poll
            name=f"envlearn-site-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket; idempotent."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(5)
        self._httpd.server_close()

    def _serve(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(h, Response("request body too large", 413, "text/plain"))
            return
        raw = h.rfile.read(length).decode("utf-8", "replace") if length else ""
        form_all = parse_qs(raw, keep_blank_values=True) if method == "POST" else {}
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        cookies = {}
        for item in (h.headers.get("Cookie") or "").split(";"):
            k, sep, v = item.strip().partition("=")
            if sep:
                cookies[k] = v
        req = Request(
            method,
            unquote(parts.path),
            query,
            {k: v[0] for k, v in form_all.items()},
            form_all,
            cookies,
        )
        try:
            if self.site is not None:
                with self.lock:
                    self.site.log.append((method, h.path))
                    resp = self.site.handle(req)
            else:
                resp = self._static(req.path)
        except Exception as e:  # noqa: BLE001 - a site bug is a 500 page, not a dead server
            resp = Response(f"internal error: {type(e).__name__}", 500, "text/plain")
        self._send(h, resp)

    def _static(self, path: str) -> Response:
        if self.static_root is None:
            return Response("not found", 404, "text/plain")
        target = (self.static_root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.static_root) or not target.is_file():
            return Response("not found", 404, "text/plain")
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return Response(target.read_bytes().decode("latin-1"), 200, ctype + "; charset=latin-1")

    def _send(self, h: BaseHTTPRequestHandler, resp: Response) -> None:
        charset_latin = resp.content_type.endswith("charset=latin-1")
        ctype = resp.content_type
        if charset_latin:  # static bytes round-tripped through latin-1: send them unchanged
            data = resp.body.encode("latin-1")
            ctype = ctype.rsplit(";", 1)[0]
            if ctype.startswith("text/") or ctype.endswith("javascript"):
                ctype += "; charset=utf-8"
        else:
            data = resp.body.encode("utf-8")
        try:
            h.send_response(resp.status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            h.send_header("Cache-Control", "no-store")
            for k, v in resp.headers.items():
                h.send_header(k, v)
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(data)
        except OSError:  # the browser went away mid-answer
            pass
