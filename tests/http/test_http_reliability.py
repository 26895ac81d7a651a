"""The http adapter against hostile or unusual servers: a dripping answer stays within the
deadline, compressed bodies are decoded (bounded) or replaced by a notice, a query holding a URL
is data, and a task may target an existing service on a loopback address.

Servers here are real sockets on 127.0.0.1 written byte by byte, so the adapter sees exactly
what a misbehaving server would send."""

from __future__ import annotations

import gzip
import http.server
import json
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator

import pytest
from envlearn_http import HttpAdapter
from envlearn_http import adapter as http_adapter
from envlearn_http.adapter import decode_content

from envlearn.channels import EpisodeError, Observation, Task

pytestmark = pytest.mark.integration

Handler = Callable[[socket.socket, threading.Event], None]


class RawServer:
    """A loopback TCP server answering every connection with ``handler`` (in its own thread)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.stop = threading.Event()
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._loop, daemon=True)
        self._accept.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            self.requests.append(head)
            try:
                self.handler(conn, self.stop)
            except OSError:  # the client gave up (closed): that is the point of some tests
                pass

    def close(self) -> None:
        self.stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.sock.close()
        self._accept.join(5)
        for t in self.threads:
            t.join(5)


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def task_on(port: int, **data: object) -> Task:
    """A task whose API is an existing service on 127.0.0.1:``port``."""
    return Task(
        id="own-api",
        adapter="http",
        instruction="use my API",
        data={"base_url": f"http://127.0.0.1:{port}", **data},
    )


def notices(obs: Observation) -> str:
    return "".join(p.text for p in obs.parts if p.kind == "notice")


def answer(body: bytes, *headers: str) -> Handler:
    """A handler sending one complete response with ``body`` and extra header lines."""

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers, "", ""]
        conn.sendall("\r\n".join(head).encode("latin-1") + body)

    return handler


# ---------------------------------------------------------------------- the response deadline


def drip(prefix: bytes, byte: bytes, every_s: float) -> Handler:
    """Send ``prefix``, then one ``byte`` every ``every_s`` until the client hangs up."""

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(prefix)
        while not stop.wait(every_s):
            conn.sendall(byte)

    return handler


@pytest.mark.parametrize(
    ("phase", "prefix", "byte"),
    [
        ("status line", b"HTTP/1.1 2", b"0"),  # never finishes "HTTP/1.1 200 OK"
        ("headers", b"HTTP/1.1 200 OK\r\nX-Drip: ", b"a"),
        ("body", b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"a"),
        ("chunked body", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"1\r\na\r\n"),
    ],
)
def test_a_dripping_server_is_cut_at_the_deadline(
    serve: Callable[[Handler], RawServer], phase: str, prefix: bytes, byte: bytes
) -> None:
    # one byte every 50 ms: every socket read succeeds long before a per-read timeout would fire
    server = serve(drip(prefix, byte, 0.05))
    with HttpAdapter(timeout_s=0.5) as adapter:
        adapter.reset(task_on(server.port))
        t0 = time.monotonic()
        obs = adapter.step("```http\nGET /slowly\n```")
        wall = time.monotonic() - t0
    assert notices(obs) == "[timeout: no complete response within 0.5 s]\n", phase
    assert obs.info["timeout"] and [p.kind for p in obs.parts] == ["notice"]
    assert 0.5 <= wall < 1.0, (phase, wall)  # bounded near the limit


def test_a_server_that_accepts_but_never_reads_is_cut_at_the_deadline(
    serve: Callable[[Handler], RawServer],
) -> None:
    # a 64 KiB request body to a server that never answers: connect succeeds, then silence
    server = serve(lambda conn, stop: stop.wait(30))
    with HttpAdapter(timeout_s=0.4) as adapter:
        adapter.reset(task_on(server.port))
        t0 = time.monotonic()
        obs = adapter.step("```http\nPOST /upload\n\n" + "x" * 65_000 + "\n```")
        wall = time.monotonic() - t0
    assert notices(obs) == "[timeout: no complete response within 0.4 s]\n"
    assert 0.4 <= wall < 0.9, wall


# ---------------------------------------------------------------------- content codings

DOC = {"items": [{"id": i, "name": f"item {i}"} for i in range(3)], "note": "ünïcode ✓"}
DOC_TEXT = json.dumps(DOC, ensure_ascii=False).encode("utf-8")
PRETTY = '{"items": [{"id": 0, "name": "item 0"}, {"id": 1, "name": "item 1"}, {"id": 2, "name": "item 2"}], "note": "ünïcode ✓"}\n'


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def _brotli(data: bytes) -> bytes:
    import brotli

    return bytes(brotli.compress(data))


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", _raw_deflate),  # raw deflate, as some servers send it
        ("br", _brotli),
        ("gzip, deflate", lambda d: zlib.compress(gzip.compress(d))),
    ],
)
def test_compressed_bodies_are_decoded_to_the_same_text_as_plain_ones(
    serve: Callable[[Handler], RawServer], coding: str, encode: Callable[[bytes], bytes]
) -> None:
    if coding == "br":
        pytest.importorskip("brotli")  # declared by envlearn-http; the fallback is tested below
    server = serve(
        answer(encode(DOC_TEXT), "Content-Type: application/json", f"Content-Encoding: {coding}")
    )
    with HttpAdapter() as adapter:
        adapter.reset(task_on(server.port))
        obs = adapter.step("```http\nGET /doc\nAccept-Encoding: gzip, deflate, br\n```")
    assert obs.content_text("http_body") == PRETTY
    assert notices(obs) == ""
    assert b"accept-encoding: gzip, deflate, br" in server.requests[0].lower()


def test_without_a_brotli_decoder_a_brotli_body_is_a_notice(
    serve: Callable[[Handler], RawServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_adapter, "brotli_decoder", lambda: None)
    server = serve(
        answer(b"\x8b\x05\x80hello\x03", "Content-Type: text/plain", "Content-Encoding: br")
    )
    with HttpAdapter() as adapter:
        adapter.reset(task_on(server.port))
        obs = adapter.step("```http\nGET /\n```")
    assert "http_body" not in {p.channel for p in obs.parts}
    assert notices(obs) == (
        "[body not shown: 9 bytes encoded as 'br'; no brotli decoder is installed "
        "(pip install 'brotli>=1.2')]\n"
    )


@pytest.mark.parametrize(
    ("coding", "body", "why"),
    [
        ("zstd", b"(\xb5/\xfd\x00X)\x00\x00hello", "the harness cannot decode 'zstd'"),
        (
            "gzip",
            b"\x1f\x8bthis is not gzip",
            "the gzip data does not decode (Error -3 while "
            "decompressing data: unknown compression method)",
        ),
        (
            "deflate",
            b"\xff\xfe\xfd garbage",
            "the deflate data does not decode (Error -3 while "
            "decompressing data: invalid block type)",
        ),
    ],
)
def test_undecodable_bodies_are_a_notice_never_trained_bytes(
    serve: Callable[[Handler], RawServer], coding: str, body: bytes, why: str
) -> None:
    server = serve(answer(body, "Content-Type: text/plain", f"Content-Encoding: {coding}"))
    with HttpAdapter() as adapter:
        adapter.reset(task_on(server.port))
        obs = adapter.step("```http\nGET /\n```")
    assert [p.channel for p in obs.parts] == ["http_status", "http_headers", "notice"]
    assert notices(obs) == f"[body not shown: {len(body)} bytes encoded as {coding!r}; {why}]\n"


def test_a_decompression_bomb_is_cut_at_the_body_limit(
    serve: Callable[[Handler], RawServer],
) -> None:
    bomb = gzip.compress(b"a" * 50_000_000, compresslevel=9)  # 50 MB from ~50 KB
    assert len(bomb) < 100_000
    server = serve(answer(bomb, "Content-Type: text/plain", "Content-Encoding: gzip"))
    with HttpAdapter(max_response_bytes=200_000, max_body_chars=1000) as adapter:
        adapter.reset(task_on(server.port))
        obs = adapter.step("```http\nGET /bomb\n```")
    assert obs.content_text("http_body") == "a" * 1000
    assert notices(obs) == (
        "\n[http_body truncated: showing the first 1000 of 200000+ characters; the "
        "gzip-decoded body is over 200000 bytes and the rest was not decoded]\n"
    )


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "gzip, gzip"])
def test_decoding_never_produces_more_than_the_cap(coding: str) -> None:
    plain = b"b" * 20_000_000
    if coding == "br":
        brotli = pytest.importorskip("brotli")
        data = bytes(brotli.compress(plain))
    elif coding == "deflate":
        data = zlib.compress(plain, 9)
    elif coding == "gzip":
        data = gzip.compress(plain, 9)
    else:  # a bomb inside a bomb
        data = gzip.compress(gzip.compress(plain, 9), 9)
    out, cut = decode_content(data, [c.strip() for c in coding.split(",")], 100_000)
    assert (out, cut) == (b"b" * 100_000, True)


def test_text_that_is_not_valid_in_its_charset_is_a_notice(
    serve: Callable[[Handler], RawServer],
) -> None:
    body = b"ok \xff\xfe\x00 not utf-8"
    server = serve(answer(body, "Content-Type: text/plain; charset=utf-8"))
    with HttpAdapter() as adapter:
        adapter.reset(task_on(server.port))
        obs = adapter.step("```http\nGET /\n```")
    assert "http_body" not in {p.channel for p in obs.parts}
    assert notices(obs) == (
        f"[binary body not shown: {len(body)} bytes that are not valid utf-8 (text/plain)]\n"
    )


def test_an_unknown_charset_is_read_as_utf8(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(answer("héllo".encode(), "Content-Type: text/plain; charset=klingon"))
    with HttpAdapter() as adapter:
        adapter.reset(task_on(server.port))
        obs = adapter.step("```http\nGET /\n```")
    assert obs.content_text("http_body") == "héllo\n" and notices(obs) == ""


def test_a_body_cut_inside_a_character_keeps_only_whole_characters(
    serve: Callable[[Handler], RawServer],
) -> None:
    server = serve(answer("é".encode() * 100, "Content-Type: text/plain"))  # 200 bytes
    with HttpAdapter(max_response_bytes=51, max_body_chars=1000) as adapter:
        adapter.reset(task_on(server.port))
        obs = adapter.step("```http\nGET /\n```")
    assert obs.content_text("http_body") == "é" * 25
    assert notices(obs) == (
        "\n[http_body truncated: the response was over 51 bytes and the rest was not read]\n"
    )


# ---------------------------------------------------------------------- a query holding a URL


def test_a_query_string_holding_a_url_is_sent_as_data() -> None:
    task = Task(
        id="echo", adapter="http", instruction="x", data={"service": "echo", "openapi": False}
    )
    with HttpAdapter() as adapter:
        adapter.reset(task)
        for target in ["/echo?url=http://example.com/x", "/echo?next=https://x&b=file:///etc"]:
            obs = adapter.step(f"```http\nGET {target}\n```")
            assert obs.info["status"] == 200 and notices(obs) == "", target
            sent = json.loads(obs.content_text("http_body"))
            assert sent["path"] == "/echo"
            assert "://" in next(iter(sent["query"].values()))
        assert adapter.service is not None and adapter.service.request_count == 2


# ---------------------------------------------------------------------- an existing service


class _OwnApi(http.server.BaseHTTPRequestHandler):
    """A user's own API: a counter, a reset endpoint and a score endpoint."""

    counter = 0

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _json(self, status: int, value: object) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/score":
            self._json(200, {"score": min(1.0, type(self).counter / 2)})
        else:
            self._json(200, {"counter": type(self).counter, "path": self.path})

    def do_POST(self) -> None:
        if self.path == "/reset":
            type(self).counter = 0
        else:
            type(self).counter += 1
        self._json(200, {"counter": type(self).counter})


@pytest.fixture
def own_api() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OwnApi)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    t.join(5)


@pytest.fixture
def decoy() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


def test_a_task_may_target_an_existing_loopback_service(own_api: int, decoy: socket.socket) -> None:
    task = task_on(own_api, reset_path="/reset", score_path="/score")
    other = decoy.getsockname()[1]
    with HttpAdapter() as adapter:
        obs = adapter.reset(task)
        assert obs.info["base_url"] == f"http://127.0.0.1:{own_api}"
        assert adapter.server is None  # nothing was started
        adapter.step("```http\nPOST /bump\n```")
        obs = adapter.step(f"```http\nPOST http://localhost:{own_api}/bump\n```")
        assert obs.info["status"] == 200 and '"counter": 2' in obs.content_text("http_body")
        for target in [
            f"http://127.0.0.1:{other}/steal",
            f"http://127.0.0.2:{own_api}/x",
            "http://example.com/",
            f"//127.0.0.1:{other}/",
        ]:
            obs = adapter.step(f"```http\nGET {target}\n```")
            assert notices(obs).startswith("[refused: "), target
        obs = adapter.step(f"```http\nGET /x\nHost: 127.0.0.1:{other}\n```")
        assert notices(obs).startswith("[refused: Host")
        assert adapter.score() == 1.0
        adapter.reset(task)  # POST /reset: the user's API starts over
        assert adapter.score() == 0.0
    with pytest.raises(BlockingIOError):
        decoy.accept()  # nothing ever connected to the other port


@pytest.mark.parametrize(
    "base_url",
    [
        "http://10.0.0.1:8000",
        "http://example.com:8000",
        "http://127.0.0.1",  # no port
        "https://127.0.0.1:8000",
        "http://127.0.0.1:8000/api",
        "http://user:pw@127.0.0.1:8000",
    ],
)
def test_only_a_loopback_service_with_a_port_can_be_a_task_s_api(base_url: str) -> None:
    task = Task(id="t", adapter="http", instruction="x", data={"base_url": base_url})
    with HttpAdapter() as adapter, pytest.raises(ValueError) as e:
        adapter.reset(task)
    assert str(e.value) == (
        f"task t: base_url {base_url!r} must be http://HOST:PORT on a loopback address "
        "(127.0.0.1, another 127.x.y.z, [::1] or localhost), with an explicit port and no "
        "path: only a service on this machine's loopback can be a task's API"
    )


def test_a_service_that_is_not_running_fails_the_episode_clearly(decoy: socket.socket) -> None:
    port = decoy.getsockname()[1]
    decoy.close()  # nothing listens there now
    with HttpAdapter() as adapter, pytest.raises(EpisodeError) as e:
        adapter.reset(task_on(port))
    assert str(e.value) == (
        f"the task's service at http://127.0.0.1:{port} is not listening "
        "(ConnectionRefusedError: [Errno 111] Connection refused); start it before the run"
    )


def test_a_score_endpoint_that_answers_garbage_fails_the_episode(
    serve: Callable[[Handler], RawServer],
) -> None:
    server = serve(answer(b"<html>nope</html>", "Content-Type: text/html"))
    with HttpAdapter() as adapter:
        adapter.reset(task_on(server.port, score_path="/score"))
        with pytest.raises(EpisodeError) as e:
            adapter.score()
    assert str(e.value) == (
        f"GET /score on http://127.0.0.1:{server.port} answered 200 b'<html>nope</html>'; "
        'it must answer 2xx with a JSON number or {"score": number}'
    )
