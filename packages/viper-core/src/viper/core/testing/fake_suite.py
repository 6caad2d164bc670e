"""``fake``: a tiny numpy env suite with a scripted expert, for tests and contract checks.

A dot moves on a dark ``size x size`` frame toward a target square. ``reach`` takes continuous
actions (``float32[2]`` in ``[-1, 1]``); ``steer`` takes ``Discrete(5)`` (stay, up, down, left,
right) and hides its top row (a "score bar") behind an image mask. The reward is the negative
distance to the target; an episode terminates on the target or is truncated after
``episode_length`` steps. ``reset`` returns an empty info, as gymnasium allows.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from viper.core.config import Options, option
from viper.core.suites import TableSuite, Task

_MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], np.float32)


@dataclasses.dataclass
class FakeSuiteConfig(Options):
    """Options of the ``fake`` suite (``--set env.FIELD=VALUE``)."""

    SECTION: ClassVar[str] = "env"

    episode_length: int = option(12, ge=1)
    """Steps before an episode is truncated."""
    speed: float = option(2.0, gt=0)
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


def _score_bar_mask(size: int) -> np.ndarray:
    mask = np.ones((size, size), bool)
    mask[0] = False
    return mask


class FakeSuite(TableSuite):
    """The ``fake`` env suite (:class:`~viper.core.protocols.EnvSuite`), written as a table."""

    name = "fake"
    Config = FakeSuiteConfig
    TASKS = {
        "reach": Task(
            make=lambda config, size, seed: FakeEnv("reach", size, config), expert=lambda env: FakeExpert("reach")
        ),
        "steer": Task(
            make=lambda config, size, seed: FakeEnv("steer", size, config),
            expert=lambda env: FakeExpert("steer"),
            mask=_score_bar_mask,
        ),
    }
