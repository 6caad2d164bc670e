"""`viper-run collect --policy agent:WORKDIR`: a trained agent records episodes like an expert."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from viper.core.atomic import read_json
from viper.core.collect import collect
from viper.core.errors import ConfigError, WorkdirError
from viper.core.stages.agent import train_stage

SIZE = 16


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny DrQ-v2 trained for a few dozen steps on lite:reach's task reward."""
    workdir = tmp_path_factory.mktemp("agent") / "run"
    options = {
        "agent": {"preset": "tiny"},
        "loop": {"eval_every": 24, "eval_episodes": 1, "log_every": 24, "keep_best": True},
    }
    metrics = train_stage(workdir, "lite:reach", "drq", "task", steps=48, options=options, size=SIZE, progress=False)
    assert metrics["env_steps"] >= 48
    return workdir


def _episodes(out: Path) -> list[dict[str, np.ndarray]]:
    files = sorted((out / "reach").glob("*.npz"))
    return [dict(np.load(f, allow_pickle=False)) for f in files]


def test_the_agent_records_deterministic_episodes_in_the_dataset_format(trained: Path, tmp_path: Path) -> None:
    policy = f"agent:{trained}"
    first = collect("lite:reach", 2, tmp_path / "a", policy=policy, seed=3, size=SIZE, progress=False)
    again = collect("lite:reach", 2, tmp_path / "b", policy=policy, seed=3, size=SIZE, progress=False)
    assert len(first) == len(again) == 2 and first.manifest["source"]["policy"] == policy
    a, b = _episodes(tmp_path / "a"), _episodes(tmp_path / "b")
    assert len(a) == len(b) == 2
    for x, y in zip(a, b, strict=True):
        assert x["frames"].dtype == np.uint8 and x["frames"].shape[1:] == (SIZE, SIZE, 3)
        assert len(x["frames"]) == len(x["task_reward"]) == len(x["actions"])
        for key in ("frames", "task_reward", "actions"):
            np.testing.assert_array_equal(x[key], y[key])
    # The agent's own actions (not a scripted expert's or random ones): bounded, not all equal.
    actions = np.concatenate([e["actions"][1:] for e in a])
    assert np.all(np.abs(actions) <= 1) and actions.std() > 0


def test_a_recording_agent_loads_its_weights_only(trained: Path, tmp_path: Path) -> None:
    import shutil

    # Acting needs no replay or optimiser state (a DQN's replay is over a GB on Atari).
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    for checkpoint in copy.glob("agent-*/checkpoint/agent"):
        shutil.rmtree(checkpoint / "replay")
        (checkpoint / "optim.safetensors").unlink()
    episodes = collect("lite:reach", 1, tmp_path / "a", policy=f"agent:{copy}", seed=3, size=SIZE, progress=False)
    reference = collect("lite:reach", 1, tmp_path / "b", policy=f"agent:{trained}", seed=3, size=SIZE, progress=False)
    assert len(episodes) == 1
    np.testing.assert_array_equal(_episodes(tmp_path / "a")[0]["actions"], _episodes(tmp_path / "b")[0]["actions"])
    assert reference.manifest["source"]["policy"] == f"agent:{trained}"


def test_the_best_evaluated_agent_replays_with_at_best(trained: Path, tmp_path: Path) -> None:
    import shutil

    from viper.core.trained_agent import TrainedAgent

    best = TrainedAgent.find(f"agent:{trained}@best")
    assert (
        best.checkpoint.name == "checkpoint-best" and best.stage_dir == TrainedAgent.find(f"agent:{trained}").stage_dir
    )
    episodes = collect("lite:reach", 1, tmp_path / "a", policy=f"agent:{trained}@best", size=SIZE, progress=False)
    assert len(episodes) == 1 and episodes.manifest["source"]["policy"] == f"agent:{trained}@best"
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    for kept in copy.glob("agent-*/checkpoint-best"):
        shutil.rmtree(kept)
    with pytest.raises(ConfigError, match=r"kept no best agent; train with --set loop.keep_best=true"):
        collect("lite:reach", 1, tmp_path / "b", policy=f"agent:{copy}@best", size=SIZE, progress=False)


def test_mismatches_and_missing_agents_fail_before_recording(trained: Path, tmp_path: Path) -> None:
    policy = f"agent:{trained}"
    with pytest.raises(
        ConfigError,
        match=r"--policy agent:.*: the agent was trained on lite:reach, not lite:push; use --env lite:reach",
    ):
        collect("lite:push", 1, tmp_path / "x", policy=policy, size=SIZE, progress=False)
    with pytest.raises(
        ConfigError,
        match=r"--policy agent:.*: the agent was trained on 16x16 frames, this run renders 64x64; use --size 16",
    ):
        collect("lite:reach", 1, tmp_path / "x", policy=policy, progress=False)
    with pytest.raises(ConfigError, match="no such workdir"):
        collect("lite:reach", 1, tmp_path / "x", policy=f"agent:{tmp_path / 'nowhere'}", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(WorkdirError, match="no finished agent stage; run `viper-run train"):
        collect("lite:reach", 1, tmp_path / "x", policy=f"agent:{tmp_path / 'empty'}", progress=False)
    assert not (tmp_path / "x").exists()


def test_the_collect_command_takes_an_agent_policy(trained: Path, tmp_path: Path, capsys) -> None:
    from viper.core import cli

    out = tmp_path / "cli"
    argv = ["collect", "--env", "lite:reach", "--episodes", "1", "--out", str(out), "--size", str(SIZE)]
    assert cli.main([*argv, "--policy", f"agent:{trained}"]) == 0
    assert "wrote 1 episodes" in capsys.readouterr().out and len(_episodes(out)) == 1
    assert cli.main([*argv, "--policy", "agent"]) == 2
    assert "expected 'expert', 'random', 'idle' or 'agent:WORKDIR'" in capsys.readouterr().err


PONG_OPTIONS = {"action_set": "minimal", "max_frames": "400"}  # Pong's 6 actions; 100-step episodes
PONG_SIZE = 64  # what the pipeline renders


@pytest.fixture(scope="module")
def pong_agent(tmp_path_factory) -> Path:
    """A tiny DQN trained for a few dozen steps on Pong's score: the paper's way to Atari experts."""
    pytest.importorskip("ale_py", reason="needs viper-envs[atari]")
    workdir = tmp_path_factory.mktemp("pong") / "run"
    options = {
        "agent": {"preset": "tiny"},
        "env": PONG_OPTIONS,
        "loop": {"eval_every": 0, "eval_episodes": 1, "log_every": 24},
    }
    metrics = train_stage(
        workdir, "atari:pong", "dqn", "task", steps=48, options=options, size=PONG_SIZE, progress=False
    )
    assert metrics["env_steps"] >= 48
    return workdir


def test_a_dqn_trained_on_an_atari_score_records_discrete_episodes(pong_agent: Path, tmp_path: Path) -> None:
    out = tmp_path / "videos"
    policy = f"agent:{pong_agent}"
    dataset = collect(
        "atari:pong", 2, out, policy=policy, noise=0.3, size=PONG_SIZE, env_options=PONG_OPTIONS, progress=False
    )
    assert len(dataset) == 2
    episodes = [dict(np.load(f, allow_pickle=False)) for f in sorted((out / "pong").glob("*.npz"))]
    actions = np.concatenate([e["actions"][1:] for e in episodes])
    assert actions.dtype.kind in "iu" and set(np.unique(actions)) <= set(range(6)) and len(np.unique(actions)) > 1
    assert all(e["frames"].shape[1:] == (PONG_SIZE, PONG_SIZE, 3) and len(e["frames"]) == 101 for e in episodes)


def test_the_score_stage_plays_a_trained_agent_as_the_expert(pong_agent: Path, tmp_path: Path) -> None:
    from viper.core.stages.score import ScoreConfig, score

    expert = f"agent:{pong_agent}"
    config = ScoreConfig(
        env="atari:pong", episodes=2, rewards=("task",), noise=(0.5,), expert=expert, size=PONG_SIZE, videos=0,
        env_options=PONG_OPTIONS,
    )  # fmt: skip
    result = score(tmp_path / "score", config, progress=False)
    policies = {e["policy"] for e in read_json(result.directory / "score.json")["episodes"]}
    assert policies == {"expert", "noisy-0.5", "random", "idle"}  # idle: NOOP, the discrete zero action
    assert read_json(result.directory / "stage.json")["config"]["expert"] == expert
    # The agent's env options are required (its 6-action head cannot play the 18-action game).
    with pytest.raises(
        ConfigError, match=r"--expert agent:.*use --set env.action_set=minimal --set env.max_frames=400"
    ):
        score(tmp_path / "score", dataclasses.replace(config, env_options={}), progress=False)
    with pytest.raises(
        ConfigError, match=r"--expert agent:.*: the agent was trained on atari:pong, not atari:breakout"
    ):
        score(tmp_path / "score", dataclasses.replace(config, env="atari:breakout"), progress=False)
    with pytest.raises(ConfigError, match=r"--expert 'scripted': expected 'expert' or agent:WORKDIR"):
        ScoreConfig(env="atari:pong", expert="scripted")


def test_the_pipeline_records_its_expert_videos_with_a_trained_agent(pong_agent: Path, tmp_path: Path) -> None:
    from viper.core.components import parse_env
    from viper.core.dataset import VideoDataset
    from viper.core.pipeline import PipelineConfig, resolve
    from viper.core.stages import collect_stage
    from viper.core.workdir import Workdir

    expert = f"agent:{pong_agent}"
    options = {"env": dict(PONG_OPTIONS), "agent": {"obs_keys": "image", "preset": "atari"}}
    plan = resolve(PipelineConfig(env="atari:pong", expert=expert, agent="dqn", options=options))
    assert plan.config.expert == expert
    # The quick preset's SAC settings (lr 3e-4, an update per step) are drq's alone: dqn keeps its own.
    dqn = plan.components["agent"][1]
    assert (dqn.lr, dqn.update_every, dqn.nstep, dqn.threads) == (1e-4, 4, 3, 1)
    with pytest.raises(ConfigError, match=r"--expert agent:.*use --set env.action_set=minimal"):
        resolve(PipelineConfig(env="atari:pong", expert=expert))
    with pytest.raises(ConfigError, match=r"--expert 'me': expected 'expert' or agent:WORKDIR"):
        resolve(PipelineConfig(env="atari:pong", expert="me"))
    data = collect_stage(Workdir(tmp_path), parse_env("atari:pong"), 1, env_options=PONG_OPTIONS, expert=expert)
    assert VideoDataset(data).episodes[0].length == 101  # the reset frame plus 100 steps
    assert read_json(data.parent / "stage.json")["config"]["policy"] == expert
