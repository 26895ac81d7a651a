"""The procedural task families (``envlearn_terminal.families``).

* unit: ≥ 12 families; same seed → same task bytes; train, held-out and out-of-distribution
  splits disjoint; the suites are registered and sized from the environment.
* integration: every family's oracle scores 1.0 and a no-op scores < 1.0 through the real
  ``terminal`` adapter: 4 seeds per family here (≈ 20 s), all 50 seeds in the ``slow`` test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from envlearn_terminal.families import (
    FAMILIES,
    HELDOUT_SEED_BASE,
    ID_FAMILIES,
    OOD_FAMILIES,
    families_suite,
    family_tasks,
    task_files,
    write_task_dir,
)

from .conftest import run_oracles_and_noops


@pytest.fixture(autouse=True)
def _families_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ENVLEARN_FAMILIES_DIR", str(tmp_path_factory.getbasetemp() / "families"))


@pytest.mark.unit
def test_at_least_twelve_families_and_an_ood_split() -> None:
    assert len(FAMILIES) >= 12
    assert set(OOD_FAMILIES) <= set(FAMILIES) and OOD_FAMILIES
    assert not set(OOD_FAMILIES) & set(ID_FAMILIES)
    assert len(ID_FAMILIES) >= 10


@pytest.mark.unit
@pytest.mark.parametrize("family", list(FAMILIES))
def test_same_seed_same_bytes_other_seed_other_task(family: str, tmp_path: Path) -> None:
    a = write_task_dir(family, 7, "train", root=tmp_path / "a")
    b = write_task_dir(family, 7, "train", root=tmp_path / "b")
    files = sorted(p.name for p in a.iterdir())
    assert files == ["setup.sh", "solution.sh", "task.yaml", "verify.sh"]
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert task_files(family, 7, "train") == task_files(family, 7, "train")
    # across seeds the contents (setup) vary: the task is drawn from the seed, not fixed
    setups = {task_files(family, s, "train")["setup.sh"] for s in range(8)}
    assert len(setups) >= 6, f"{family}: only {len(setups)} distinct setups over 8 seeds"


@pytest.mark.unit
def test_rewritten_when_the_generator_output_changes(tmp_path: Path) -> None:
    d = write_task_dir("sort-uniq", 1, "train", root=tmp_path)
    (d / "setup.sh").write_text("stale\n")
    assert write_task_dir("sort-uniq", 1, "train", root=tmp_path) == d
    assert (d / "setup.sh").read_text() == task_files("sort-uniq", 1, "train")["setup.sh"]


@pytest.mark.unit
def test_splits_are_disjoint_seed_ranges_and_whole_families() -> None:
    tasks = families_suite("all", train_per_family=5, heldout_per_family=3, seed=2)
    train = {t.id for t in tasks if t.split == "train"}
    held = {t.id for t in tasks if t.split == "heldout"}
    assert len(train) == 5 * len(ID_FAMILIES) and not train & held
    assert len(held) == 3 * (len(ID_FAMILIES) + len(OOD_FAMILIES))
    train_fams = {i.rsplit("-", 1)[0] for i in train}
    assert train_fams == set(ID_FAMILIES), "no out-of-distribution family is trained on"
    for i in held:
        seed = int(i.rsplit("-", 1)[1])
        assert seed >= HELDOUT_SEED_BASE
    assert all(int(i.rsplit("-", 1)[1]) < HELDOUT_SEED_BASE for i in train)
    ood = families_suite("ood", train_per_family=1, heldout_per_family=2)
    assert {t.id.rsplit("-", 1)[0] for t in ood if t.split == "heldout"} == set(OOD_FAMILIES)
    ind = families_suite("id", train_per_family=1, heldout_per_family=2)
    assert {t.id.rsplit("-", 1)[0] for t in ind if t.split == "heldout"} == set(ID_FAMILIES)


@pytest.mark.unit
def test_registered_suites_sized_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from envlearn.plugins import load_tasks

    monkeypatch.setenv("ENVLEARN_FAMILIES_TRAIN", "2")
    monkeypatch.setenv("ENVLEARN_FAMILIES_HELDOUT", "1")
    assert len(load_tasks("terminal-families", "train")) == 2 * len(ID_FAMILIES)
    assert len(load_tasks("terminal-families-ood", "heldout")) == len(OOD_FAMILIES)
    monkeypatch.setenv("ENVLEARN_FAMILIES_TRAIN", "zero")
    with pytest.raises(ValueError, match="ENVLEARN_FAMILIES_TRAIN='zero': must be an integer"):
        families_suite("all")


def _check(seeds: range) -> None:
    tasks = family_tasks(list(FAMILIES), seeds, "train")
    failures = run_oracles_and_noops(tasks)
    assert not failures, "\n".join(failures)


@pytest.mark.integration
def test_every_family_oracle_scores_one_and_noop_less(bwrap_ok: None) -> None:
    _check(range(4))


@pytest.mark.integration
@pytest.mark.slow
def test_every_family_fifty_seeds(bwrap_ok: None) -> None:
    _check(range(50))
