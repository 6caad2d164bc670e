"""benchmarks/workdir_throughput.py: which runs it times (an experiment's finished cells, with the
reward options they were run with). The table it prints for the main job's trained workdir is
checked in test_main_job.py, the one module that may use the ``main_job`` fixture."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("workdir_throughput")


def test_only_the_reward_section_of_a_runs_options_is_kept(bench, tmp_path):
    run = {"env": "lite:reach", "options": {"reward": {"mode": "joint", "normalize": "symlog"}, "agent": {"lr": 1}}}
    (tmp_path / "run.json").write_text(json.dumps(run))
    assert bench._run_settings(tmp_path) == ({"mode": "joint", "normalize": "symlog"}, "lite:reach")


def _cell(root: Path, slug: str, label: str, options: dict, finished: bool) -> None:
    """A cell workdir as the runner and viper-run leave it: cell.json, run.json and, once
    finished, a report naming its done stages."""
    seed0 = root / slug / "seed0"
    arguments = ["--env", "lite:reach"]
    (seed0 / "report").mkdir(parents=True)
    (seed0 / "cell.json").write_text(json.dumps({"cell": label, "seed": 0, "arguments": arguments}))
    (seed0 / "run.json").write_text(json.dumps({"env": "lite:reach", "options": options}))
    if finished:
        (seed0 / "score-a").mkdir()
        (seed0 / "score-a" / "stage.json").write_text(json.dumps({"status": "done"}))
        (seed0 / "report" / "report.json").write_text(json.dumps({"stage_folders": {"score": "score-a"}}))


def test_an_experiments_finished_cells_are_timed_with_their_options(bench, tmp_path, capsys):
    root = tmp_path / "q4"
    _cell(root, "a-1", "joint likelihood", {"reward": {"mode": "joint"}}, True)
    _cell(root, "b-2", "context 8", {"video_model": {"seq_len": "9"}}, False)
    args = argparse.Namespace(experiment=root, seed=0, workdirs=[])
    runs = bench._runs(args)
    assert runs == [("joint likelihood", root / "a-1" / "seed0", {"mode": "joint"}, "lite:reach")]
    assert "skip context 8: not finished" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no cell of seed 3"):
        bench._runs(argparse.Namespace(experiment=root, seed=3, workdirs=[]))
