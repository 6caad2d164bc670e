"""Tiny numpy envs for the agent tests (no simulator, no viper-envs needed)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch


class PointEnv(gym.Env):
    """A point on a line in [-1, 1] rendered as a bright column of a 16x16 frame; reward is
    1 - |x - 0.5|. ``discrete`` gives three actions (left, stay, right)."""

    def __init__(self, discrete: bool = False, size: int = 16, length: int = 10, with_image: bool = True) -> None:
        self.size, self.length = size, length
        spaces = {"state": gym.spaces.Box(-1, 1, (2,), np.float32)}
        if with_image:
            spaces["image"] = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self.action_space = gym.spaces.Discrete(3) if discrete else gym.spaces.Box(-2, 2, (1,), np.float32)
        self.discrete = discrete

    def _obs(self) -> dict[str, np.ndarray]:
        obs = {"state": np.array([self.x, 0.5], np.float32)}
        if "image" in self.observation_space.spaces:
            image = np.zeros((self.size, self.size, 3), np.uint8)
            image[:, int((self.x + 1) / 2 * (self.size - 1))] = 255
            obs["image"] = image
        return obs

    def reset(self, *, seed: int | None = None, options: Any = None):
        super().reset(seed=seed)
        self.x, self.t = float(self.np_random.uniform(-1, 1)), 0
        return self._obs(), {"task_reward": 0.0}

    def step(self, action):
        move = (
            (int(action) - 1) * 0.2 if self.discrete else float(np.clip(np.asarray(action).reshape(-1)[0], -2, 2)) * 0.1
        )
        self.x = float(np.clip(self.x + move, -1, 1))
        self.t += 1
        reward = 1.0 - abs(self.x - 0.5)
        return self._obs(), reward, False, self.t >= self.length, {"task_reward": reward}


@pytest.fixture(autouse=True)
def _one_thread():
    # Small nets on a shared CPU run fastest single-threaded.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
