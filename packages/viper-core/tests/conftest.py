"""Fixtures for viper-core's own tests: a tiny numpy env suite registered on a private host."""

from __future__ import annotations

import types
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from viper.core import ComponentSpec, PluginHost, hookimpl


class DotEnv(gym.Env):
    """A bright dot that moves one pixel per step toward the right; 10 steps."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self.observation_space = gym.spaces.Dict(
            {
                "image": gym.spaces.Box(0, 255, (size, size, 3), np.uint8),
                "state": gym.spaces.Box(-1, size, (1,), np.float32),
            }
        )
        self.action_space = gym.spaces.Box(-1, 1, (1,), np.float32)
        self.x = 0

    def _obs(self) -> dict[str, np.ndarray]:
        image = np.zeros((self.size, self.size, 3), np.uint8)
        image[self.size // 2, min(self.x, self.size - 1)] = 255
        return {"image": image, "state": np.array([self.x], np.float32)}

    def reset(self, *, seed: int | None = None, options: Any = None):
        super().reset(seed=seed)
        self.x = int(self.np_random.integers(0, 3))
        self.t = 0
        return self._obs(), {"task_reward": 0.0}

    def step(self, action):
        self.x += 1 if float(np.asarray(action).reshape(-1)[0]) > 0 else 0
        self.t += 1
        reward = float(self.x)
        return self._obs(), reward, False, self.t >= 10, {"task_reward": reward}


class DotExpert:
    def reset(self) -> None:
        pass

    def act(self, obs):
        return np.ones(1, np.float32)


class DotSuite:
    name = "dots"

    def tasks(self):
        return ["right"]

    def make(self, task, *, seed=None, size=16, **options):
        return DotEnv(size)

    def expert(self, task, env):
        return DotExpert()

    def image_mask(self, task, size=16):
        return None


def make_plugin(**specs: list[ComponentSpec]) -> types.SimpleNamespace:
    """An object with hook implementations returning the given specs per hook name."""
    ns = types.SimpleNamespace()
    for hook, items in specs.items():
        setattr(ns, hook, hookimpl(lambda items=items: list(items)))
    return ns


@pytest.fixture
def host() -> PluginHost:
    h = PluginHost(entry_points=False)
    h.register(
        make_plugin(
            viper_register_env_suites=[ComponentSpec("dots", "conftest:DotSuite", "test suite")],
        ),
        name="dots-plugin",
        distribution="dots-dist",
        version="1.0",
    )
    return h
