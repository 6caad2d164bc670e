"""An RLBench task as a gymnasium env: front and wrist cameras, normalised actions, 250 steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from viper.core.errors import ContractError
from viper.core.importers import resize_frames
from viper.core.suites import continuous_action
from viper.envs.rlbench.backend import TaskBackend, launch

CAMERAS = ("front", "wrist")
#: Identity quaternion (x, y, z, w): end-effector actions never rotate the gripper.
NO_ROTATION = np.array([0.0, 0.0, 0.0, 1.0])


class RLBenchEnv(gym.Env):
    """An RLBench task driven through a :class:`~viper.envs.rlbench.backend.TaskBackend`.

    ``backend`` is called as ``backend(task, action_mode=..., size=...)`` (after the suite has
    checked the options: launching the simulator is slow) and returns the task environment; the default
    :func:`~viper.envs.rlbench.backend.launch` starts RLBench.

    * observation: ``image`` (the ``camera`` view, front by default, which is what the video
      model sees), ``image_front`` and ``image_wrist`` (``uint8[size,size,3]``) and ``state``
      (joint positions and velocities, gripper open, gripper pose: ``float32[22]``);
    * action, all in ``[-1, 1]``: ``joint_velocity`` = 7 joint velocities (times
      ``max_joint_velocity`` rad/s) + gripper; ``end_effector`` = a gripper displacement
      (times ``max_displacement`` metres per step, no rotation) + gripper. The gripper closes
      for values <= 0 and opens above;
    * reward, as the official VIPER wrapper: 1 from the step the task first succeeds to the end
      of the episode, 0 before (``info["success"]`` says whether this step succeeded);
    * an action the simulator cannot execute (IK failure, path error) leaves the scene as it was
      and is flagged by ``info["invalid_action"]``;
    * episodes last ``episode_length`` (250) steps (``truncated``); with
      ``terminate_on_success`` success ends them early (``terminated``).

    The task and options are checked by :class:`viper.envs.rlbench.suite.RLBenchSuite` and its
    ``RLBenchConfig`` (make envs through the suite).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    state_dim = 22

    def __init__(
        self,
        task: str,
        backend: Callable[..., TaskBackend] = launch,
        *,
        size: int = 64,
        action_mode: str = "joint_velocity",
        camera: str = "front",
        episode_length: int = 250,
        max_joint_velocity: float = 1.0,
        max_displacement: float = 0.03,
        terminate_on_success: bool = False,
    ) -> None:
        if size < 8:
            raise ValueError(f"size {size}: expected at least 8 pixels")
        self.task = task
        self.size = int(size)
        self.action_mode = action_mode
        self.camera = camera
        self.episode_length = int(episode_length)
        self.max_joint_velocity = float(max_joint_velocity)
        self.max_displacement = float(max_displacement)
        self.terminate_on_success = bool(terminate_on_success)
        self.render_mode = "rgb_array"
        dims = 8 if action_mode == "joint_velocity" else 4
        self.action_space = gym.spaces.Box(-1.0, 1.0, (dims,), np.float32)
        image = gym.spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)
        self.observation_space = gym.spaces.Dict(
            {
                "image": image,
                "image_front": image,
                "image_wrist": image,
                "state": gym.spaces.Box(-np.inf, np.inf, (self.state_dim,), np.float32),
            }
        )
        self._t = 0
        self._succeeded = False
        self._last_obs: Any = None
        self._obs: dict[str, np.ndarray] | None = None
        self._done = True
        self.backend = backend(task, action_mode=action_mode, size=self.size)

    # -- action and observation conversion ---------------------------------------------------------

    def backend_action(self, action: np.ndarray) -> np.ndarray:
        """The normalised action as RLBench expects it for the action mode."""
        gripper = 1.0 if action[-1] > 0 else 0.0
        if self.action_mode == "joint_velocity":
            return np.concatenate([action[:7] * self.max_joint_velocity, [gripper]])
        return np.concatenate([action[:3] * self.max_displacement, NO_ROTATION, [gripper]])

    def _image(self, observation: Any, camera: str) -> np.ndarray:
        frame = getattr(observation, f"{camera}_rgb", None)
        if frame is None:
            raise ContractError(f"rlbench:{self.task}: the simulator returned no {camera} camera image")
        frame = np.asarray(frame)
        if frame.dtype != np.uint8:  # RLBench gives floats in [0, 1] in some configurations
            frame = np.clip(np.rint(np.asarray(frame, np.float64) * 255.0), 0, 255).astype(np.uint8)
        if frame.ndim != 3 or frame.shape[-1] != 3:
            raise ContractError(f"rlbench:{self.task}: {camera} image has shape {list(frame.shape)}, expected HxWx3")
        return resize_frames(frame, self.size)

    def observe(self, observation: Any) -> dict[str, np.ndarray]:
        """Assemble the observation dict from an RLBench observation."""
        images = {camera: self._image(observation, camera) for camera in CAMERAS}
        parts = [
            np.asarray(observation.joint_positions, np.float64).reshape(-1),
            np.asarray(observation.joint_velocities, np.float64).reshape(-1),
            np.asarray([float(observation.gripper_open)]),
            np.asarray(observation.gripper_pose, np.float64).reshape(-1),
        ]
        state = np.concatenate(parts).astype(np.float32)
        if state.shape != (self.state_dim,):
            raise ContractError(
                f"rlbench:{self.task}: state has {state.size} values, expected {self.state_dim} "
                f"(7 joint positions, 7 velocities, gripper open, 7 gripper pose)"
            )
        return {
            "image": images[self.camera],
            "image_front": images["front"],
            "image_wrist": images["wrist"],
            "state": state,
        }

    # -- gymnasium API ---------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self.backend.seed(seed)
        _, observation = self.backend.reset()
        self._last_obs = observation
        self._t = 0
        self._succeeded = False
        self._done = False
        self._obs = self.observe(observation)
        return self._obs, {"task_reward": 0.0, "success": False, "invalid_action": False}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        action = continuous_action(f"rlbench:{self.task}", action, self.action_space, done=self._done)
        invalid, success = False, False
        try:
            observation, reward, terminate = self.backend.step(self.backend_action(action))
            success = bool(terminate or reward > 0)
        except self.backend.invalid_action_errors:
            observation, invalid = self._last_obs, True
        self._last_obs = observation
        self._succeeded = self._succeeded or success
        self._t += 1
        task_reward = float(self._succeeded)
        terminated = self.terminate_on_success and success
        truncated = not terminated and self._t >= self.episode_length
        self._done = terminated or truncated
        self._obs = self.observe(observation)
        info = {"task_reward": task_reward, "success": success, "invalid_action": invalid}
        return self._obs, task_reward, terminated, truncated, info

    def render(self) -> np.ndarray:
        if self._obs is None:
            raise ContractError(f"rlbench:{self.task}: render() before reset()")
        return self._obs["image"]

    def close(self) -> None:
        self.backend.close()
