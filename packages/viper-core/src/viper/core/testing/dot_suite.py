"""``dots``: a numpy env suite whose one task (``right``) moves a bright dot one pixel per step,
an expert that always moves right, and ``DotReward``, a frame-only proxy of its reward.

Shipped test utilities for plugin authors and our own tests (the training loop's tests drive the
suite with :mod:`viper.core.testing.loop_fakes`)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from viper.core.protocols import StepBatch


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


class DotReward:
    """Reward = the dot's column (brightest pixel), a frame-only proxy of the dots' true reward."""

    needs = frozenset()

    def __init__(self, config=None, context=None) -> None:
        self.context = context

    def relabel(self, frames, task_ids=None, task_reward=None):
        return frames[..., 0].max(axis=-2).argmax(axis=-1).astype(np.float32)

    def stream(self, num_envs, task_ids=None):
        reward = self

        class Stream:
            def step(self, batch: StepBatch):
                return reward.relabel(batch.frames[:, None])[:, 0]

        return Stream()
