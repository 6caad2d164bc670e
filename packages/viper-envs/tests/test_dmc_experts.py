"""Scripted DMC experts: whole episodes without rendering (physics only, ~1 s each)."""

from __future__ import annotations

import numpy as np
import pytest

from viper.envs.dmc import DMCSuite
from viper.envs.dmc.experts import EXPERTS


@pytest.fixture(scope="module")
def suite() -> DMCSuite:
    suite = DMCSuite()
    suite.tasks()
    return suite


def episode_return(env, policy, seed: int) -> float:
    obs, _ = env.reset(seed=seed)
    policy.reset()
    total = 0.0
    while True:
        obs, reward, terminated, truncated, _ = env.step(policy.act(obs))
        total += reward
        if terminated or truncated:
            return total


# (task, minimum return of one full episode); an untrained random policy scores far below.
TARGETS = [
    ("cartpole-balance", 950),
    ("cartpole-swingup", 800),
    ("pendulum-swingup", 600),
    ("point_mass-easy", 800),
    ("point_mass-hard", 750),
    ("reacher-easy", 900),
    ("reacher-hard", 900),
]


@pytest.mark.parametrize("task, target", TARGETS)
def test_expert_reaches_target_return(suite, task, target) -> None:
    env = suite.make(task, render=False)
    policy = suite.expert(task, env)
    assert policy is not None
    assert episode_return(env, policy, seed=1) > target


def test_expert_beats_random_by_far(suite) -> None:
    env = suite.make("reacher-easy", render=False)
    expert = suite.expert("reacher-easy", env)

    class Random:
        def reset(self):
            pass

        def act(self, obs):
            return env.action_space.sample()

    env.action_space.seed(0)
    assert episode_return(env, expert, 2) > 5 * max(1.0, episode_return(env, Random(), 2))


def test_expert_actions_lie_in_the_action_space(suite) -> None:
    for task in EXPERTS:
        env = suite.make(task, render=False, episode_length=5)
        policy = suite.expert(task, env)
        obs, _ = env.reset(seed=0)
        policy.reset()
        for _ in range(5):
            action = policy.act(obs)
            assert env.action_space.contains(action), (task, action)
            obs, *_ = env.step(action)


def test_tasks_without_expert_return_none(suite) -> None:
    env = suite.make("walker-walk", render=False)
    assert suite.expert("walker-walk", env) is None


def test_lqr_expert_beats_doing_nothing(suite) -> None:
    env = suite.make("lqr-lqr_2_1", render=False, episode_length=300)

    class Idle:
        def reset(self):
            pass

        def act(self, obs):
            return np.zeros(env.action_space.shape, np.float32)

    expert = suite.expert("lqr-lqr_2_1", env)
    assert episode_return(env, expert, 0) > episode_return(env, Idle(), 0) + 100
