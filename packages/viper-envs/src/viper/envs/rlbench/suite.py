"""The ``rlbench`` env suite object (see :class:`viper.core.protocols.EnvSuite`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from viper.core.errors import ConfigError
from viper.envs.rlbench.backend import TASK_CLASSES, TaskBackend, launch

OPTIONS = (
    "action_mode",
    "camera",
    "episode_length",
    "max_joint_velocity",
    "max_displacement",
    "terminate_on_success",
    "backend",
)


class RLBenchSuite:
    """The paper's six RLBench tasks (``phone_on_base``, ``pick_and_lift``, ``pick_up_cup``,
    ``put_rubbish_in_bin``, ``take_lid_off_saucepan``, ``take_umbrella_out_of_umbrella_stand``).

    Needs CoppeliaSim + PyRep + RLBench (see ``viper.envs.rlbench.install``). ``make(...,
    backend=factory)`` swaps the simulator for ``factory(task, action_mode=..., size=...)``, any
    object with RLBench's task-environment interface. No scripted experts: RLBench's own
    demonstrations (``task.get_demos``) or imported videos provide expert data.
    """

    name = "rlbench"

    def tasks(self) -> list[str]:
        return list(TASK_CLASSES)

    def _check(self, task: str) -> None:
        if task not in TASK_CLASSES:
            raise ConfigError(f"rlbench: unknown task {task!r}; tasks: {', '.join(TASK_CLASSES)}")

    def make(self, task: str, *, seed: int | None = None, size: int = 64, **options: Any) -> gym.Env:
        from viper.envs.rlbench.env import RLBenchEnv

        self._check(task)
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ConfigError(f"rlbench:{task}: unknown option {unknown[0]!r}; options: size, {', '.join(OPTIONS)}")
        factory: Callable[..., TaskBackend] = options.pop("backend", None) or launch
        try:
            env = RLBenchEnv(task, factory, size=size, **options)
        except ValueError as exc:
            raise ConfigError(f"rlbench:{task}: {exc}") from exc
        if seed is not None:
            env.reset(seed=seed)
        return env

    def expert(self, task: str, env: gym.Env) -> Any:
        self._check(task)
        return None

    def image_mask(self, task: str, size: int = 64) -> np.ndarray | None:
        self._check(task)
        return None
