"""Slow: `viper-run` on a tiny budget — killed and resumed, and with components swapped.

All tests share one workdir, so stages cached by the first test (data, tokenizer, video model)
are reused by the later ones, as they would be for a user trying several agents or rewards on
one set of videos.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

VIPER_RUN = [sys.executable, "-m", "viper.core.cli"]
ENV = {**os.environ, "VIPER_PROGRESS": "0"}
TINY = [
    "--episodes",
    "6",
    "--steps",
    "400",
    "--set",
    "tokenizer.steps=30",
    "--set",
    "video_model.steps=120",
    "--set",
    "video_model.checkpoint_every=20",
    "--set",
    "loop.eval_every=0",
    "--set",
    "loop.eval_episodes=2",
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny") / "run"


def viper_run(workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*VIPER_RUN, "--workdir", str(workdir), *TINY, *extra], capture_output=True, text=True, env=ENV, timeout=900
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def test_killed_pipeline_resumes_without_redoing_finished_stages(workdir: Path) -> None:
    process = subprocess.Popen(
        [*VIPER_RUN, "--workdir", str(workdir), *TINY], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV
    )
    deadline = time.time() + 600
    try:
        while time.time() < deadline and process.poll() is None:
            if list(workdir.glob("video_model-*/checkpoints/step_*/meta.json")):
                break
            time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert list(workdir.glob("video_model-*/checkpoints/step_*")), "the video model never checkpointed"
    assert not list(workdir.glob("agent-*")), "killed too late to test a resume"
    assert json.loads(next(workdir.glob("tokenizer-*/stage.json")).read_text())["status"] == "done"

    result = viper_run(workdir)
    assert "tokenizer: cached" in result.stdout
    assert json.loads(next(workdir.glob("tokenizer-*/stage.json")).read_text())["attempts"] == 1
    model_info = json.loads(next(workdir.glob("video_model-*/stage.json")).read_text())
    assert model_info["status"] == "done" and model_info["attempts"] == 2
    assert (workdir / "report" / "report.html").exists()


def test_dreamer_trained_on_the_viper_reward_end_to_end(workdir: Path) -> None:
    """The JAX video model rewards the torch DreamerV3 agent through the whole pipeline."""
    result = viper_run(
        workdir, "--agent", "dreamer", "--reward", "viper", "--set", "agent.preset=debug", "--set", "loop.log_every=100"
    )
    assert "agent      dreamer (viper-agents" in result.stdout
    report = json.loads((workdir / "report" / "report.json").read_text())
    assert report["components"]["agent"] == "dreamer" and report["components"]["reward"] == "viper"
    assert report["agent_env_steps"] == 400
    # lite:reach reports the distance to its ring: the expert closes most of it, the agent's share is shown
    assert report["expert_goal_progress"] > 0.5 and report["agent_eval_goal_progress"] <= 1.0  # 1: on the goal
    markdown = (workdir / "report" / "report.md").read_text()
    assert "Share of the starting distance to the goal closed: the agent" in markdown
    # the score stage's idle probe: scored beside the ranked policies, its position in the report
    assert "idle" in report["score_table"] and report["idle_position"] is not None
    assert (
        f"Doing nothing (`idle`, the zero action; scored, not ranked) earns **{report['idle_position']:.2f}**"
        in markdown
    )
    agent_dirs = [p for p in workdir.glob("agent-*") if json.loads((p / "stage.json").read_text())["status"] == "done"]
    assert any("dreamer" in (p / "stage.json").read_text() for p in agent_dirs)
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    rewards = [r["train/reward_mean"] for r in records if r.get("stage") == "agent" and "train/reward_mean" in r]
    assert rewards and all(abs(r) < 1e6 for r in rewards)


def test_third_party_reward_and_exploration_bonus_swap_in(workdir: Path) -> None:
    """`smooth` comes from tests/plugins/viper-hello, a separately installed distribution."""
    result = viper_run(workdir, "--reward", "smooth", "--explore", "rnd", "--beta", "0.5")
    assert "reward     smooth (viper-hello 0.0.1, numpy)" in result.stdout
    assert "explore    rnd (beta 0.5)" in result.stdout
    report = json.loads((workdir / "report" / "report.json").read_text())
    assert report["components"]["reward"] == "smooth" and report["explore"] == "rnd" and report["beta"] == 0.5
    assert "smooth" in (workdir / "report" / "report.md").read_text()


def test_stillness_benchmark_names_the_models_it_scored_with(workdir: Path, tmp_path: Path) -> None:
    """benchmarks/stillness.py on a finished workdir: every policy row, and the stages behind them."""
    out = tmp_path / "stillness.json"
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "stillness.py"
    result = subprocess.run(
        [sys.executable, str(script), "--workdir", str(workdir), "--env", "lite:reach", "--episodes", "1"]
        + ["--set", "normalize=symlog", "--json", str(out)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    record = json.loads(out.read_text())
    assert {"expert", "idle", "random"} <= set(record["rows"])
    assert record["rows"]["random"]["position"] == 0.0 and record["rows"]["expert"]["position"] == 1.0
    stages = record["stages"]
    assert {"data", "tokenizer", "video_model"} <= set(stages)
    assert all((workdir / name).is_dir() for name in stages.values())
    assert record["options"] == {"normalize": "symlog"}
