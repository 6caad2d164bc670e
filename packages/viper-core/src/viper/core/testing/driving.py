"""Rollouts through the training loop's own :class:`~viper.core.loop.driver.Driver`, so a check
exercises exactly the step transition, reward batching and boundary checks a real run does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from viper.core.loop import Driver, Episode, make_vector_env
from viper.core.loop.driver import check_observation_space
from viper.core.testing.fake_reward import FakeReward


def drive_random(
    env_fn: Callable[[], Any], *, steps: int, num_envs: int = 2, seed: int = 0, reward: Any = None
) -> list[Episode]:
    """``steps`` steps of ``num_envs`` envs made by ``env_fn`` with uniformly random actions,
    scored by ``reward`` (default: the fake reward); returns the episodes that finished."""
    envs = make_vector_env(env_fn, num_envs, parallel=False)
    try:
        check_observation_space(envs.single_observation_space)
        space = envs.single_action_space
        space.seed(seed)
        driver = Driver(envs, np.zeros(num_envs, np.int32))
        driver.reset([seed + i for i in range(num_envs)], (reward or FakeReward()).stream(num_envs))
        finished: list[Episode] = []
        for t in range(steps):
            _, episodes = driver.observe(t * num_envs)
            finished += episodes
            driver.step(np.stack([np.asarray(space.sample()) for _ in range(num_envs)]))
        return finished
    finally:
        envs.close()
