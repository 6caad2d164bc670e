"""benchmarks/pixels.py: the pixel agent's settings, its commands, and the curves it reads and draws
(no training: the cells' workdirs are faked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "pixels.py"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("pixels")


def test_the_agent_sees_pixels_only_and_user_settings_come_last(bench):
    settings = bench.pixel_settings(["agent.batch_size=32"])
    assert settings[0] == "agent.obs_keys=image" and settings[-1] == "agent.batch_size=32"
    assert "agent.batch_size=64" in settings  # viper-run applies --set in order: the user's wins
    assert "agent.encoder=keypoints" in settings  # DrQ's flattened convs learned nothing in 20k steps
    # Every field overrides a state-agent setting of the quick preset that would not suit images.
    assert {"feature_dim", "conv_channels", "frame_stack"} <= set(bench.PIXEL_AGENT)


def test_dry_run_lists_one_viper_run_per_reward_and_seed(tmp_path):
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--seeds", "0", "1", "--root", str(tmp_path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    lines = [line for line in out.stderr.splitlines() if "viper-run" in line]
    assert len(lines) == 4 and all("--set agent.obs_keys=image" in line for line in lines)
    assert sum("--reward task" in line for line in lines) == 2 and "--steps 20000" in lines[0]
    assert not list(tmp_path.iterdir())  # a dry run writes nothing


def test_bad_steps_are_refused_before_any_run(tmp_path):
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--steps", "0", "--root", str(tmp_path)], capture_output=True, text=True
    )
    assert out.returncode == 2 and "--steps 0" in out.stderr
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--tag", "../x", "--root", str(tmp_path)], capture_output=True, text=True
    )
    assert out.returncode == 2 and "--tag '../x'" in out.stderr and not list(tmp_path.iterdir())


def test_curves_are_read_per_agent_stage_and_drawn(bench, tmp_path):
    rows = [
        {"stage": "agent", "run": "agent-a", "step": 0, "eval/return": 1.0, "eval/return_std": 0.5},
        {"stage": "agent", "run": "agent-a", "step": 1000, "train/sps": 5.0},
        {"stage": "agent", "run": "agent-a", "step": 2500, "eval/return": 40.0},
        {"stage": "agent", "run": "agent-b", "step": 2500, "eval/return": 99.0},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    curve = bench.eval_curve(tmp_path, "agent-a")
    assert curve == [{"step": 0, "return": 1.0, "std": 0.5}, {"step": 2500, "return": 40.0, "std": 0.0}]
    cells = [
        {"reward": "viper", "seed": 0, "curve": curve, "expert_return": 89.5, "random_return": 0.1},
        {"reward": "task", "seed": 0, "curve": curve, "expert_return": 89.5, "random_return": 0.1},
    ]
    bench.plot(cells, "lite:reach", tmp_path / "curves.png", "keypoints")
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG


def test_an_earlier_record_of_other_seeds_is_kept_and_a_rerun_seed_replaced(bench, tmp_path):
    settings = bench.pixel_settings([])
    base = {"env": "lite:reach", "steps": 20000, "set": settings, "eval_return": 1.0}
    recorded = [
        {**base, "reward": "viper", "seed": 0},
        {**base, "reward": "viper", "seed": 1, "eval_return": 5.0},
        {**base, "reward": "viper", "seed": 2, "steps": 5000},  # another budget: not this figure's
        # the same settings written in another order, with a speed-only one: the same cell
        {**base, "reward": "task", "seed": 0, "set": [*reversed(settings), "agent.threads=1"]},
        {**base, "reward": "task", "seed": 2, "set": [*settings, "agent.nstep=1"]},  # another agent
    ]
    path = tmp_path / "pixels-lite-reach.json"
    path.write_text(json.dumps(recorded))
    fresh = [{**base, "reward": "viper", "seed": 1, "eval_return": 7.0}, {**base, "reward": "task", "seed": 1}]
    merged = bench.merge_recorded(path, fresh)
    assert [(c["reward"], c["seed"], c["eval_return"]) for c in merged] == [
        ("viper", 0, 1.0), ("viper", 1, 7.0), ("task", 0, 1.0), ("task", 1, 1.0),
    ]  # fmt: skip
    assert bench.merge_recorded(tmp_path / "absent.json", fresh) == fresh
    path.write_text("{not json")
    with pytest.raises(SystemExit, match="pixels-lite-reach.json"):
        bench.merge_recorded(path, fresh)


def test_a_damaged_record_is_refused_before_any_run(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "pixels-lite-reach.json").write_text("{not json")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(tmp_path / "runs"), "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1 and "pixels-lite-reach.json" in result.stderr
    assert not (tmp_path / "runs").exists()
