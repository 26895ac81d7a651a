"""The MI record parser, on records gdb 13 really writes."""

from __future__ import annotations

import pytest
from envlearn_debugger.mi import MIError, parse_cstring, parse_record

pytestmark = pytest.mark.unit


def test_stream_records_decode_c_escapes_and_octal_utf8():
    rec = parse_record(r'~"9\t  int a[3] = {1, 2, 3};\n"')
    assert rec.type == "console" and rec.text == b"9\t  int a[3] = {1, 2, 3};\n"
    # gdb writes non-ASCII bytes as octal escapes: "é" is \303\251
    assert parse_record(r'~"caf\303\251 \"q\" \\"').text.decode() == 'café "q" \\'
    assert parse_record(r'&"warning: x\n"').type == "log"
    assert parse_record(r'@"out"').type == "target"


def test_result_and_async_records_with_nested_values():
    line = (
        '12*stopped,reason="breakpoint-hit",disp="keep",bkptno="2",frame={addr="0x1",'
        'func="f",args=[{name="p",value="0x7ffe"},{name="n",value="2"}],file="sum.c",'
        'line="6"},thread-id="1",stopped-threads="all"'
    )
    rec = parse_record(line)
    assert (rec.type, rec.cls, rec.token) == ("exec", "stopped", 12)
    assert rec.results["frame"]["args"] == [
        {"name": "p", "value": "0x7ffe"},
        {"name": "n", "value": "2"},
    ]
    assert rec.results["stopped-threads"] == "all"
    err = parse_record('3^error,msg="No symbol \\"zz\\" in current context."')
    assert (err.type, err.cls, err.token) == ("result", "error", 3)
    assert err.results["msg"] == 'No symbol "zz" in current context.'
    assert parse_record("^done").results == {}
    assert parse_record('=thread-group-started,id="i1",pid="6"').results["pid"] == "6"
    assert parse_record("(gdb) ").type == "prompt"
    assert parse_record('^done,list=["a","b"],empty=[],t={}').results == {
        "list": ["a", "b"],
        "empty": [],
        "t": {},
    }


@pytest.mark.parametrize(
    "bad", ["hello", '~"unterminated', "^done,", '^done,x="1"garbage', "*stopped,a=[1]"]
)
def test_malformed_lines_raise_mi_error(bad):
    with pytest.raises(MIError):
        parse_record(bad)


def test_cstring_index_after_quote():
    text, end = parse_cstring('"ab\\n"rest', 0)
    assert text == b"ab\n" and end == 6
