"""The bundled suite: every oracle solves its task, no-op episodes do not, the stored baselines
are what the tests really do on the buggy programs, and the verifier's rules hold."""

from __future__ import annotations

from collections import Counter

import pytest
from envlearn_debugger.suite import load_bundled_tasks

from envlearn.actions import fenced_blocks

from .conftest import py_task

TASKS = load_bundled_tasks()


@pytest.mark.unit
def test_suite_shape():
    assert len(TASKS) >= 24
    backends = Counter(t.data["backend"] for t in TASKS)
    assert backends["c"] >= 5 and backends["python"] > backends["c"]
    splits = Counter(t.split for t in TASKS)
    assert splits["train"] >= 12 and splits["heldout"] >= 6
    for split in ("train", "heldout"):
        assert {t.data["backend"] for t in TASKS if t.split == split} == {"python", "c"}
    cats = {t.data["category"] for t in TASKS}
    assert {
        "off-by-one",
        "wrong condition",
        "mutable default",
        "swallowed exception",
        "aliasing",
        "runtime state",
        "integer overflow",
        "use after free",
        "segfault",
    } <= cats
    assert len({t.id for t in TASKS}) == len(TASKS)


@pytest.mark.unit
@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_oracle_looks_with_the_debugger_before_it_edits(task):
    langs = [fenced_blocks(a)[0].language for a in task.oracle]
    debugger = {"python": "pdb", "c": "gdb"}[task.data["backend"]]
    first_edit = next(i for i, lang in enumerate(langs) if lang in ("edit", "diff"))
    assert debugger in langs[:first_edit], langs
    assert langs[-1] == "test" and task.oracle[-1].rstrip().endswith("TASK COMPLETE")


@pytest.mark.integration
@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_oracle_solves_and_noop_does_not(new_adapter, task):
    a = new_adapter(timeout_s=task.data.get("timeout_s", 5.0))
    a.reset(task)
    assert a.score() == 0.0  # doing nothing scores nothing
    # the stored baseline is what the tests really do on the buggy program
    assert {o.id: o.passed for o in a.last_outcomes} == task.data["baseline"]
    obs = None
    for action in task.oracle:
        obs = a.step(action)
        assert not any("edit not applied" in p.text for p in obs.parts), obs.text
    assert obs is not None and obs.done
    assert "FAILED" not in obs.content_text("test_report")
    assert obs.info["action"] == "test" and obs.info["tests_passed"] == obs.info["tests_total"]
    assert a.score() == 1.0


TWO_BUGS = "def a():\n    return 1\n\n\ndef b():\n    return 3\n\n\ndef c():\n    return 5\n"
TESTS = (
    "from prog import a, b, c\n\n\ndef test_a():\n    assert a() == 2\n\n\n"
    "def test_b():\n    assert b() == 4\n\n\ndef test_c():\n    assert c() == 5\n"
)


@pytest.mark.integration
def test_partial_credit_per_test_and_regressions(new_adapter):
    a = new_adapter()
    a.reset(py_task(TWO_BUGS, TESTS))
    assert a._res.episode.baseline == {
        "test_prog.py::test_a": False,
        "test_prog.py::test_b": False,
        "test_prog.py::test_c": True,
    }
    a.step("```edit\nprog.py 2-2\n    return 2\n```")
    assert a.score() == 0.5  # one of the two failing tests fixed
    a.step("```edit\nprog.py 6-6\n    return 4\n```")
    assert a.score() == 1.0
    a.step("```edit\nprog.py 10-10\n    return 6\n```")
    assert a.score() == 0.0  # fixed both, broke the only passing one


@pytest.mark.integration
def test_touching_the_tests_scores_zero(new_adapter):
    a = new_adapter()
    a.reset(py_task(TWO_BUGS, TESTS))
    obs = a.step("```edit\ntest_prog.py 5-5\n    assert True\n```")
    assert "cannot be edited" in obs.text  # the edit action refuses
    # ... and a test file changed by other means (pdb can run any Python) scores 0
    a.step("```pdb\n!open('/work/test_prog.py', 'w').write('def test_a():\\n    pass\\n')\n```")
    a.step("```diff\n--- a/prog.py\n+++ b/prog.py\n@@ -2 +2 @@\n-    return 1\n+    return 2\n"
           "@@ -6 +6 @@\n-    return 3\n+    return 4\n```")  # fmt: skip
    assert (a.workdir / "prog.py").read_text().count("return 2") == 1
    assert a.score() == 0.0


@pytest.mark.integration
def test_program_that_fakes_results_cannot_pass(new_adapter):
    # the program prints a fake report and exits: the runner's results pipe and nonce decide
    cheat = (
        "import os, json\n"
        "os.write(1, b'x\\n' + json.dumps({'tests': []}).encode())\n"
        "def a():\n    os._exit(0)\n\n\ndef b():\n    return 3\n\n\ndef c():\n    return 5\n"
    )
    a = new_adapter()
    a.reset(py_task(TWO_BUGS, TESTS))
    (a.workdir / "prog.py").write_text(cheat)
    assert a.score() == 0.0
