"""Every recipe validates and opens with the command that runs it; README commands are real."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from envlearn.cli import COMMANDS
from envlearn.config import load_config

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted((REPO / "recipes").rglob("*.yaml"))
TRANSFER_RECIPES = [p for p in RECIPES if "envlearn transfer" in p.read_text().splitlines()[0]]
RUN_RECIPES = [p for p in RECIPES if "accelerate" not in p.parts and p not in TRANSFER_RECIPES]


def test_there_are_recipes():
    names = {str(p.relative_to(REPO / "recipes")) for p in RUN_RECIPES}
    assert {
        "terminal/tiny_sft.yaml",
        "terminal/tiny_grpo.yaml",
        "terminal/tiny_echo.yaml",
        "terminal/tiny_env_only.yaml",
        "terminal/qwen3-8b_echo.yaml",
    } <= names


@pytest.mark.parametrize("path", RUN_RECIPES, ids=lambda p: p.name)
def test_recipe_validates_and_opens_with_its_command(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and "envlearn train" in first and path.name in first, first
    load_config(path)


@pytest.mark.parametrize("path", TRANSFER_RECIPES, ids=lambda p: p.name)
def test_transfer_recipe_validates_and_opens_with_its_command(path):
    from envlearn.transfer import _source_config, load_transfer_recipe

    first = path.read_text().splitlines()[0]
    assert first.startswith("# envlearn transfer ") and path.name in first, first
    recipe, base = load_transfer_recipe(path)
    for source in recipe.sources:  # every source run is a valid training config
        _source_config(recipe, base, source, Path("runs/x"))


@pytest.mark.parametrize(
    "path", [p for p in RECIPES if "accelerate" in p.parts], ids=lambda p: p.name
)
def test_accelerate_configs_parse(path):
    cfg = yaml.safe_load(path.read_text())
    assert cfg["distributed_type"] in {"DEEPSPEED", "MULTI_CPU", "MULTI_GPU"}


def test_readme_mentions_only_real_commands_and_files():
    readme = (REPO / "README.md").read_text()
    for line in readme.splitlines():
        s = line.strip()
        if s.startswith("envlearn ") and not s.startswith("envlearn is"):
            assert s.split()[1] in COMMANDS or s.split()[1] == "terminal-import", s
    for ref in (
        "recipes/toy/tiny_echo.yaml",
        "docs/plugins.md",
        "run.sh",
        "bench/objective.py",
        "bench/terminal.py",
        "bench/http_adapter.py",
        "bench/vs_trl.py",
    ):
        assert ref in readme and (REPO / ref).exists(), ref
