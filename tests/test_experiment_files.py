"""Every grid in ``experiments/`` resolves with the installed plugins (the check ``viper-run
experiment`` makes before running anything), so a renamed option cannot leave a declared
experiment that fails hours into a grid; and every cell-seed its committed results page records
still counts as finished, so editing a grid's options cannot silently make a fresh clone rerun
hours of finished cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from viper.core.experiment import check_cells, load_experiment, recorded

REPO = Path(__file__).resolve().parents[1]
FILES = sorted((REPO / "experiments").glob("*.toml"))


def test_the_repository_declares_the_four_questions() -> None:
    names = {path.stem for path in FILES}
    assert {"q1_lite", "q1_dmc", "q2_multitask", "q3_embodiment", "q4_details", "tiny"} <= names


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_experiment_file_resolves_every_cell(path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MUJOCO_GL", "egl")
    experiment = load_experiment(path)
    assert experiment.cells and len(experiment.seeds) >= 1
    check_cells(experiment)


PAGES = [path for path in FILES if (REPO / "docs" / "results" / f"{path.stem}.json").is_file()]


@pytest.mark.parametrize("path", PAGES, ids=[path.stem for path in PAGES])
def test_every_recorded_cell_seed_still_counts_as_finished(path: Path) -> None:
    experiment = load_experiment(path)
    records = recorded(REPO / "docs" / "results" / f"{path.stem}.json")
    slugs = {cell.slug for cell in experiment.cells}
    stale = sorted({slug for slug, _ in records if slug not in slugs})
    # A cell whose options changed runs again by design; when the change keeps what it computes
    # (a preset default pinned in [base]), name the new slug in the page's rows ("slug").
    assert not stale, f"{path.name}: the page records cells no longer declared (they would rerun): {stale}"
    assert set(records) <= {(slug, seed) for slug in slugs for seed in experiment.seeds}
