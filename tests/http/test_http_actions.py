"""The http action format: parsing, target isolation rules, formatting, JSON layout (no servers)."""

from __future__ import annotations

import json

import pytest
from envlearn_http.actions import EXAMPLE, Refused, format_request, parse_action, resolve_target
from envlearn_http.adapter import pretty_json

from envlearn.actions import parse_action as core_parse_action

pytestmark = pytest.mark.unit


def test_parses_method_target_headers_and_json_body() -> None:
    text = (
        "I'll create it.\n```http\nPOST /items?x=1 HTTP/1.1\nAuthorization: Bearer t\n"
        'Content-Type: application/json\n\n{"name": "a"}\n```\n'
    )
    p = parse_action(text)
    assert p.error is None and not p.complete and p.extra_requests == 0
    assert p.request is not None
    assert (p.request.method, p.request.target) == ("POST", "/items?x=1")
    assert p.request.headers == [
        ("Authorization", "Bearer t"),
        ("Content-Type", "application/json"),
    ]
    assert json.loads(p.request.body) == {"name": "a"}


def test_body_may_follow_headers_without_blank_line_when_it_is_json() -> None:
    p = parse_action('```http\nPOST /items\nAuthorization: Bearer t\n{"a": 1}\n```')
    assert p.request is not None and p.request.body == '{"a": 1}'
    assert p.request.headers == [("Authorization", "Bearer t")]


def test_untagged_fence_is_the_action_as_the_core_grammar_says() -> None:
    assert parse_action("```\nGET /items\n```").request is not None
    p = parse_action("```\nhello there\n```")
    assert p.request is None
    assert p.error == (
        "unsupported method 'hello': use one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    )


def test_the_block_and_completion_are_the_core_grammars_choice() -> None:
    """Same choice as ``envlearn.actions.parse_action`` over many reply shapes."""
    replies = [
        "```http\nGET /a\n```\nTASK COMPLETE",
        "```bash\nls\n```\n```http\nGET /b\n```",
        "**TASK COMPLETE**",
        "```http\nGET /x\nTASK COMPLETE\n```",
        "~~~http\nGET /tilde\n~~~",
        "````http\nGET /four\n````",
        "```HTTP\nGET /upper\n```",
        "```http\nGET /open",
    ]
    for reply in replies:
        core = core_parse_action(reply, languages={"http"}, bare=True, example=EXAMPLE)
        ours = parse_action(reply)
        assert ours.complete == core.complete, reply
        if core.body is None:
            assert ours.request is None, reply
            assert ours.error == (None if core.complete else core.problem), reply
        else:  # the request is read from the block the core chose, or its problem is said
            assert ours.request is not None or ours.error is not None, reply
            if ours.request is not None:
                assert core.body.lstrip().startswith(f"GET {ours.request.target}"), reply


def test_unclosed_fence_is_not_sent_and_says_why() -> None:
    p = parse_action("```http\nDELETE /items/3")
    assert p.request is None
    assert p.error is not None
    assert p.error.startswith(
        "Your code block is not closed (no ``` line after it), so nothing ran."
    )


def test_fence_closed_at_the_end_of_the_last_line_still_parses() -> None:
    p = parse_action("```http\nGET /items?page=2```")
    assert p.request is not None and p.request.target == "/items?page=2"


def test_lowercase_method_is_accepted() -> None:
    p = parse_action("```http\nget /x\n```")
    assert p.request is not None and p.request.method == "GET"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("```http\n\n```", "empty"),
        ("```http\nFETCH /items\n```", "unsupported method"),
        ("```http\nGET /items with spaces\n```", "request line"),
        ("```http\nGET /items\nnot a header\n```", "not a header"),
        ("```http\nGET /x\nX-Name: 中文\n```", "Latin-1"),
        ("```bash\ncurl http://x\n```", "```http block"),
    ],
)
def test_malformed_blocks_give_an_error_that_says_what_to_fix(text: str, words: str) -> None:
    p = parse_action(text)
    assert p.request is None
    assert p.error is not None and words in p.error


def test_body_over_the_cap_is_an_error() -> None:
    p = parse_action("```http\nPOST /x\n\n" + "a" * 101 + "\n```", max_body_bytes=100)
    assert p.request is None and p.error is not None and "101 bytes" in p.error


def test_task_complete_line_is_detected_outside_code_blocks_only() -> None:
    assert parse_action("All done.\nTASK COMPLETE").complete
    assert parse_action("**TASK COMPLETE**").complete
    assert not parse_action("```http\nGET /x\nTASK COMPLETE\n```").complete
    assert not parse_action("the task complete flag").complete
    p = parse_action("```http\nGET /x\n```\nTASK COMPLETE")
    assert p.complete and p.request is not None


def test_extra_request_blocks_are_counted() -> None:
    p = parse_action("```http\nGET /a\n```\n```http\nGET /b\n```\n```http\nGET /c\n```")
    assert p.request is not None and p.request.target == "/a" and p.extra_requests == 2


def test_no_block_at_all_gets_the_core_grammars_problem_with_an_http_example() -> None:
    p = parse_action("I think we should list the items first.")
    assert p.request is None and not p.complete
    assert p.error == (
        "Your reply has no code block, so nothing ran. For example:\n"
        "```http\nGET /items?page=2\nAuthorization: Bearer <token>\n```"
    )
    done = parse_action("All done.\nTASK COMPLETE")
    assert done.complete and done.error is None and done.request is None


@pytest.mark.parametrize(
    "target",
    [
        "http://example.com/items",
        "http://127.0.0.1:1/items",  # another port
        "http://127.0.0.1/items",  # default port 80
        "https://127.0.0.1:8123/items",
        "ftp://127.0.0.1:8123/items",
        "file:///etc/passwd",
        "//example.com/items",
        "http://user:pw@127.0.0.1:8123/items",
        "http://10.0.0.1:8123/items",
        "items",
        "items?next=http://127.0.0.1:8123/",  # a relative path is refused, query or not
        "example.com:8123/items?x=http://127.0.0.1:8123",
        "http://example.com/?back=http://127.0.0.1:8123/",
        "/items with space",
        "/ünï",
    ],
)
def test_targets_outside_the_base_url_are_refused(target: str) -> None:
    with pytest.raises(Refused):
        resolve_target(target, port=8123)


@pytest.mark.parametrize(
    ("target", "sent"),
    [
        ("/items?page=2", "/items?page=2"),
        ("/items#frag", "/items"),
        ("http://127.0.0.1:8123/items?x=1", "/items?x=1"),
        ("http://localhost:8123", "/"),
        # a query string is data: only the target's own scheme/authority decide
        ("/redirect-to?url=http://example.com/x", "/redirect-to?url=http://example.com/x"),
        ("/anything?next=http://x", "/anything?next=http://x"),
        ("/a?u=ftp://evil:21/&v=file:///etc/passwd", "/a?u=ftp://evil:21/&v=file:///etc/passwd"),
        ("/p://q", "/p://q"),
        ("http://127.0.0.1:8123/go?to=http://example.com", "/go?to=http://example.com"),
    ],
)
def test_targets_on_the_base_url_are_sent_as_path_and_query(target: str, sent: str) -> None:
    assert resolve_target(target, port=8123) == sent


def test_a_query_holding_a_url_is_not_refused_with_a_scheme_notice() -> None:
    with pytest.raises(Refused) as e:
        resolve_target("anything?next=http://x", port=8123)
    assert (
        str(e.value)
        == "the target 'anything?next=http://x' must start with '/', e.g. /anything?next=http://x"
    )


def test_an_existing_service_s_hosts_and_port_are_the_only_absolute_urls_allowed() -> None:
    hosts = ("127.0.0.2",)
    assert resolve_target("http://127.0.0.2:9000/x?y=1", port=9000, hosts=hosts) == "/x?y=1"
    for target in ["http://127.0.0.1:9000/x", "http://127.0.0.2:9001/x", "http://localhost:9000/"]:
        with pytest.raises(Refused):
            resolve_target(target, port=9000, hosts=hosts)


def test_format_request_round_trips_through_the_parser() -> None:
    text = format_request("PATCH", "/items/3", {"tags": ["a", "b"]}, {"Authorization": "Bearer t"})
    p = parse_action(text)
    assert p.request is not None
    assert (p.request.method, p.request.target) == ("PATCH", "/items/3")
    assert p.request.header("content-type") == "application/json"
    assert p.request.header("authorization") == "Bearer t"
    assert json.loads(p.request.body) == {"tags": ["a", "b"]}


def test_pretty_json_keeps_short_containers_on_one_line_and_stays_valid_json() -> None:
    value = {"items": [{"id": i, "tags": ["a", "b"], "name": "x" * 40} for i in range(3)], "n": 3}
    text = pretty_json(value, width=100)
    assert json.loads(text) == value
    lines = text.splitlines()
    assert lines[0] == "{" and lines[-1] == "}"
    assert '    {"id": 0, "tags": ["a", "b"], "name": "' + "x" * 40 + '"},' in lines
    assert pretty_json({"a": 1}) == '{"a": 1}'
