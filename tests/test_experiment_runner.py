"""Slow: ``viper-run experiment tiny`` end to end (two real tiny cells, the second reusing the first's
models), then again: nothing reruns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def experiment(tmp_path: Path, root: str = "runs") -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "viper.core.cli", "experiment", "tiny"]
        + ["--root", str(tmp_path / root), "--out", str(tmp_path / "results"), "--jobs", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "VIPER_PROGRESS": "0"},
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_tiny_grid_runs_end_to_end_and_a_rerun_recomputes_nothing(tmp_path: Path) -> None:
    first = experiment(tmp_path)
    assert "0/2 cells finished, 2 to run" in first.stdout
    assert "done reward=viper seed 0" in first.stdout and "done reward=task seed 0" in first.stdout
    # the second cell differs only in its reward: it fits no data, tokenizer or video model of its own
    assert "[2/2] linked data-" in first.stdout and "tokenizer-" in first.stdout and "video_model-" in first.stdout
    links = sorted(p.name.split("-")[0] for p in (tmp_path / "runs" / "tiny").glob("*/seed0/*") if p.is_symlink())
    assert links == ["data", "tokenizer", "video_model"]
    page = (tmp_path / "results" / "tiny.md").read_text()
    assert "## agent % of expert (`fraction_of_expert`)" in page and "| reward=task |" in page
    assert "viper-run experiment tiny --root" in page
    assert (tmp_path / "results" / "tiny.png").read_bytes()[:4] == b"\x89PNG"
    cells = json.loads((tmp_path / "results" / "tiny.json").read_text())["cells"]
    assert set(cells) == {"reward=viper", "reward=task"}
    reports = sorted((tmp_path / "runs" / "tiny").glob("*/seed0/report/report.json"))
    stamps = [r.stat().st_mtime_ns for r in reports]
    assert len(reports) == 2

    second = experiment(tmp_path)
    assert "2/2 cells finished, 0 to run" in second.stdout and "start" not in second.stdout
    assert [r.stat().st_mtime_ns for r in reports] == stamps
    assert (tmp_path / "results" / "tiny.md").read_text() == page

    # a fresh clone elsewhere: no workdirs, only the committed page, which it takes instead of rerunning
    third = experiment(tmp_path, root="elsewhere")
    assert "2 cell-seeds taken from" in third.stdout and "2/2 cells finished, 0 to run" in third.stdout
    assert "start" not in third.stdout and not (tmp_path / "elsewhere" / "tiny").exists()
