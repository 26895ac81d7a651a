"""The Terminal-Bench importer (``envlearn_terminal.tbench``).

* stock fixtures: ``fixtures/terminal-bench/`` holds 11 tasks written in the stock
  Terminal-Bench 1 format, byte for byte (``run-tests.sh`` with its ``if [ "$PWD" = "/" ]``
  guard, ``docker-compose.yaml``, the ``t-bench`` base images); all import, each oracle scores
  1.0 and a no-op attempt 0.0 through the real adapter, and the two built on Python 3.13 are
  flagged (task.yaml ``warnings`` and the import report).
* unit: a fake tree with refusals (images, services, installs, third-party imports), the guard's
  variants, the Python-version helpers, the CLI report.

Runtime on a 2-core machine: unit ≈ 2 s; the two adapter runs ≈ 25 s.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml
from envlearn_terminal.suite import load_task_dir, load_task_tree
from envlearn_terminal.tbench import (
    cli_import,
    image_python_version,
    import_terminal_bench,
    sandbox_python_version,
)

from .conftest import run_oracles_and_noops

FIXTURES = Path(__file__).parent / "fixtures" / "terminal-bench"
#: The stock run-tests.sh as Terminal-Bench's task template publishes it (guard included).
STOCK_RUN_TESTS = """\
#!/bin/bash

# Install curl
apt-get update
apt-get install -y curl

# Install uv
curl -LsSf https://astral.sh/uv/0.7.13/install.sh | sh

source $HOME/.local/bin/env

# Check if we're in a valid working directory
if [ "$PWD" = "/" ]; then
    echo "Error: No working directory set. Please set a WORKDIR in your Dockerfile before running this script."
    exit 1
fi

uv init
uv add pytest==8.4.1

# Install other dependencies if needed (remember, by default this is a different venv
# than your agent's)

uv run pytest $TEST_DIR/test_outputs.py -rA
"""  # noqa: E501
#: The same with the template's header comments, as many published tasks keep it.
STOCK_RUN_TESTS_WITH_HEADER = STOCK_RUN_TESTS.replace(
    "#!/bin/bash\n\n",
    "#!/bin/bash\n\n"
    "# You can modify anything in this script. Just make sure it generates test output that\n"
    "# is parsed by a parser (PytestParser by default).\n\n"
    "# This boilerplate script installs uv (to manage Python) and runs pytest.\n\n",
    1,
)
PY313_TASKS = {"fix-median", "json-total"}

COMPOSE = """\
services:
  client:
    build:
      dockerfile: Dockerfile
    image: ${T_BENCH_TASK_DOCKER_CLIENT_IMAGE_NAME}
    container_name: ${T_BENCH_TASK_DOCKER_CLIENT_CONTAINER_NAME}
    command: [ "sh", "-c", "sleep infinity" ]
    environment:
      - TEST_DIR=${T_BENCH_TEST_DIR}
    volumes:
      - ${T_BENCH_TASK_LOGS_PATH}:${T_BENCH_CONTAINER_LOGS_PATH}
      - ${T_BENCH_TASK_AGENT_LOGS_PATH}:${T_BENCH_CONTAINER_AGENT_LOGS_PATH}
"""
RUN_TESTS_UV = """\
#!/bin/bash

# Install curl
apt-get update
apt-get install -y curl

# Install uv
curl -LsSf https://astral.sh/uv/0.7.13/install.sh | sh

source $HOME/.local/bin/env

uv venv .tbench-testing

source .tbench-testing/bin/activate
uv pip install pytest==8.4.1

uv run pytest $TEST_DIR/test_outputs.py -rA
"""

FAKE_TERMINAL_BENCH: dict[str, str] = {
    # accepted: `instruction`, a COPY of task data, the stock uv/pytest run-tests.sh
    "hello-file/task.yaml": """\
        instruction: |
          Read the name in /app/data/name.txt and write the line `Hello, NAME!` (with that
          name) to /app/hello.txt.
        author_email: someone@example.com
        difficulty: easy
        category: file-operations
        tags: [file-operations]
        parser_name: pytest
        max_agent_timeout_sec: 360.0
        max_test_timeout_sec: 60.0
        run_tests_in_same_shell: false
        """,
    "hello-file/Dockerfile": """\
        FROM ghcr.io/laude-institute/t-bench/ubuntu-24-04:20250624

        WORKDIR /app
        COPY data/ /app/data/
        """,
    "hello-file/docker-compose.yaml": COMPOSE,
    "hello-file/run-tests.sh": RUN_TESTS_UV,
    "hello-file/data/name.txt": "Ada\n",
    "hello-file/solution.sh": """\
        #!/bin/bash
        echo "Hello, $(cat /app/data/name.txt)!" > /app/hello.txt
        """,
    "hello-file/tests/test_outputs.py": """\
        from pathlib import Path


        def test_hello_file():
            assert Path("/app/hello.txt").read_text().strip() == "Hello, Ada!"
        """,
    # accepted: old-style `descriptions`, solution.yaml, a RUN of plain file operations
    "count-lines/task.yaml": """\
        descriptions:
          - key: base
            description: |
              Count the lines of /app/input/words.txt and write the number to /app/count.txt.
        difficulty: easy
        category: data-processing
        """,
    "count-lines/Dockerfile": """\
        FROM python:3.13-slim-bookworm
        ENV PYTHONUNBUFFERED=1
        WORKDIR /app
        RUN mkdir -p /app/input && \\
            printf 'alpha\\nbeta\\ngamma\\n' > /app/input/words.txt
        CMD ["bash"]
        """,
    "count-lines/docker-compose.yaml": COMPOSE,
    "count-lines/solution.yaml": """\
        - command: wc -l < /app/input/words.txt > /app/count.txt
          min_timeout_sec: 0.1
          block: true
          append_enter: true
        """,
    "count-lines/tests/test_outputs.py": """\
        import os


        def test_count():
            assert open(os.path.join("/app", "count.txt")).read().strip() == "3"
        """,
    # refused
    "needs-numpy/task.yaml": "instruction: Compute the mean of /app/x.npy.\ncategory: data\n",
    "needs-numpy/Dockerfile": "FROM python:3.13\nWORKDIR /app\nRUN pip install numpy==2.0.0\n",
    "needs-numpy/tests/test_outputs.py": "def test_mean():\n    assert True\n",
    "custom-image/task.yaml": "instruction: Train the model.\ncategory: model-training\n",
    "custom-image/Dockerfile": "FROM nvidia/cuda:12.4.0-devel-ubuntu22.04\nWORKDIR /app\n",
    "custom-image/tests/test_outputs.py": "def test_model():\n    assert True\n",
    "two-services/task.yaml": "instruction: Query the database.\ncategory: software-engineering\n",
    "two-services/Dockerfile": "FROM ubuntu:24.04\nWORKDIR /app\n",
    "two-services/docker-compose.yaml": """\
        services:
          client:
            build:
              dockerfile: Dockerfile
            image: ${T_BENCH_TASK_DOCKER_CLIENT_IMAGE_NAME}
          db:
            image: postgres:16
        """,
    "two-services/tests/test_outputs.py": "def test_db():\n    assert True\n",
    "web-tests/task.yaml": "instruction: Serve on port 8000.\ncategory: software-engineering\n",
    "web-tests/Dockerfile": "FROM ubuntu:24.04\nWORKDIR /app\n",
    "web-tests/tests/test_outputs.py": "import requests\n\n\ndef test_up():\n    assert requests\n",
    "extra-deps/task.yaml": "instruction: Write /app/out.csv.\ncategory: data-processing\n",
    "extra-deps/Dockerfile": "FROM ubuntu:24.04\nWORKDIR /app\n",
    "extra-deps/run-tests.sh": "#!/bin/bash\npip install pytest pandas==2.2.0\n"
    "pytest $TEST_DIR/test_outputs.py -rA\n",
    "extra-deps/tests/test_outputs.py": "def test_csv():\n    assert True\n",
}
EXPECTED_REFUSALS = {
    "needs-numpy": "installs software (pip)",
    "custom-image": "not a stock base image",
    "two-services": "2 services",
    "web-tests": "tests import 'requests'",
    "extra-deps": "run-tests.sh installs packages",
}


def make_fake_terminal_bench(root: Path, files: dict[str, str] = FAKE_TERMINAL_BENCH) -> Path:
    """Write a small Terminal-Bench-style ``tasks/`` tree under ``root``."""
    for rel, text in files.items():
        p = root / "tasks" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


@pytest.mark.unit
def test_import_terminal_bench_converts_and_refuses(tmp_path: Path) -> None:
    src = make_fake_terminal_bench(tmp_path / "tb")
    refused: dict[str, str] = {}
    out = import_terminal_bench(
        src, tmp_path / "out", on_refused=lambda tid, why: refused.__setitem__(tid, why)
    )
    assert sorted(p.name for p in out) == ["count-lines", "hello-file"]
    assert set(refused) == set(EXPECTED_REFUSALS)
    for tid, needle in EXPECTED_REFUSALS.items():
        assert needle in refused[tid], (tid, refused[tid])

    hello = load_task_dir(tmp_path / "out" / "hello-file")
    assert hello.split == "heldout" and hello.data["category"] == "filesystem"
    assert "/work/data/name.txt" in hello.instruction and "/app" not in hello.instruction
    assert "/work/hello.txt" in hello.oracle[1] and "/app" not in hello.oracle[1]
    d = tmp_path / "out" / "hello-file"
    assert "/work/hello.txt" in (d / "tests" / "test_outputs.py").read_text()
    assert not (d / "tests" / "run-uv-pytest.sh").exists()
    assert '"$TEST_DIR/test_outputs.py"' in (d / "verify.sh").read_text()
    assert "base64 -d" in (d / "setup.sh").read_text()  # data/ is recreated by setup.sh

    count = load_task_dir(tmp_path / "out" / "count-lines")
    assert count.instruction.startswith("Count the lines of /work/input/words.txt")
    assert count.data["category"] == "text"
    assert "wc -l < /work/input/words.txt > /work/count.txt" in count.oracle[1]
    assert "/work/input/words.txt" in (tmp_path / "out" / "count-lines" / "setup.sh").read_text()


@pytest.mark.unit
@pytest.mark.parametrize(
    ("dockerfile", "needle"),
    [
        ("FROM ubuntu:24.04\nWORKDIR /app\nRUN apt-get update\n", "installs software (apt-get)"),
        ("FROM ubuntu:24.04 AS b\nFROM ubuntu:24.04\n", "multi-stage"),
        ("FROM ubuntu:24.04\nEXPOSE 8080\n", "EXPOSE"),
        ("FROM ubuntu:24.04\nENV API_KEY=abc\n", "API_KEY"),
        ("FROM ubuntu:24.04\nWORKDIR /app\nCOPY data /etc/data\n", "outside the work dir"),
        ("FROM ubuntu:24.04\nWORKDIR /app\nRUN make all\n", "not a plain file operation"),
        ("FROM ubuntu:24.04\nRUN mkdir -p /opt/x\n", "writes outside the work dir"),
    ],
)
def test_importer_refuses_dockerfiles_that_need_an_image(
    tmp_path: Path, dockerfile: str, needle: str
) -> None:
    files = {
        "t/task.yaml": "instruction: do it\ncategory: x\n",
        "t/Dockerfile": dockerfile,
        "t/data/a.txt": "a\n",
        "t/tests/test_outputs.py": "def test_ok():\n    assert True\n",
    }
    src = make_fake_terminal_bench(tmp_path / "tb", files)
    refused: list[tuple[str, str]] = []
    out = import_terminal_bench(
        src / "tasks" / "t", tmp_path / "out", on_refused=lambda *r: refused.append(r)
    )
    assert out == [] and len(refused) == 1 and refused[0][0] == "t"
    assert needle in refused[0][1], refused[0][1]
    assert not (tmp_path / "out" / "t").exists(), "a refused task must leave nothing behind"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("files", "needle"),
    [
        (
            {"t/task.yaml": "instruction: do it\n", "t/Dockerfile": "FROM ubuntu:24.04\n"},
            "nothing to verify",
        ),
        (
            {"t/task.yaml": "category: x\n", "t/tests/test_a.py": "def test_a(): pass\n"},
            "neither 'instruction'",
        ),
        ({"t/task.toml": "version = '1.0'\n", "t/instruction.md": "Do it.\n"}, "Harbor layout"),
    ],
)
def test_importer_refuses_tasks_it_cannot_read_or_verify(
    tmp_path: Path, files: dict[str, str], needle: str
) -> None:
    src = make_fake_terminal_bench(tmp_path / "tb", files)
    refused: list[tuple[str, str]] = []
    assert (
        import_terminal_bench(src, tmp_path / "out", on_refused=lambda *r: refused.append(r)) == []
    )
    assert len(refused) == 1 and needle in refused[0][1], refused


@pytest.mark.unit
def test_cli_import_reports_imported_and_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = make_fake_terminal_bench(tmp_path / "tb")
    dest = tmp_path / "out"
    assert cli_import([str(src), "--dest", str(dest), "--split", "train"]) == 0
    out = capsys.readouterr().out
    assert "imported  hello-file ->" in out and "imported  count-lines ->" in out
    for tid, needle in EXPECTED_REFUSALS.items():
        assert re.search(rf"^refused   {tid}: .*{re.escape(needle)}", out, re.M), out
    assert "2 imported, 5 refused" in out
    assert load_task_dir(dest / "hello-file").split == "train"

    assert cli_import([str(src), "--dest", str(dest)]) == 1  # all exist now
    assert "already exists (pass --force" in capsys.readouterr().out
    assert cli_import([str(src), "--dest", str(dest), "--force"]) == 0
    assert cli_import([str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err


@pytest.mark.integration
def test_imported_tasks_run_through_the_adapter(tmp_path: Path, bwrap_ok: None) -> None:
    src = make_fake_terminal_bench(tmp_path / "tb")
    import_terminal_bench(src, tmp_path / "out")
    tasks = load_task_tree(tmp_path / "out")
    assert [t.id for t in tasks] == ["count-lines", "hello-file"]
    failures = run_oracles_and_noops(tasks)
    assert failures == [], "\n".join(failures)


# ------------------------------------------------------------------------------------------
# the stock-format fixture set


@pytest.mark.unit
def test_stock_fixtures_are_byte_exact() -> None:
    dirs = sorted(d for d in FIXTURES.iterdir() if d.is_dir())
    assert len(dirs) >= 10
    variants = {STOCK_RUN_TESTS.encode(): 0, STOCK_RUN_TESTS_WITH_HEADER.encode(): 0}
    for d in dirs:
        script = (d / "run-tests.sh").read_bytes()
        assert script in variants, d.name
        variants[script] += 1
        assert (d / "docker-compose.yaml").read_bytes() == COMPOSE.encode(), d.name
        assert b'if [ "$PWD" = "/" ]; then' in (d / "run-tests.sh").read_bytes()
        docker = (d / "Dockerfile").read_text()
        assert docker.startswith("FROM ghcr.io/laude-institute/t-bench/"), d.name
        assert "\nWORKDIR /app\n" in docker, d.name
        spec = yaml.safe_load((d / "task.yaml").read_text())
        assert spec["parser_name"] == "pytest" and "instruction" in spec, d.name
    assert all(variants.values()), "both stock variants are covered"


@pytest.mark.unit
def test_stock_fixtures_all_import_and_python_mismatch_is_flagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    have = sandbox_python_version()
    assert have is not None and re.fullmatch(r"3\.\d+", have)
    assert cli_import([str(FIXTURES), "--dest", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    n = len([d for d in FIXTURES.iterdir() if d.is_dir()])
    assert f"{n} imported, 0 refused" in out, out
    flagged = set(re.findall(r"^warning   (\S+): built on .*Python 3\.13", out, re.M))
    expect = PY313_TASKS if have != "3.13" else set()
    assert flagged == expect, out
    for t in load_task_tree(tmp_path):
        warnings = t.data.get("warnings", [])
        if t.id in expect:
            assert len(warnings) == 1 and f"sandbox runs Python {have}" in warnings[0]
        else:
            assert warnings == [], (t.id, warnings)
        verify = (tmp_path / t.id / "verify.sh").read_text()
        assert '"$TEST_DIR/test_outputs.py"' in verify and "/app" not in t.instruction


@pytest.mark.integration
def test_stock_fixture_oracles_pass_and_noops_fail(tmp_path: Path, bwrap_ok: None) -> None:
    imported = import_terminal_bench(FIXTURES, tmp_path)
    tasks = load_task_tree(tmp_path)
    assert len(tasks) == len(imported) >= 10
    failures = run_oracles_and_noops(tasks)
    assert failures == [], "\n".join(failures)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("guard", "needle"),
    [
        (
            'if [ "$PWD" = "/" ]; then\n    echo "no workdir"\n    rm -rf /tmp/x\n    exit 1\nfi\n',
            "guard does more than print and exit",
        ),
        (
            'if [ "$PWD" = "/" ]; then\n    echo "no workdir"\n    exit 1\n',
            "the working-directory guard does more",
        ),
        ("if [ -f /etc/hosts ]; then\n    echo hi\nfi\n", "does more than run pytest"),
    ],
)
def test_guard_variants_that_do_more_are_refused(tmp_path: Path, guard: str, needle: str) -> None:
    src = tmp_path / "tb" / "t"
    shutil.copytree(FIXTURES / "hello-file", src)
    script = STOCK_RUN_TESTS.replace(
        STOCK_RUN_TESTS[STOCK_RUN_TESTS.index("if [") : STOCK_RUN_TESTS.index("fi\n") + 3], guard
    )
    (src / "run-tests.sh").write_text(script)
    refused: list[tuple[str, str]] = []
    assert (
        import_terminal_bench(src, tmp_path / "out", on_refused=lambda *r: refused.append(r)) == []
    )
    assert len(refused) == 1 and needle in refused[0][1], refused


@pytest.mark.unit
@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("ghcr.io/laude-institute/t-bench/python-3-13:20250620", "3.13"),
        ("python:3.12-slim-bookworm", "3.12"),
        ("docker.io/library/python:3.11", "3.11"),
        ("ghcr.io/laude-institute/t-bench/ubuntu-24-04:20250624", None),
        ("debian:bookworm", None),
    ],
)
def test_image_python_version(image: str, version: str | None) -> None:
    assert image_python_version(image) == version


@pytest.mark.unit
def test_same_python_version_is_not_flagged(tmp_path: Path) -> None:
    have = sandbox_python_version()
    src = tmp_path / "tb" / "t"
    shutil.copytree(FIXTURES / "hello-file", src)
    docker = (src / "Dockerfile").read_text()
    (src / "Dockerfile").write_text(docker.replace(docker.split()[1], f"python:{have}-slim"))
    warned: list[tuple[str, str]] = []
    out = import_terminal_bench(src, tmp_path / "out", on_warning=lambda *w: warned.append(w))
    assert len(out) == 1 and warned == []
