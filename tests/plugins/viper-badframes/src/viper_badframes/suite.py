"""``badframes``: a suite written from gymnasium's docs alone, rendering float32 frames in [0, 1]
where viper expects uint8[H,W,3]."""

import gymnasium as gym
import numpy as np


class GreyEnv(gym.Env):
    def __init__(self, size=64):
        self.size = size
        self.observation_space = gym.spaces.Dict({"image": gym.spaces.Box(0.0, 1.0, (size, size, 3), np.float32)})
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.t = 0

    def _obs(self):
        return {"image": np.full((self.size, self.size, 3), self.t / 10.0, np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), 0.0, False, self.t >= 10, {"task_reward": 0.0}


class BadFramesSuite:
    name = "badframes"

    def tasks(self):
        return ["grey"]

    def make(self, task, *, seed=None, size=64, **options):
        from viper.core.errors import ConfigError

        if task != "grey":
            raise ConfigError(f"badframes: unknown task {task!r}; tasks: grey")
        return GreyEnv(size)

    def expert(self, task, env):
        return None

    def image_mask(self, task, size=64):
        return None
