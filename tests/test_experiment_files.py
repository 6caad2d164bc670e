"""Every grid in ``experiments/`` resolves with the installed plugins (the check ``viper-run
experiment`` makes before running anything), so a renamed option cannot leave a declared
experiment that fails hours into a grid."""

from __future__ import annotations

from pathlib import Path

import pytest

from viper.core.experiment import check_cells, load_experiment

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
