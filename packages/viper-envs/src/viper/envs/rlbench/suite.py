"""The ``rlbench`` env suite object (see :class:`viper.core.protocols.EnvSuite`)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import gymnasium as gym

from viper.core.config import Options, option
from viper.core.suites import TableSuite, Task, config_values
from viper.envs.rlbench.backend import ACTION_MODES, TASK_CLASSES, launch
from viper.envs.rlbench.env import CAMERAS


@dataclasses.dataclass
class RLBenchConfig(Options):
    """Options of every RLBench task (``--set env.FIELD=VALUE``)."""

    SECTION: ClassVar[str] = "env"

    action_mode: str = option("joint_velocity", one_of=ACTION_MODES)
    """``joint_velocity`` (8 dims: 7 joints + gripper) or ``end_effector`` (4: xyz + gripper)."""
    camera: str = option("front", one_of=CAMERAS)
    """The camera whose frames form the ``image`` observation."""
    episode_length: int = option(250, ge=1)
    """Env steps per episode."""
    max_joint_velocity: float = option(1.0, gt=0)
    """Joint velocity (rad/s) an action of 1 asks for, in ``joint_velocity`` mode."""
    max_displacement: float = option(0.03, gt=0)
    """End-effector displacement (m) an action of 1 asks for, in ``end_effector`` mode."""
    terminate_on_success: bool = False
    """End the episode when the task reports success."""
    backend: Any = None
    """Python only: ``factory(task, action_mode=..., size=...)`` returning an object with
    RLBench's task-environment interface; None launches CoppeliaSim."""


def _make(task: str, config: RLBenchConfig, size: int, seed: int | None) -> gym.Env:
    from viper.envs.rlbench.env import RLBenchEnv

    options = config_values(config)
    factory = options.pop("backend") or launch
    return RLBenchEnv(task, factory, size=size, **options)


class RLBenchSuite(TableSuite):
    """The paper's six RLBench tasks (``phone_on_base``, ``pick_and_lift``, ``pick_up_cup``,
    ``put_rubbish_in_bin``, ``take_lid_off_saucepan``, ``take_umbrella_out_of_umbrella_stand``).

    Needs CoppeliaSim + PyRep + RLBench (see ``viper.envs.rlbench.install``). ``make(...,
    backend=factory)`` swaps the simulator for ``factory(task, action_mode=..., size=...)``, any
    object with RLBench's task-environment interface. No scripted experts: RLBench's own
    demonstrations (``task.get_demos``) or imported videos provide expert data.
    """

    name = "rlbench"
    Config = RLBenchConfig
    TASKS = {task: Task(functools.partial(_make, task)) for task in TASK_CLASSES}
