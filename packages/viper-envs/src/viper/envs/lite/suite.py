"""The ``lite`` env suite object (see :class:`viper.core.protocols.EnvSuite`)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from viper.core.errors import ConfigError
from viper.envs.lite.balance import Balance, BalanceExpert
from viper.envs.lite.push import Push, PushExpert
from viper.envs.lite.reach import Reach, ReachExpert

TASKS: dict[str, tuple[type, type]] = {
    "reach": (Reach, ReachExpert),
    "push": (Push, PushExpert),
    "balance": (Balance, BalanceExpert),
}


class LiteSuite:
    """Dependency-light 2D tasks (numpy only): ``reach``, ``push``, ``balance``.

    Every task renders ``size x size`` RGB frames (default 64), observes ``{"image", "state"}``,
    has continuous actions in ``[-1, 1]``, puts its reward in ``info["task_reward"]`` and has a
    scripted expert reading the ``state`` observation.
    """

    name = "lite"

    def tasks(self) -> list[str]:
        return list(TASKS)

    def _lookup(self, task: str) -> tuple[type, type]:
        if task not in TASKS:
            raise ConfigError(f"lite: unknown task {task!r}; tasks: {', '.join(TASKS)}")
        return TASKS[task]

    def make(self, task: str, *, seed: int | None = None, size: int = 64, **options: Any) -> gym.Env:
        env_cls, _ = self._lookup(task)
        try:
            env = env_cls(size=size, **options)
        except TypeError as exc:
            raise ConfigError(f"lite:{task}: bad option ({exc}); options: size, episode_length") from exc
        except ValueError as exc:
            raise ConfigError(f"lite:{task}: {exc}") from exc
        if seed is not None:
            env.reset(seed=seed)
            env.action_space.seed(seed)
        return env

    def expert(self, task: str, env: gym.Env) -> Any:
        _, expert_cls = self._lookup(task)
        return expert_cls(env.unwrapped)

    def image_mask(self, task: str, size: int = 64) -> np.ndarray | None:
        self._lookup(task)
        return None
