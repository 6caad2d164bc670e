"""The metaworld suite: task names, observations, frames, success flag, goal seeding, experts.

Each rendered step costs tens of milliseconds on a CPU, so episodes here are a few dozen steps.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from viper.core.components import load_suite
from viper.core.errors import ConfigError
from viper.core.testing import check_env_suite
from viper.envs.metaworld import MetaWorldSuite
from viper.envs.metaworld.suite import REPORTED

# Not importorskip: importing metaworld here would import mujoco before the suite chooses its
# GL backend (mujoco reads MUJOCO_GL once, at import).
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("metaworld") is None, reason="needs pip install 'viper-envs[metaworld]'"
)


@pytest.fixture(scope="module")
def suite() -> MetaWorldSuite:
    return MetaWorldSuite()


def test_the_reported_tasks_come_first_and_every_v3_task_is_there(suite) -> None:
    tasks = suite.tasks()
    assert tuple(tasks[: len(REPORTED)]) == REPORTED
    assert len(tasks) == 50 and "reach-wall" in tasks and not any(t.endswith("-v3") for t in tasks)


def test_unknown_names_and_bad_options(suite) -> None:
    with pytest.raises(ConfigError, match=r"unknown task 'reach-v3' \(task names drop the -v3 suffix\); tasks: reach"):
        suite.make("reach-v3")
    with pytest.raises(ConfigError, match="--set env.camera='top': expected one of"):
        suite.make("reach", camera="top")
    with pytest.raises(ConfigError, match="--set env.episode_length=0: expected an integer >= 1"):
        suite.make("reach", episode_length=0)


def test_keeps_the_env_suite_contract(suite) -> None:
    assert "driver" in check_env_suite(load_suite("metaworld"), "reach", steps=12, options={"episode_length": 12})


def test_observations_frames_and_infos(suite) -> None:
    env = suite.make("reach", seed=0, size=64, episode_length=5)
    try:
        obs, info = env.reset(seed=0)
        assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
        assert obs["state"].shape == (39,) and obs["state"].dtype == np.float32
        assert info["success"] is False and info["goal_distance"] > 0
        assert np.array_equal(env.render(), obs["image"])
        # Frames are the right way up: the plain grey wall at the top, the table's legs and the
        # robot's base at the bottom.
        assert obs["image"][:8].std() < 3 < 20 < obs["image"][-8:].std()
        for t in range(5):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            assert info["task_reward"] == reward and 0 <= reward <= 20  # 0..10 per physics step, repeat 2
            assert isinstance(info["success"], bool) and np.isfinite(info["goal_distance"])
            assert not terminated and truncated == (t == 4)
    finally:
        env.close()


def test_a_reset_seed_fixes_the_goal(suite) -> None:
    env = suite.make("reach", render=False)
    try:
        goals = [env.reset(seed=seed)[0]["state"][-3:] for seed in (3, 3, 4)]
        assert np.array_equal(goals[0], goals[1]) and not np.allclose(goals[0], goals[2])
        assert not np.allclose(env.reset()[0]["state"][-3:], env.reset()[0]["state"][-3:])  # fresh goals unseeded
        other = suite.make("reach", render=False, seed=3)
        assert np.array_equal(other.reset(seed=3)[0]["state"][-3:], goals[0])
        other.close()
    finally:
        env.close()


def _success_rate(suite, policy: str, episodes: int = 3) -> float:
    env = suite.make("reach", seed=0, episode_length=40, render=False)
    expert = suite.expert("reach", env)
    env.action_space.seed(0)
    successes = []
    try:
        for seed in range(episodes):
            obs, _ = env.reset(seed=seed)
            done, success = False, False
            while not done:
                action = expert.act(obs) if policy == "expert" else env.action_space.sample()
                obs, _, terminated, truncated, info = env.step(action)
                success, done = success or info["success"], terminated or truncated
            successes.append(success)
    finally:
        env.close()
    return float(np.mean(successes))


def test_the_scripted_expert_succeeds_where_random_actions_do_not(suite) -> None:
    assert _success_rate(suite, "expert") == 1.0
    assert _success_rate(suite, "random") == 0.0


def test_terminate_on_success_ends_the_episode(suite) -> None:
    env = suite.make("reach", seed=1, render=False, terminate_on_success=True)
    expert = suite.expert("reach", env)
    try:
        obs, _ = env.reset(seed=1)
        steps, done = 0, False
        while not done:
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            steps, done = steps + 1, terminated or truncated
        assert terminated and info["success"] and steps < 60
    finally:
        env.close()
