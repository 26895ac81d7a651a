"""The one-way layers, as import-linter contracts: kept by the tree, broken by a back-import.

The core's contracts live in ``.importlinter``; the adapters' contract (an adapter imports only
``envlearn.channels``, ``actions``, ``hookspecs``, ``resources`` and ``testing`` from the core) is
written here for every adapter package installed, so a new first-party adapter is covered by
being installed.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[1]
ADAPTER_API = {"channels", "actions", "hookspecs", "resources", "testing"}


def _core_modules() -> list[str]:
    names = []
    for p in sorted((ROOT / "envlearn").iterdir()):
        if p.name.startswith("_") or p.name in ("assets", "templates"):
            continue
        if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()):
            names.append(p.stem)
    return names


def _adapter_packages() -> list[str]:
    pkgs = set()
    for ep in importlib.metadata.entry_points(group="envlearn"):
        mod = ep.value.split(":")[0].split(".")[0]
        if mod.startswith("envlearn_"):
            pkgs.add(mod)
    return sorted(pkgs)


def _config(adapters: list[str]) -> str:
    text = (ROOT / ".importlinter").read_text()
    roots = "\n".join(f"    {a}" for a in adapters)
    text = text.replace(
        "root_packages =\n    envlearn\n", f"root_packages =\n    envlearn\n{roots}\n"
    )
    forbidden = "\n".join(f"    envlearn.{m}" for m in _core_modules() if m not in ADAPTER_API)
    text += (
        "\n[importlinter:contract:adapters]\n"
        "name = Adapters import only envlearn.channels, actions, hookspecs, resources, testing\n"
        "type = forbidden\n"
        "allow_indirect_imports = True\n"
        "source_modules =\n" + roots + "\n"
        "forbidden_modules =\n" + forbidden + "\n"
    )
    return text


def _lint(config: str, cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    cfg = cwd / "contracts.ini"
    cfg.write_text(config)
    env = {**os.environ, "PYTHONPATH": str(pythonpath) if pythonpath else ""}
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(exe), "--config", str(cfg), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_first_party_adapters_are_covered():
    assert {"envlearn_terminal", "envlearn_http"} <= set(_adapter_packages())


def test_the_tree_keeps_every_contract(tmp_path):
    res = _lint(_config(_adapter_packages()), tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout


def _copy_tree(tmp_path: Path, adapters: list[str]) -> Path:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "envlearn", src / "envlearn", ignore=shutil.ignore_patterns("assets"))
    for a in adapters:
        pkg = importlib.import_module(a)
        shutil.copytree(Path(pkg.__file__).parent, src / a, ignore=shutil.ignore_patterns("tasks"))
    return src


def test_a_back_import_breaks_the_layers(tmp_path):
    src = _copy_tree(tmp_path, [])
    render = src / "envlearn" / "render.py"
    render.write_text(
        render.read_text() + "\nimport envlearn.trainer  # a deliberate back-import\n"
    )
    res = _lint(_config([]), tmp_path, pythonpath=src)
    assert res.returncode != 0
    assert "One-way layers" in res.stdout and "BROKEN" in res.stdout
    assert "envlearn.render -> envlearn.trainer" in res.stdout


def test_the_objective_importing_the_data_path_is_refused(tmp_path):
    src = _copy_tree(tmp_path, [])
    obj = src / "envlearn" / "objective.py"
    obj.write_text(obj.read_text() + "\nfrom envlearn.batch import Batch as _B  # deliberate\n")
    res = _lint(_config([]), tmp_path, pythonpath=src)
    assert res.returncode != 0
    assert "envlearn.objective -> envlearn.batch" in res.stdout


def test_an_adapter_importing_the_engine_is_refused(tmp_path):
    src = _copy_tree(tmp_path, ["envlearn_http"])
    init = src / "envlearn_http" / "__init__.py"
    init.write_text(init.read_text() + "\nimport envlearn.rollout  # deliberate\n")
    res = _lint(_config(["envlearn_http"]), tmp_path, pythonpath=src)
    assert res.returncode != 0
    assert (
        "Adapters import only" in res.stdout and "envlearn_http -> envlearn.rollout" in res.stdout
    )
