"""`viper-run collect` over the suites: valid datasets whose frames are what the agent saw."""

from __future__ import annotations

import numpy as np
import pytest

from viper.core import cli, plugins
from viper.core.collect import RandomPolicy, run_episode
from viper.core.components import load_suite
from viper.core.dataset import VideoDataset


@pytest.fixture(autouse=True)
def fresh_host(monkeypatch):
    """The host built from the installed entry points (viper-envs registers its suites)."""
    monkeypatch.setattr(plugins, "_default_host", None)
    monkeypatch.setenv("VIPER_PROGRESS", "0")


def replay(suite_name: str, task: str, seed: int, actions: np.ndarray, **options) -> np.ndarray:
    """Frames of a fresh env reset with ``seed`` and driven by ``actions`` (row 0 is unused)."""
    suite = load_suite(suite_name)
    env = suite.make(task, seed=seed, **options)
    obs, _ = env.reset(seed=seed)
    frames = [obs["image"]]
    for action in actions[1:]:
        obs, *_ = env.step(action)
        frames.append(obs["image"])
    env.close()
    return np.stack(frames)


def test_collect_atari_random_matches_replay(tmp_path, capsys) -> None:
    out = tmp_path / "pong"
    assert cli.main(["collect", "--env", "atari:pong", "--policy", "random", "--episodes", "1", "--out", str(out)]) == 0
    assert "wrote 1 episodes" in capsys.readouterr().out
    ds = VideoDataset(out)
    ds.validate()
    episode = ds.load(ds.episodes[0])
    frames, actions = episode["frames"], episode["actions"]
    assert ds.image_size == (64, 64) and frames.shape[1:] == (64, 64, 3)
    assert len(frames) < 27_001  # the game ended before the frame limit: kept whole up to game over
    assert np.array_equal(replay("atari", "pong", 0, actions), frames)
    assert episode["task_reward"].sum() <= -19


def test_collect_without_expert_says_to_use_random(tmp_path, capsys) -> None:
    assert cli.main(["collect", "--env", "atari:pong", "--episodes", "1", "--out", str(tmp_path / "x")]) == 2
    assert "has no scripted expert for 'pong'; use --policy random" in capsys.readouterr().err


def test_collect_unknown_suite_task(tmp_path, capsys) -> None:
    assert cli.main(["collect", "--env", "dmc:cartpole-spin", "--episodes", "1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'cartpole-spin'" in err and "cartpole-swingup" in err


def test_collect_rlbench_reports_missing_install(tmp_path, capsys) -> None:
    args = ["collect", "--env", "rlbench:pick_and_lift", "--policy", "random", "--episodes", "1"]
    assert cli.main([*args, "--out", str(tmp_path / "x")]) == 2
    assert "CoppeliaSim" in capsys.readouterr().err


def test_lite_episodes_ending_early_are_kept_whole(tmp_path) -> None:
    from viper.core.collect import collect

    writer = collect("lite:balance", 3, tmp_path / "b", policy="random", progress=False)
    ds = VideoDataset(writer.root)
    lengths = [e.length for e in ds.episodes]
    assert all(length < 201 for length in lengths)  # the pole fell: terminated early
    for i, info in enumerate(ds.episodes):
        episode = ds.load(info)
        assert np.array_equal(replay("lite", "balance", i, episode["actions"]), episode["frames"])


def test_dmc_expert_episode_frames_match_replay() -> None:
    suite = load_suite("dmc")
    env = suite.make("cartpole-swingup", seed=4, episode_length=12)
    episode = run_episode(env, suite.expert("cartpole-swingup", env), seed=4)
    assert episode.frames.shape == (13, 64, 64, 3)
    assert np.array_equal(replay("dmc", "cartpole-swingup", 4, episode.actions, episode_length=12), episode.frames)
    random = run_episode(env, RandomPolicy(env, seed=0), seed=5)
    assert len(random.frames) == 13


@pytest.mark.slow
def test_collect_dmc_expert_cli(tmp_path, capsys) -> None:
    out = tmp_path / "cartpole"
    args = ["collect", "--env", "dmc:cartpole-swingup", "--episodes", "2", "--out", str(out)]
    assert cli.main(args) == 0
    ds = VideoDataset(out)
    ds.validate()
    assert [e.length for e in ds.episodes] == [501, 501]  # 1000 physics steps at action repeat 2, + the first frame
    assert all(e.episode_return > 800 for e in ds.episodes)
    episode = ds.load(ds.episodes[1])
    assert np.array_equal(replay("dmc", "cartpole-swingup", 1, episode["actions"]), episode["frames"])
