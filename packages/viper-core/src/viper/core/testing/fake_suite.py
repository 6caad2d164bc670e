"""``fake``: a tiny numpy env suite with a scripted expert, for tests and contract checks.

A dot moves on a dark ``size x size`` frame toward a target square. ``reach`` takes continuous
actions (``float32[2]`` in ``[-1, 1]``); ``steer`` takes ``Discrete(5)`` (stay, up, down, left,
right) and hides its top row (a "score bar") behind an image mask. The reward is the negative
distance to the target; an episode terminates on the target or is truncated after
``episode_length`` steps. ``reset`` returns an empty info, as gymnasium allows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np

from viper.core.errors import ConfigError

_MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], np.float32)


@dataclasses.dataclass
class FakeSuiteConfig:
    """Options of the ``fake`` suite (``--set env.FIELD=VALUE``)."""

    episode_length: int = 12
    """Steps before an episode is truncated."""
    speed: float = 2.0
    """Pixels the dot moves per step at full action."""


class FakeEnv(gym.Env):
    """One ``fake`` task; see the module docstring."""

    def __init__(self, task: str, size: int, config: FakeSuiteConfig) -> None:
        self.task, self.size, self.config = task, size, config
        self.observation_space = gym.spaces.Dict(
            {
                "image": gym.spaces.Box(0, 255, (size, size, 3), np.uint8),
                "state": gym.spaces.Box(-size, 2 * size, (4,), np.float32),
            }
        )
        if task == "steer":
            self.action_space: gym.Space = gym.spaces.Discrete(len(_MOVES))
        else:
            self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.pos = np.zeros(2, np.float32)
        self.target = np.zeros(2, np.float32)
        self.t = 0

    def _obs(self) -> dict[str, np.ndarray]:
        image = np.full((self.size, self.size, 3), 20, np.uint8)
        ty, tx = np.clip(self.target.astype(int), 0, self.size - 2)
        image[ty : ty + 2, tx : tx + 2] = (40, 200, 40)
        py, px = np.clip(self.pos.astype(int), 0, self.size - 1)
        image[py, px] = (255, 255, 255)
        if self.task == "steer":
            image[0, : min(self.t, self.size)] = (200, 40, 40)  # a "score bar" the mask hides
        return {"image": image, "state": np.concatenate([self.pos, self.target]).astype(np.float32)}

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[dict[str, np.ndarray], dict]:
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(1, self.size - 2, 2).astype(np.float32)
        self.target = self.np_random.uniform(1, self.size - 2, 2).astype(np.float32)
        self.t = 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        if self.task == "steer":
            move = _MOVES[int(np.asarray(action).reshape(-1)[0])]
        else:
            move = np.clip(np.asarray(action, np.float32).reshape(2), -1.0, 1.0)
        self.pos = np.clip(self.pos + self.config.speed * move, 0, self.size - 1).astype(np.float32)
        self.t += 1
        distance = float(np.linalg.norm(self.pos - self.target))
        reward = -distance / self.size
        terminated = distance < 1.0
        truncated = self.t >= self.config.episode_length and not terminated
        return self._obs(), reward, terminated, truncated, {"task_reward": reward}


class FakeExpert:
    """Heads straight for the target, reading the ``state`` observation."""

    def __init__(self, task: str) -> None:
        self.task = task

    def reset(self) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray | int:
        delta = obs["state"][2:] - obs["state"][:2]
        if self.task == "steer":
            axis = int(np.argmax(np.abs(delta)))
            return int(1 + 2 * axis + (delta[axis] > 0)) if np.abs(delta).max() >= 1 else 0
        return np.clip(delta / 2.0, -1.0, 1.0).astype(np.float32)


class FakeSuite:
    """The ``fake`` env suite (:class:`~viper.core.protocols.EnvSuite`)."""

    name = "fake"
    Config = FakeSuiteConfig

    def __init__(self, config: FakeSuiteConfig | None = None) -> None:
        self.config = config or FakeSuiteConfig()

    def tasks(self) -> list[str]:
        return ["reach", "steer"]

    def _check_task(self, task: str) -> None:
        if task not in self.tasks():
            raise ConfigError(f"fake: unknown task {task!r}; tasks: {', '.join(self.tasks())}")

    def make(self, task: str, *, seed: int | None = None, size: int = 64, **options: Any) -> gym.Env:
        self._check_task(task)
        try:
            config = dataclasses.replace(self.config, **options)
        except TypeError as exc:
            raise ConfigError(f"fake:{task}: {exc}; options: episode_length, speed") from exc
        env = FakeEnv(task, size, config)
        if seed is not None:
            env.reset(seed=seed)
            env.action_space.seed(seed)
        return env

    def expert(self, task: str, env: gym.Env) -> FakeExpert:
        self._check_task(task)
        return FakeExpert(task)

    def image_mask(self, task: str, size: int = 64) -> np.ndarray | None:
        self._check_task(task)
        if task != "steer":
            return None
        mask = np.ones((size, size), bool)
        mask[0] = False
        return mask
