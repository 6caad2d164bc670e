"""``lite:reach-two``: the env API, its two expert modes, and the mean path that reaches neither."""

from __future__ import annotations

import numpy as np
import pytest

from viper.envs.lite import LiteSuite
from viper.envs.lite.reach_two import ReachTwo, ReachTwoExpert


def play(env, policy, seed: int) -> tuple[float, list[dict], list[np.ndarray]]:
    obs, info = env.reset(seed=seed)
    policy.reset()
    infos, frames, total = [info], [obs["image"]], 0.0
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy.act(obs))
        assert reward == info["task_reward"]
        total += reward
        infos.append(info)
        frames.append(obs["image"])
        done = terminated or truncated
    return total, infos, frames


def test_env_api():
    suite = LiteSuite()
    env = suite.make("reach-two", seed=0, size=32)
    assert isinstance(env, ReachTwo) and isinstance(suite.expert("reach-two", env), ReachTwoExpert)
    obs, info = env.reset(seed=3)
    assert obs["image"].shape == (32, 32, 3) and obs["image"].dtype == np.uint8
    assert obs["state"].shape == (6,) and obs["state"].dtype == np.float32
    assert info["mode"] == -1 and env.expert_mode in (0, 1)
    left, right = obs["state"][2:4], obs["state"][4:6]
    assert left[0] < 0 < right[0]
    again, _ = env.reset(seed=3)
    np.testing.assert_array_equal(again["image"], obs["image"])
    obs, reward, terminated, truncated, info = env.step(np.zeros(2, np.float32))
    assert not terminated and not truncated and 0 <= reward < 0.5 and info["mode"] == -1
    with pytest.raises(ValueError, match="not finite"):
        env.step(np.array([np.nan, 0.0]))
    assert env.episode_length == 50
    assert suite.make("reach-two", episode_length=7).episode_length == 7


def test_the_expert_takes_both_modes_and_the_mean_path_neither():
    suite = LiteSuite()
    env = suite.make("reach-two", seed=0, size=32)
    expert = suite.expert("reach-two", env)
    modes = []
    for seed in range(12):
        total, infos, _ = play(env, expert, seed)
        assert infos[-1]["mode"] == env.expert_mode, seed  # it reached the target it chose
        assert total > 25 and infos[-1]["success"]
        modes.append(env.expert_mode)
    assert 0 < sum(modes) < len(modes), modes  # both modes occur (seeded: always the same ones)
    for goal in (0, 1):
        total, infos, _ = play(env, ReachTwoExpert(env, goal=goal), 5)
        assert infos[-1]["mode"] == goal and total > 25
    total, infos, frames = play(env, ReachTwoExpert(env, goal="mean"), 5)
    assert infos[-1]["mode"] == -1 and total < 5
    with pytest.raises(ValueError, match="goal"):
        ReachTwoExpert(env, goal=2)
