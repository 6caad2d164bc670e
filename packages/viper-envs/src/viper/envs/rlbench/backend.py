"""The simulator side of the ``rlbench`` suite, kept behind a small interface.

:class:`~viper.envs.rlbench.env.RLBenchEnv` only needs what RLBench's ``TaskEnvironment``
offers (``reset() -> (descriptions, observation)``, ``step(action) -> (observation, reward,
terminate)``) plus the exceptions RLBench raises for unreachable actions, so any object with that
interface can stand in for the simulator (tests use a fake one). :func:`launch` builds the real
one; RLBench, PyRep and CoppeliaSim are imported only there.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from viper.core.errors import MissingDependencyError
from viper.envs.rlbench.install import INSTALL_HINT

#: The paper's six tasks -> RLBench task class names.
TASK_CLASSES = {
    "phone_on_base": "PhoneOnBase",
    "pick_and_lift": "PickAndLift",
    "pick_up_cup": "PickUpCup",
    "put_rubbish_in_bin": "PutRubbishInBin",
    "take_lid_off_saucepan": "TakeLidOffSaucepan",
    "take_umbrella_out_of_umbrella_stand": "TakeUmbrellaOutOfUmbrellaStand",
}

ACTION_MODES = ("joint_velocity", "end_effector")


class TaskBackend(Protocol):
    """What the wrapper uses of a task environment.

    Observations are objects with RLBench's ``Observation`` attributes: ``front_rgb`` and
    ``wrist_rgb`` (``uint8[H,W,3]``), ``joint_positions`` and ``joint_velocities`` (7 each),
    ``gripper_open`` (float) and ``gripper_pose`` (7: position + quaternion).
    """

    #: Exceptions meaning "this action cannot be executed" (IK failure, invalid action, ...).
    invalid_action_errors: tuple[type[BaseException], ...]

    def reset(self) -> tuple[list[str], Any]: ...

    def step(self, action: np.ndarray) -> tuple[Any, float, bool]: ...

    def seed(self, seed: int) -> None: ...

    def close(self) -> None: ...


class RLBenchBackend:
    """A real RLBench task in a headless CoppeliaSim."""

    def __init__(self, task: str, *, action_mode: str, size: int, headless: bool = True) -> None:
        try:
            from pyrep.errors import ConfigurationPathError, IKError

            from rlbench import tasks as rlbench_tasks
            from rlbench.action_modes.action_mode import MoveArmThenGripper
            from rlbench.action_modes.arm_action_modes import EndEffectorPoseViaIK, JointVelocity
            from rlbench.action_modes.gripper_action_modes import Discrete
            from rlbench.backend.exceptions import InvalidActionError
            from rlbench.environment import Environment
            from rlbench.observation_config import ObservationConfig
        except ImportError as exc:  # also raised when CoppeliaSim's libraries are not found
            raise MissingDependencyError(f"rlbench: cannot import RLBench ({exc}). {INSTALL_HINT}") from exc
        config = ObservationConfig()
        config.set_all(False)
        for camera in (config.front_camera, config.wrist_camera):
            camera.rgb = True
            camera.image_size = (size, size)
        config.joint_positions = config.joint_velocities = True
        config.gripper_open = config.gripper_pose = True
        arm = JointVelocity() if action_mode == "joint_velocity" else EndEffectorPoseViaIK(absolute_mode=False)
        self._env = Environment(
            action_mode=MoveArmThenGripper(arm_action_mode=arm, gripper_action_mode=Discrete()),
            obs_config=config,
            headless=headless,
        )
        self._env.launch()
        self._task = self._env.get_task(getattr(rlbench_tasks, TASK_CLASSES[task]))
        self.invalid_action_errors = (IKError, ConfigurationPathError, InvalidActionError)

    def reset(self) -> tuple[list[str], Any]:
        return self._task.reset()

    def step(self, action: np.ndarray) -> tuple[Any, float, bool]:
        return self._task.step(action)

    def seed(self, seed: int) -> None:
        # RLBench samples task variations and object poses from numpy's global generator.
        np.random.seed(seed % 2**32)

    def close(self) -> None:
        self._env.shutdown()


def launch(task: str, *, action_mode: str, size: int) -> TaskBackend:
    """The real simulator for ``task`` (fails with install instructions when it is missing)."""
    return RLBenchBackend(task, action_mode=action_mode, size=size)
