"""Line-range edits and unified diffs on the work dir, and their refusals."""

from __future__ import annotations

import difflib

import pytest
from envlearn_debugger.edits import EditError, apply_diff, apply_line_edit

pytestmark = pytest.mark.unit

SRC = "def f(x):\n    y = x + 1\n    return y * 2\n\n\ndef g():\n    return 0\n"


@pytest.fixture
def work(tmp_path):
    (tmp_path / "m.py").write_text(SRC)
    (tmp_path / "test_m.py").write_text("x\n")
    return tmp_path


def test_line_edit_replaces_inserts_and_deletes(work):
    r = apply_line_edit("m.py 2-3\n    return x + 1\n", work, ["m.py"])
    assert (r.first_line, r.removed, r.added) == (2, 2, 1)
    assert (
        work / "m.py"
    ).read_text() == "def f(x):\n    return x + 1\n\n\ndef g():\n    return 0\n"
    apply_line_edit("m.py 1-0\n# top", work, ["m.py"])  # insert before line 1
    assert (work / "m.py").read_text().startswith("# top\ndef f(x):\n")
    apply_line_edit("m.py 1-1", work, ["m.py"])  # delete line 1
    assert (work / "m.py").read_text().startswith("def f(x):\n")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("m.py\nx", "FILE START-END"),
        ("m.py 0-1\nx", "outside m.py"),
        ("m.py 3-9\nx", "outside m.py"),
        ("test_m.py 1-1\nx", "cannot be edited"),
        ("../etc/passwd 1-1\nx", "cannot be edited"),
    ],
)
def test_line_edit_refusals_say_what_is_wrong(work, body, why):
    with pytest.raises(EditError, match=why):
        apply_line_edit(body, work, ["m.py"])
    assert (work / "m.py").read_text() == SRC


def test_unified_diff_from_difflib_applies_even_when_shifted(work):
    new = SRC.replace("y * 2", "y * 3").replace("return 0", "return 1")
    diff = "".join(
        difflib.unified_diff(
            SRC.splitlines(keepends=True), new.splitlines(keepends=True), "a/m.py", "b/m.py", n=1
        )
    )
    (work / "m.py").write_text("# a header line\n" + SRC)  # hunks now sit one line lower
    results = apply_diff(diff, work, ["m.py"])
    assert len(results) == 2
    assert (work / "m.py").read_text() == "# a header line\n" + new


def test_diff_that_does_not_match_changes_nothing(work):
    diff = "--- a/m.py\n+++ b/m.py\n@@ -1,2 +1,2 @@\n def f(x):\n-    y = x + 100\n+    y = x\n"
    with pytest.raises(EditError, match="does not match m.py"):
        apply_diff(diff, work, ["m.py"])
    assert (work / "m.py").read_text() == SRC
    with pytest.raises(EditError, match="no hunk"):
        apply_diff("--- a/m.py\n+++ b/m.py\n", work, ["m.py"])
    with pytest.raises(EditError, match="cannot be edited"):
        apply_diff("--- a/test_m.py\n+++ b/test_m.py\n@@ -1 +1 @@\n-x\n+y\n", work, ["m.py"])
