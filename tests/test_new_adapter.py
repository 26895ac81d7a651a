"""``envlearn new-adapter``: the generated plugin installs, is listed, passes ``envlearn check`` and
its own tests.  The plugin is installed with ``pip --target`` into a temp folder, never into the
running environment.  Runtime: about 6 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envlearn.testing.template import PLACEHOLDER, cli_new_adapter, new_adapter, template_dir

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path | None = None, site: Path | None = None) -> str:
    """Run a command in a fresh interpreter (``site`` on PYTHONPATH); its output, or fail."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENVLEARN_", "PIP_"))}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    if site is not None:
        env["PYTHONPATH"] = str(site)
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.integration
def test_generated_plugin_installs_checks_and_passes_its_own_tests(tmp_path: Path) -> None:
    project = tmp_path / "envlearn-demo-kv"
    site = tmp_path / "site"
    out = run("-m", "envlearn", "new-adapter", "demo_kv", "--dir", str(project))
    assert "pip install -e ." in out and "envlearn check demo_kv" in out
    run(
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--target",
        str(site),
        str(project),
    )
    assert (site / "envlearn_demo_kv.py").is_file()

    listed = run("-m", "envlearn", "adapters", site=site)
    assert "demo_kv" in listed and "adapter=demo_kv" in listed

    checked = run("-m", "envlearn", "check", "demo_kv", site=site)
    assert "15 passed, 0 failed, 0 skipped" in checked, checked

    tested = run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project, site=site)
    assert "24 passed" in tested, tested

    # and it trains: two ECHO steps on its own task suite, from a fresh tiny model
    runs = tmp_path / "run"
    recipe = tmp_path / "demo_kv_echo.yaml"
    recipe.write_text("model: {name_or_path: tiny}\ntasks: {suite: demo_kv}\n")
    trained = run(
        "-m", "envlearn", "train", str(recipe),
        f"run_dir={runs}", "tasks.eval_split=train",
        "objective.mode=echo", "train.steps=2", "train.tasks_per_step=2",
        "rollout.group_size=2", "rollout.max_action_tokens=16", "eval.at_start=false",
        "diagnostic.every=2", "tensorboard=false", "progress=false",
        site=site,
    )  # fmt: skip
    assert "done:" in trained, trained
    kinds = [json.loads(line)["kind"] for line in (runs / "metrics.jsonl").read_text().splitlines()]
    assert kinds.count("train") == 2 and "diag" in kinds


@pytest.mark.unit
def test_generated_files_are_renamed_throughout(tmp_path: Path) -> None:
    target = new_adapter("sql_shell", tmp_path / "out")
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == [
        ".gitignore",
        "README.md",
        "envlearn_sql_shell.py",
        "pyproject.toml",
        "tests/test_sql_shell.py",
    ]
    for path in target.rglob("*"):
        if path.is_file():
            assert PLACEHOLDER not in path.read_text().lower(), path
    module = (target / "envlearn_sql_shell.py").read_text()
    assert "class SqlShellAdapter(BaseAdapter)" in module
    assert 'register("sql_shell", SqlShellAdapter' in module
    pyproject = (target / "pyproject.toml").read_text()
    assert 'name = "envlearn-sql-shell"' in pyproject
    assert 'sql_shell = "envlearn_sql_shell"' in pyproject


@pytest.mark.unit
def test_bad_names_and_occupied_folders_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli_new_adapter(["SQL-Shell"])
    err = capsys.readouterr().err
    assert "adapter name 'SQL-Shell' is invalid" in err and "(e.g. 'sql_shell')" in err
    occupied = tmp_path / "busy"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    assert cli_new_adapter(["fresh_env", "--dir", str(occupied)]) == 1
    assert "already exists and is not an empty folder" in capsys.readouterr().err
    assert (occupied / "keep.txt").read_text() == "mine"
    assert cli_new_adapter(["toy", "--dir", str(tmp_path / "t")]) == 1
    assert "an adapter named 'toy' is already registered" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


@pytest.mark.unit
def test_repo_template_folder_is_the_shipped_template() -> None:
    # one source of truth: adapters/_template links to the package data that ships in the wheel
    assert (REPO / "adapters" / "_template").resolve() == Path(str(template_dir())).resolve()
    assert (Path(str(template_dir())) / "envlearn_skeleton.py").is_file()
