"""The bundled terminal task suite (the importer's tests are in ``test_tbench.py``).

* unit: every task directory loads and is well formed; task.yaml errors name the file and key.
* integration: every bundled task's oracle scores 1.0 and a no-op attempt scores < 1.0, run
  through the real ``terminal`` adapter (bubblewrap), 4 sessions in parallel.

Runtime on a 2-core machine: unit tests ≈ 1.5 s; the all-tasks integration test ≈ 14 s.
"""

from __future__ import annotations

import collections
import re
import subprocess
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from envlearn_terminal import TerminalAdapter
from envlearn_terminal.adapter import ACTION_LANGUAGES
from envlearn_terminal.suite import (
    BUNDLED_TASKS_DIR,
    CATEGORIES,
    TaskFileError,
    fenced_action,
    load_bundled_tasks,
    load_task_dir,
    load_task_tree,
)

from envlearn.actions import parse_action
from envlearn.channels import Observation, Task

from .conftest import play_oracle, run_oracles_and_noops

SCRIPTS = ("setup.sh", "verify.sh", "solution.sh")
# Tools a task may not rely on: not part of the sandbox's Debian base, or needing the network.
FORBIDDEN_TOOL_RE = re.compile(
    r"(^|[|;&(`]|\$\()\s*(jq|curl|wget|xz|unxz|bzip2|bunzip2|sudo|apt-get|pip3?|npm|docker)\b",
    re.M,
)


@pytest.fixture(scope="module")
def bundled() -> list[Task]:
    return load_bundled_tasks()


# ------------------------------------------------------------------------------------------
# the bundled suite: structure


@pytest.mark.unit
def test_every_task_dir_loads_with_unique_ids(bundled: list[Task]) -> None:
    dirs = sorted(p.name for p in BUNDLED_TASKS_DIR.iterdir() if p.is_dir())
    assert [t.id for t in bundled] == dirs, "every directory under tasks/ must be a task"
    assert len({t.id for t in bundled}) == len(bundled)
    assert len(bundled) >= 44
    for t in bundled:
        assert t.adapter == "terminal"
        assert t.instruction.strip() and "/work" in t.instruction, t.id
        assert t.data["task_dir"] == str(BUNDLED_TASKS_DIR / t.id)
        assert t.data["timeout_s"] > 0
        assert t.time_limit_s is None
        assert t.oracle and len(t.oracle) == 3, f"{t.id}: needs a solution.sh"
        assert t.oracle[0] == "```bash\nls -la\n```" and t.oracle[2] == "TASK COMPLETE", t.id
        assert t.oracle[1].startswith("```bash\n") and t.oracle[1].endswith("\n```"), t.id


@pytest.mark.unit
def test_splits_and_categories_are_covered(bundled: list[Task]) -> None:
    by_split = collections.Counter(t.split for t in bundled)
    assert by_split["train"] > 0 and by_split["heldout"] >= 10, by_split
    cats = {t.data["category"] for t in bundled}
    assert cats == set(CATEGORIES), f"missing categories: {set(CATEGORIES) - cats}"
    heldout_cats = {t.data["category"] for t in bundled if t.split == "heldout"}
    assert heldout_cats == set(CATEGORIES), "held-out tasks must span every category"


@pytest.mark.unit
def test_task_scripts_are_valid_bash_and_use_only_base_tools(bundled: list[Task]) -> None:
    problems = []
    for t in bundled:
        d = Path(t.data["task_dir"])
        for name in SCRIPTS:
            f = d / name
            if not f.exists():
                if name != "setup.sh":
                    problems.append(f"{t.id}: {name} missing")
                continue
            r = subprocess.run(["bash", "-n", str(f)], capture_output=True, text=True)
            if r.returncode != 0:
                problems.append(f"{t.id}/{name}: {r.stderr.strip()}")
            m = FORBIDDEN_TOOL_RE.search(f.read_text())
            if m:
                problems.append(f"{t.id}/{name}: uses {m.group(2)!r}")
        # the oracle is eval'ed in the model's persistent shell: it must not kill or taint it
        sol = (d / "solution.sh").read_text()
        top = re.sub(r"<<'?(\w+)'?\n.*?\n\1\n", "", sol, flags=re.S)  # drop heredoc bodies
        if re.search(r"^\s*(exit|set -[a-z]*e|exec)\b", top, re.M):
            problems.append(f"{t.id}/solution.sh: exit/exec/set -e at top level")
    assert problems == []


@pytest.mark.unit
def test_fenced_action_survives_backticks() -> None:
    for script in ("echo hi\n", "printf '```\\n' > x.md\necho ````\n"):
        action = fenced_action(script)
        parsed = parse_action(action, languages=ACTION_LANGUAGES)
        assert parsed.kind == "act" and (parsed.body or "").strip() == script.strip(), action


# ------------------------------------------------------------------------------------------
# task.yaml validation


def _task(tmp: Path, yaml_text: str, *, name: str = "t1", verify: bool = True) -> Path:
    d = tmp / name
    d.mkdir()
    (d / "task.yaml").write_text(textwrap.dedent(yaml_text))
    if verify:
        (d / "verify.sh").write_text("exit 0\n")
    return d


@pytest.mark.unit
@pytest.mark.parametrize(
    ("yaml_text", "needles"),
    [
        ("split: train\ncategory: git\n", ["key 'instruction' is required"]),
        ("instruction: x\ncategory: git\nsplit: test\n", ["key 'split'", "'test'"]),
        ("instruction: x\ncategory: git\nmax_turn: 3\n", ["key 'max_turn' is not allowed"]),
        ("instruction: x\ncategory: cooking\n", ["key 'category'", "'cooking'"]),
        ("instruction: x\ncategory: git\nmax_turns: 0\n", ["key 'max_turns'"]),
        ("instruction: x\ncategory: git\ntimeout_s: -1\n", ["key 'timeout_s'"]),
        ("instruction: '  '\ncategory: git\n", ["key 'instruction'", "non-empty"]),
        ("- just\n- a list\n", ["must be a YAML mapping"]),
        ("instruction: [unclosed\n", ["not valid YAML"]),
    ],
)
def test_bad_task_yaml_names_file_and_key(tmp_path: Path, yaml_text: str, needles: list) -> None:
    d = _task(tmp_path, yaml_text)
    with pytest.raises(TaskFileError) as e:
        load_task_dir(d)
    msg = str(e.value)
    assert str(d / "task.yaml") in msg
    for n in needles:
        assert n in msg, msg


@pytest.mark.unit
def test_missing_files_and_bad_ids_are_explained(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match="verify.sh: missing"):
        load_task_dir(_task(tmp_path, "instruction: x\ncategory: git\n", verify=False))
    with pytest.raises(TaskFileError, match="task.yaml: missing"):
        (tmp_path / "empty").mkdir()
        load_task_dir(tmp_path / "empty")
    with pytest.raises(TaskFileError, match="directory name is the task id"):
        load_task_dir(_task(tmp_path, "instruction: x\ncategory: git\n", name="bad name"))


@pytest.mark.unit
def test_load_task_dir_builds_the_contract_task(tmp_path: Path) -> None:
    d = _task(
        tmp_path,
        """\
        instruction: |
          Do it in /work.
        split: heldout
        category: text
        max_turns: 5
        timeout_s: 3
        difficulty: hard
        """,
    )
    (d / "solution.sh").write_text("#!/bin/bash\necho done\n\n")
    t = load_task_dir(d)
    assert t.id == "t1" and t.adapter == "terminal" and t.split == "heldout"
    assert t.instruction == "Do it in /work." and t.max_turns == 5
    assert t.data == {
        "task_dir": str(d.resolve()),
        "timeout_s": 3.0,
        "category": "text",
        "clock": "fixed",
        "nested_userns": False,
    }
    assert t.oracle == [
        "```bash\nls -la\n```",
        "```bash\n#!/bin/bash\necho done\n```",
        "TASK COMPLETE",
    ]
    (d / "solution.sh").unlink()
    assert load_task_dir(d).oracle is None
    assert [x.id for x in load_task_tree(tmp_path)] == ["t1"]


# ------------------------------------------------------------------------------------------
# running every task through the adapter


@pytest.fixture(scope="module")
def first_pass(bundled: list[Task], bwrap_ok: None) -> tuple[list[str], dict, float]:
    """Every bundled task's oracle and no-op, once: (failures, oracle observations, when)."""
    record: dict[str, list[Observation]] = {}
    started = time.time()
    failures = run_oracles_and_noops(bundled, record)
    return failures, record, started


@pytest.mark.integration
def test_every_bundled_oracle_passes_and_noop_fails(first_pass: tuple) -> None:
    failures, _, _ = first_pass
    assert failures == [], "\n".join(failures)


@pytest.mark.integration
def test_bundled_oracle_rollouts_are_identical_at_another_time(
    bundled: list[Task], first_pass: tuple
) -> None:
    """Same task, same seed, later on the wall clock (and from fresh adapters): the same
    observations, byte for byte and part for part (the fixed clock and file times)."""
    _, record, started = first_pass
    assert time.time() - started >= 1.0  # the first pass alone took longer than a second

    def again(task: Task) -> list[Observation]:
        a = TerminalAdapter()
        try:
            return play_oracle(a, task)
        finally:
            a.close()

    with ThreadPoolExecutor(max_workers=4) as ex:
        second = dict(zip([t.id for t in bundled], ex.map(again, bundled), strict=True))

    def seen(obs: list[Observation]) -> list[tuple]:
        return [(o.parts, o.done, o.reward) for o in obs]  # info holds durations

    differ = [tid for tid, obs in record.items() if seen(obs) != seen(second[tid])]
    assert len(record) == len(bundled) and differ == [], differ
