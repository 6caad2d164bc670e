"""`count-transitions` from tests/plugins/viper-countmodel, a separately installed distribution,
is listed, checked and run through `viper-run` like the built-in video models."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from viper.core import PluginHost

VIPER_RUN = [sys.executable, "-m", "viper.core.cli"]
ENV = {**os.environ, "VIPER_PROGRESS": "0", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}


def viper_run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run([*VIPER_RUN, *args], capture_output=True, text=True, env=ENV, timeout=timeout)
    assert result.returncode == 0, f"viper-run {' '.join(args)}\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
    return result


def stage_info(workdir: Path, stage: str) -> dict:
    (info,) = [json.loads(p.read_text()) for p in workdir.glob(f"{stage}-*/stage.json")]
    return info


def test_plugins_lists_the_third_party_video_model_with_its_options() -> None:
    components = json.loads(viper_run("plugins", "--json").stdout)["components"]
    (row,) = [c for c in components if (c["kind"], c["name"]) == ("video_model", "count-transitions")]
    assert row["distribution"] == "viper-countmodel" and row["status"] == "ok"
    options = viper_run("plugins", "--options", "count-transitions").stdout
    for field in ("smoothing", "strength", "backoff_weight"):
        assert f"--set video_model.{field}=" in options
    assert PluginHost().providers[("video_model", "count-transitions")] == "viper-countmodel"


def test_check_plugin_passes_the_third_party_video_model() -> None:
    result = viper_run("check-plugin", "viper-countmodel")
    assert "count-transitions (viper-countmodel)" in result.stdout
    assert "stream-equals-log-prob" in result.stdout and "save-load" in result.stdout
    assert "0 failed" in result.stdout


@pytest.mark.slow
def test_collect_fit_score_and_train_with_the_third_party_video_model(tmp_path: Path) -> None:
    """The stage commands one by one, as a user runs them, on 16x16 frames (about a minute)."""
    data, workdir = tmp_path / "data", tmp_path / "run"
    viper_run("collect", "--env", "lite:reach", "--episodes", "6", "--size", "16", "--out", str(data))
    viper_run("fit-tokenizer", "--data", str(data), "--workdir", str(workdir), "--preset", "tiny")
    viper_run(
        "fit-model", "--data", str(data), "--workdir", str(workdir), "--model", "count-transitions",
        "--preset", "quick", "--set", "video_model.smoothing=additive",
    )  # fmt: skip
    model_info = stage_info(workdir, "video_model")
    assert model_info["status"] == "done" and model_info["component"] == "count-transitions"
    assert model_info["config"]["component"]["smoothing"] == "additive"
    assert math.isfinite(model_info["metrics"]["val_bits_per_code"])
    model_dir = next(workdir.glob("video_model-*"))
    model = PluginHost().load("video_model", "count-transitions").load(model_dir / "artifact")
    assert model.tasks == ("reach",) and model.vocab_size == 32 and model.code_grid == (8, 8)

    viper_run("score", "--workdir", str(workdir), "--env", "lite:reach", "--episodes", "2", "--size", "16",
              "--noise", "0.5", "--videos", "0")  # fmt: skip
    (score_file,) = workdir.glob("score-*/score.json")
    score = json.loads(score_file.read_text())
    assert score["inputs"]["video_model"] == model_dir.name
    assert set(score["policies"]) == {"expert", "noisy-0.5", "random", "idle"} and -1 <= score["spearman"]["viper"] <= 1

    viper_run(
        "train", "--env", "lite:reach", "--workdir", str(workdir), "--agent", "drq", "--reward", "viper",
        "--steps", "120", "--size", "16", "--set", "agent.preset=tiny", "--set", "loop.eval_every=0",
        "--set", "loop.eval_episodes=1", "--set", "loop.log_every=40", "--no-progress",
    )  # fmt: skip
    agent_info = stage_info(workdir, "agent")
    assert agent_info["status"] == "done" and agent_info["config"]["reward"] == "viper"
    assert agent_info["config"]["depends"]["video_model"] == model_dir.name
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    rewards = np.array(
        [r["train/reward_mean"] for r in records if r.get("stage") == "agent" and "train/reward_mean" in r]
    )
    assert rewards.size and np.isfinite(rewards).all() and (rewards <= 0).all()  # log-likelihoods of codes
