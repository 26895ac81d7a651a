"""The http adapter against live local services: observations, isolation, limits, parallelism."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from envlearn_http import HttpAdapter, format_request, http_tasks
from envlearn_http.services.inventory import issue_token

from envlearn.channels import Observation, Task

pytestmark = pytest.mark.integration

ECHO = Task(
    id="echo-probe",
    adapter="http",
    instruction="probe the echo service",
    max_turns=50,
    data={"service": "echo", "verifier": "requests_made", "expect": {"n": 1}},
)
INVENTORY = next(t for t in http_tasks() if t.id == "inv-create-item")


@pytest.fixture
def echo() -> Iterator[HttpAdapter]:
    adapter = HttpAdapter(timeout_s=2.0)
    adapter.reset(ECHO)
    yield adapter
    adapter.close()


def notices(obs: Observation) -> str:
    return "".join(p.text for p in obs.parts if p.kind == "notice")


def requests_seen(adapter: HttpAdapter) -> int:
    assert adapter.service is not None
    return adapter.service.request_count


# ---------------------------------------------------------------------- observation format


def test_response_is_status_then_sorted_filtered_headers_then_pretty_body(
    echo: HttpAdapter,
) -> None:
    obs = echo.step(
        '```http\nPOST /echo?b=2&a=1\nX-Trace: abc\n\n{"name": "a", "tags": ["x"]}\n```'
    )
    assert [(p.channel, p.kind) for p in obs.parts] == [
        ("http_status", "content"),
        ("http_headers", "content"),
        ("http_body", "content"),
    ]
    assert obs.content_text("http_status") == "HTTP/1.1 200 OK\n"
    assert obs.content_text("http_headers") == "content-type: application/json\n\n"
    body = obs.content_text("http_body")
    assert body.startswith("{\n") and body.endswith("}\n")
    assert '"query": {"b": "2", "a": "1"}' in body
    assert '"content-type": "application/json"' in body  # added for a JSON body
    assert '"x-trace": "abc"' in body
    assert "date" not in obs.content_text("http_headers")
    assert obs.info["status"] == 200 and not obs.done


def test_headers_shown_are_sorted_and_include_location_and_auth_challenge() -> None:
    with HttpAdapter() as adapter:
        adapter.reset(INVENTORY)
        obs = adapter.step("```http\nGET /items\n```")
        assert obs.content_text("http_status") == "HTTP/1.1 401 Unauthorized\n"
        headers = obs.content_text("http_headers").splitlines()
        assert headers[:-1] == sorted(headers[:-1]) and headers[-1] == ""
        assert any(h.startswith("www-authenticate: Bearer") for h in headers)
        assert "POST /login" in obs.content_text("http_body")


def test_validation_errors_come_back_as_422_with_every_problem() -> None:
    with HttpAdapter() as adapter:
        adapter.reset(INVENTORY)
        adapter.step((INVENTORY.oracle or [])[0])
        auth = {"Authorization": f"Bearer {issue_token(INVENTORY.id, 'alice', 1)}"}
        bad = {"sku": "lamp", "name": "Desk lamp", "quantity": -1, "price": 24.99}
        obs = adapter.step(format_request("POST", "/items", bad, auth))
        assert obs.info["status"] == 422
        body = obs.content_text("http_body")
        for words in ["pattern", "must be >= 0", "did you mean 'price_cents'", "is required"]:
            assert words in body
        assert adapter.score() == 0.0


def test_head_and_204_answers_have_no_body_part(echo: HttpAdapter) -> None:
    for action in ["```http\nHEAD /\n```", "```http\nGET /status/204\n```"]:
        obs = echo.step(action)
        assert [p.channel for p in obs.parts] == ["http_status", "http_headers"]


def test_binary_body_is_replaced_by_a_notice(echo: HttpAdapter) -> None:
    obs = echo.step("```http\nGET /bytes?n=300\n```")
    assert "http_body" not in {p.channel for p in obs.parts}
    assert "[binary body not shown: 300 bytes of application/octet-stream]" in notices(obs)


# ---------------------------------------------------------------------- limits


def test_long_body_is_truncated_with_a_notice_and_the_kept_text_is_exact() -> None:
    with HttpAdapter(max_body_chars=500) as adapter:
        adapter.reset(ECHO)
        obs = adapter.step("```http\nGET /big?lines=1000\n```")
        full = "".join(f"line {i:06d}\n" for i in range(1000))
        assert obs.content_text("http_body") == full[:500]
        assert f"[http_body truncated: showing the first 500 of {len(full)} characters]" in notices(
            obs
        )
        assert [p.kind for p in obs.parts][-1] == "notice"


def test_response_over_the_byte_cap_is_not_read_past_it() -> None:
    with HttpAdapter(max_response_bytes=1000, max_body_chars=100_000) as adapter:
        adapter.reset(ECHO)
        obs = adapter.step("```http\nGET /big?lines=1000\n```")
        full = "".join(f"line {i:06d}\n" for i in range(1000))
        assert obs.content_text("http_body") == full[:1000]
        assert "[http_body truncated: the response was over 1000 bytes" in notices(obs)


def test_request_body_over_the_cap_is_not_sent() -> None:
    with HttpAdapter(max_request_bytes=100) as adapter:
        adapter.reset(ECHO)
        obs = adapter.step("```http\nPOST /echo\n\n" + '"' + "a" * 200 + '"\n```')
        assert "the limit is 100 bytes" in notices(obs)
        assert requests_seen(adapter) == 0 and not obs.done


def test_slow_answer_times_out_with_a_notice() -> None:
    with HttpAdapter(timeout_s=0.3) as adapter:
        adapter.reset(ECHO)
        obs = adapter.step("```http\nGET /slow?ms=5000\n```")
        assert notices(obs) == "[timeout: no complete response within 0.3 s]\n"
        assert obs.info["timeout"] and not obs.done
        assert adapter.step("```http\nGET /\n```").info["status"] == 200  # still usable


def test_connection_error_is_a_notice_not_an_exception(echo: HttpAdapter) -> None:
    assert echo.server is not None
    echo.server.stop()  # the service dies mid-episode
    obs = echo.step("```http\nGET /\n```")
    assert notices(obs).startswith("[connection error: ConnectionRefusedError")
    assert obs.info["connection_error"] and not obs.done


# ---------------------------------------------------------------------- isolation


@pytest.fixture
def decoy() -> Iterator[socket.socket]:
    """A listening socket on another loopback port: no request may ever reach it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def test_requests_to_other_hosts_ports_and_schemes_are_refused(
    echo: HttpAdapter, decoy: socket.socket
) -> None:
    decoy_port = decoy.getsockname()[1]
    assert echo.base_url is not None
    own_port = echo.base_url.rsplit(":", 1)[1]
    targets = [
        f"http://127.0.0.1:{decoy_port}/steal",
        f"http://localhost:{decoy_port}/steal",
        "http://example.com/",
        "http://169.254.169.254/latest/meta-data/",
        f"https://127.0.0.1:{own_port}/echo",
        f"ftp://127.0.0.1:{own_port}/echo",
        "file:///etc/passwd",
        f"//127.0.0.1:{decoy_port}/steal",
        f"http://user:pw@127.0.0.1:{own_port}/echo",
        "echo",
    ]
    for target in targets:
        obs = echo.step(f"```http\nGET {target}\n```")
        assert notices(obs).startswith("[refused: "), target
        assert [p.kind for p in obs.parts] == ["notice"], target
        assert obs.info["refused"] and not obs.done
    obs = echo.step(f"```http\nGET /echo\nHost: 127.0.0.1:{decoy_port}\n```")
    assert notices(obs).startswith("[refused: Host")
    assert requests_seen(echo) == 0
    with pytest.raises(BlockingIOError):
        decoy.accept()  # nothing ever connected to the other port
    obs = echo.step(
        f"```http\nGET http://127.0.0.1:{own_port}/echo\nHost: 127.0.0.1:{own_port}\n```"
    )
    assert obs.info["status"] == 200 and requests_seen(echo) == 1


def test_harness_headers_from_the_model_are_dropped_with_a_notice(echo: HttpAdapter) -> None:
    obs = echo.step("```http\nPOST /echo\nContent-Length: 999\nConnection: keep-alive\n\nhi\n```")
    assert [p.channel for p in obs.parts] == ["http_status", "http_headers", "http_body", "notice"]
    assert notices(obs) == "[ignored header(s) Content-Length, Connection: the harness sets them]\n"
    body = obs.content_text("http_body")
    assert '"content-length": "2"' in body and '"body": "hi"' in body


def test_the_service_listens_on_loopback_only_and_stops_on_close() -> None:
    adapter = HttpAdapter()
    adapter.reset(ECHO)
    assert adapter.server is not None
    assert adapter.server.host == "127.0.0.1"
    port = adapter.server.port
    adapter.close()
    adapter.close()  # twice is safe
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    with pytest.raises(ConnectionRefusedError):
        conn.request("GET", "/")
    conn.close()


def test_episodes_leave_no_threads_or_listening_sockets_behind() -> None:
    before = {t.ident for t in threading.enumerate()}
    ports = []
    for _ in range(10):
        with HttpAdapter(timeout_s=0.05) as adapter:
            adapter.reset(ECHO)
            assert adapter.server is not None
            ports.append(adapter.server.port)
            # times out; the handler thread still waiting is released when the episode ends
            assert adapter.step("```http\nGET /slow?ms=10000\n```").info["timeout"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
        if not left:
            break
        time.sleep(0.01)
    assert left == []
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


# ---------------------------------------------------------------------- episodes


def test_task_complete_ends_the_episode_alone_or_after_a_request(echo: HttpAdapter) -> None:
    obs = echo.step("```http\nGET /\n```\nDone.\nTASK COMPLETE")
    assert obs.done and obs.info["status"] == 200 and requests_seen(echo) == 1
    with pytest.raises(RuntimeError, match="reset"):
        echo.step("```http\nGET /\n```")
    echo.reset(ECHO)
    obs = echo.step("TASK COMPLETE")
    assert obs.done and notices(obs) == "[TASK COMPLETE: episode over]\n"


def test_turn_budgets_are_left_to_the_engine(echo: HttpAdapter) -> None:
    short = ECHO.model_copy(update={"max_turns": 2})
    echo.reset(short)
    assert not echo.step("hello").done
    for _ in range(3):  # past the task's max_turns: the adapter itself never ends the episode
        obs = echo.step("```http\nGET /\n```")
        assert not obs.done and obs.info["status"] == 200
        assert "turn limit" not in notices(obs)


def test_only_the_first_of_several_requests_is_sent(echo: HttpAdapter) -> None:
    obs = echo.step("```http\nGET /echo\n```\n```http\nDELETE /echo\n```")
    assert requests_seen(echo) == 1 and '"method": "GET"' in obs.content_text("http_body")
    assert "1 more http block(s) ignored" in notices(obs)


def test_reset_gives_fresh_state_on_a_new_port() -> None:
    with HttpAdapter() as adapter:
        adapter.reset(INVENTORY)
        first = adapter.base_url
        for action in INVENTORY.oracle or []:
            adapter.step(action)
        assert adapter.score() == 1.0
        adapter.reset(INVENTORY)
        assert adapter.score() == 0.0 and adapter.base_url != first


def test_four_parallel_episodes_do_not_share_state() -> None:
    n = 4
    barrier = threading.Barrier(n, timeout=30)
    auth = {"Authorization": f"Bearer {issue_token(INVENTORY.id, 'alice', 1)}"}

    def episode(i: int) -> tuple[str, list[str], float]:
        with HttpAdapter() as adapter:
            adapter.reset(INVENTORY)
            barrier.wait()  # all four services are up at once
            adapter.step((INVENTORY.oracle or [])[0])
            item = {"sku": f"PAR-{i}", "name": f"item {i}", "quantity": i, "price_cents": 1}
            obs = adapter.step(format_request("POST", "/items", item, auth))
            assert obs.info["status"] == 201
            barrier.wait()  # every episode has written before any reads
            listing = adapter.step(format_request("GET", "/items?q=item&per_page=10", None, auth))
            assert adapter.base_url is not None and adapter.service is not None
            skus = [
                it["sku"] for it in adapter.service.items.values() if it["sku"].startswith("PAR")
            ]
            assert f'"sku": "PAR-{i}"' in listing.content_text("http_body")
            return adapter.base_url, skus, adapter.score()

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(episode, range(n)))
    assert len({url for url, _, _ in results}) == n
    assert [skus for _, skus, _ in results] == [[f"PAR-{i}"] for i in range(n)]
    assert [score for _, _, score in results] == [0.0] * n  # none made the task's own item
