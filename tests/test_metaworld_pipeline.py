"""Slow: `viper-run --env metaworld:reach` end to end on a tiny budget (frames rendered by MuJoCo),
with success rates in the score table and the report; `viper-run plugins` lists the suite."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("metaworld") is None, reason="needs viper-envs[metaworld]"),
]

VIPER_RUN = [sys.executable, "-m", "viper.core.cli"]
ENV = {**os.environ, "VIPER_PROGRESS": "0"}
# 40 env steps leave the scripted expert room to reach the goal (it does by step 15-32); the
# model sizes are the tiny pipeline test's, shortened further because each frame is rendered.
TINY = [
    "--episodes", "4", "--steps", "200",
    "--set", "env.episode_length=40",
    "--set", "tokenizer.steps=20",
    "--set", "video_model.steps=40",
    "--set", "loop.eval_every=0",
    "--set", "loop.eval_episodes=2",
]  # fmt: skip


def test_plugins_lists_metaworld() -> None:
    result = subprocess.run([*VIPER_RUN, "plugins", "--json"], capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stderr
    suites = {c["name"]: c for c in json.loads(result.stdout)["components"] if c["kind"] == "env_suite"}
    assert suites["metaworld"]["status"] == "ok" and suites["metaworld"]["distribution"] == "viper-envs"


def test_metaworld_reach_end_to_end(tmp_path) -> None:
    workdir = tmp_path / "run"
    result = subprocess.run(
        [*VIPER_RUN, "--env", "metaworld:reach", "--workdir", str(workdir), *TINY],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    header = next(line for line in result.stdout.splitlines() if line.startswith("policy "))
    assert "success" in header.split()
    report = json.loads((workdir / "report" / "report.json").read_text())
    assert report["env"] == "metaworld:reach" and report["agent_env_steps"] == 200
    assert report["expert_success"] == 1.0 and report["random_success"] == 0.0
    assert 0.0 <= report["agent_eval_success"] <= 1.0
    assert "Success rate: the agent" in (workdir / "report" / "report.md").read_text()
    (data,) = workdir.glob("data-*/dataset/reach")
    assert len(list(data.glob("*.npz"))) == 4
