"""The importer: bug benchmarks in both common layouts become verified debugger tasks; what it
cannot convert is refused with a reason per program."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from envlearn_debugger.suite import build_oracle, cli_import, import_bugs, load_task_tree

pytestmark = pytest.mark.integration

ADD_BUGGY = "def add(a, b):\n    return a - b\n"
ADD_FIXED = "def add(a, b):\n    return a + b\n"
ADD_TEST = "from add import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n"
LOWER_BUGGY = (
    "#include <stdio.h>\n#include <ctype.h>\n\nint main(int argc, char **argv) {\n"
    "  int n = 0;\n  for (char *s = argv[1]; *s; s++)\n    if (isupper(*s))\n      n++;\n"
    '  printf("%d\\n", n);\n  return 0;\n}\n'
)
LOWER_CASES = json.dumps(
    {"cases": [{"name": "mixed", "args": ["HeLLo"], "stdout": "2\n"},
               {"name": "none", "args": ["ABC"], "stdout": "0\n"}]}
)  # fmt: skip


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


@pytest.fixture
def triple(tmp_path: Path) -> Path:
    src = tmp_path / "bench"
    write(
        src,
        {
            "buggy/add.py": ADD_BUGGY,
            "fixed/add.py": ADD_FIXED,
            "tests/test_add.py": ADD_TEST,
            "buggy/lower.c": LOWER_BUGGY,
            "fixed/lower.c": LOWER_BUGGY.replace("isupper", "islower"),
            "tests/lower.json": LOWER_CASES,
            "buggy/orphan.py": ADD_BUGGY,  # no fixed/orphan.py
            "tests/test_orphan.py": ADD_TEST,
            "buggy/same.py": ADD_FIXED,
            "fixed/same.py": ADD_FIXED,
            "tests/test_same.py": ADD_TEST.replace("from add", "from same"),
            "buggy/widget.js": "x = 1\n",
            "fixed/widget.js": "x = 2\n",
            "buggy/fine.py": ADD_FIXED,  # the "bug" does not make any test fail
            "fixed/fine.py": ADD_FIXED + "\n",
            "tests/test_fine.py": ADD_TEST.replace("from add", "from fine"),
            "buggy/wrongfix.py": ADD_BUGGY,  # the fix does not pass the tests
            "fixed/wrongfix.py": ADD_BUGGY.replace("a - b", "a * b"),
            "tests/test_wrongfix.py": ADD_TEST.replace("from add", "from wrongfix"),
        },
    )
    return src


def test_triple_layout_imports_what_it_can_and_refuses_the_rest(triple, tmp_path, workroot):
    refused: dict[str, str] = {}
    out = tmp_path / "tasks"
    written = import_bugs(
        triple,
        out,
        on_refused=lambda name, why: refused.__setitem__(name, why),
        adapter_options={"workdir_root": workroot},
    )
    assert sorted(p.name for p in written) == ["imported-add", "imported-lower"]
    assert "no fixed/orphan.py" in refused["orphan"]
    assert "identical" in refused["same"]
    assert "only Python (.py) and C (.c)" in refused["widget"]
    assert "no test fails on the buggy program" in refused["fine"]
    assert "fail on the fixed program too" in refused["wrongfix"]
    tasks = {t.id: t for t in load_task_tree(out)}
    add = tasks["imported-add"]
    assert add.split == "heldout" and add.data["debug"] == {"test": "test_add.py::test_add"}
    assert add.data["baseline"] == {"test_add.py::test_add": False, "test_add.py::test_zero": True}
    assert add.oracle[0].startswith("```pdb\nbreak add.py:2\n")
    assert add.oracle[1] == "```edit\nadd.py 2-2\n    return a + b\n```"
    lower = tasks["imported-lower"]
    assert lower.data["debug"] == {"args": ["HeLLo"]}
    assert lower.oracle[0].startswith("```gdb\nbreak lower.c:7\n")


def test_folder_per_bug_layout_and_the_cli(tmp_path, workroot, monkeypatch, capsys):
    src = tmp_path / "bugs"
    write(src, {"b1/buggy/add.py": ADD_BUGGY, "b1/fixed/add.py": ADD_FIXED,
                "b1/tests/test_add.py": ADD_TEST, "b2/buggy/add.py": ADD_BUGGY})  # fmt: skip
    monkeypatch.setattr(
        "envlearn_debugger.adapter.tempfile.gettempdir", lambda: str(workroot)
    )  # keep episode dirs in the test's root
    code = cli_import([str(src), "--dest", str(tmp_path / "out"), "--split", "train"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "imported  imported-b1" in out
    assert "refused   b2: a bug folder needs buggy/, fixed/, tests/" in out
    assert "1 imported, 1 refused" in out
    (task,) = load_task_tree(tmp_path / "out")
    assert task.split == "train" and task.data["origin"] == "b1"
    # importing again refuses to overwrite without --force
    assert cli_import([str(src), "--dest", str(tmp_path / "out")]) == 1
    assert "exists (use --force" in capsys.readouterr().out


@pytest.mark.unit
def test_oracle_uses_a_diff_for_several_changes():
    buggy = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\n"
    fixed = buggy.replace("a = 1", "a = 10").replace("f = 6", "f = 60")
    look, fix, done = build_oracle("m.py", buggy, fixed, "python", None)
    assert look.startswith("```pdb\nbreak m.py:1\n")
    assert fix.startswith("```diff\n--- a/m.py\n+++ b/m.py\n@@ -1,6 +1,6 @@\n-a = 1\n+a = 10\n")
    assert fix.endswith("-f = 6\n+f = 60\n```")
    assert done == "```test\nrun\n```\nTASK COMPLETE"


@pytest.mark.unit
def test_the_plugin_registers_adapter_suite_and_command():
    from envlearn.plugins import get_adapters, get_commands, get_task_suites

    assert "debugger" in get_adapters()
    assert get_task_suites()["debugger"].adapter == "debugger"
    assert "debugger-import" in get_commands()
