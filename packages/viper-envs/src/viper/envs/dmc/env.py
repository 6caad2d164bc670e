"""A DeepMind Control Suite task as a gymnasium env with pixel and state observations."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from viper.core.errors import MissingDependencyError
from viper.core.suites import continuous_action
from viper.envs.dmc import gl

#: Agent steps per episode for tasks without a time limit (``lqr``), which otherwise end only
#: when the state reaches the origin.
UNLIMITED_EPISODE_LENGTH = 500

#: Camera per domain, as in the official VIPER / DreamerV3 DMC wrapper (quadruped is seen from
#: camera 2, which follows the body; every other domain from camera 0).
DEFAULT_CAMERAS = {"quadruped": 2}


def import_suite(render: bool = True) -> Any:
    """``dm_control.suite``, imported only after the GL backend is chosen."""
    gl.ensure_backend(required=render)
    try:
        from dm_control import suite
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in ("dm_control", "mujoco"):
            raise MissingDependencyError(
                f"dmc: needs dm-control and mujoco ({exc}); pip install 'viper-envs[dmc]'"
            ) from exc
        raise gl.render_failure(exc) from exc
    except (AttributeError, RuntimeError, OSError) as exc:  # a broken MUJOCO_GL breaks the import
        raise gl.render_failure(exc) from exc
    return suite


def flatten_observation(observation: dict[str, Any]) -> np.ndarray:
    """A dm_control observation dict as one float32 vector (keys in the task's order)."""
    parts = [np.asarray(value, np.float64).ravel() for value in observation.values()]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


class DMCEnv(gym.Env):
    """``dm_control.suite`` task ``domain``/``task`` with gymnasium's API.

    * observation: ``{"image": uint8[size,size,3], "state": float32[n]}`` where ``state`` is the
      task's observation dict flattened in key order; with ``render=False`` there is no ``image``
      (physics only: for evaluating returns fast, never for collecting videos);
    * action: the task's continuous action, ``float32`` in its bounds (clipped);
    * each ``step`` repeats the action ``action_repeat`` times; the reward and
      ``info["task_reward"]`` are the sum over the repeats, so an episode's return stays on the
      usual 0..1000 scale;
    * an episode ends with dm_control's time limit (``truncated``; 1000 physics steps for most
      tasks, i.e. 500 agent steps at repeat 2), a task termination (``terminated``, discount 0),
      or after ``episode_length`` agent steps if given (``truncated``; tasks without a time limit,
      ``lqr``, default to ``UNLIMITED_EPISODE_LENGTH``).

    The options are checked by :class:`viper.envs.dmc.suite.DMCConfig` (make envs through the
    suite); the camera id is checked here, against the domain's cameras.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        domain: str,
        task: str,
        *,
        size: int = 64,
        camera: int | None = None,
        action_repeat: int = 2,
        render: bool = True,
        episode_length: int | None = None,
        seed: int | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"size {size}: expected a positive number of pixels")
        suite = import_suite(render)
        self.domain, self.task = domain, task
        self.size = int(size)
        self.camera = DEFAULT_CAMERAS.get(domain, 0) if camera is None else int(camera)
        self.action_repeat = int(action_repeat)
        self.pixels = bool(render)
        self.episode_length = episode_length
        self.render_mode = "rgb_array"
        self._env = suite.load(domain, task, task_kwargs={"random": seed})
        if episode_length is None and not np.isfinite(self._env._step_limit):
            self.episode_length = UNLIMITED_EPISODE_LENGTH
        self.metadata = dict(self.metadata, render_fps=round(1.0 / (self._env.control_timestep() * action_repeat)))

        spec = self._env.action_spec()
        self.action_space = gym.spaces.Box(
            np.asarray(spec.minimum, np.float32).reshape(spec.shape),
            np.asarray(spec.maximum, np.float32).reshape(spec.shape),
            spec.shape,
            np.float32,
        )
        state_dim = sum(int(np.prod(s.shape)) for s in self._env.observation_spec().values())
        spaces: dict[str, gym.Space] = {"state": gym.spaces.Box(-np.inf, np.inf, (state_dim,), np.float32)}
        if self.pixels:
            spaces = {"image": gym.spaces.Box(0, 255, (self.size, self.size, 3), np.uint8), **spaces}
            nmodel = self._env.physics.model
            if not 0 <= self.camera < nmodel.ncam:
                raise ValueError(f"camera {self.camera}: {domain} has cameras 0..{nmodel.ncam - 1}")
        self.observation_space = gym.spaces.Dict(spaces)
        self._frame: np.ndarray | None = None
        self._t = 0
        self._done = True
        if seed is not None:
            self.action_space.seed(seed)

    # -- privileged access for scripted experts ------------------------------------------------

    @property
    def physics(self) -> Any:
        """The dm_control ``Physics`` (privileged state, for scripted experts)."""
        return self._env.physics

    @property
    def dm_env(self) -> Any:
        """The wrapped ``dm_control.rl.control.Environment``."""
        return self._env

    # -- gymnasium API ---------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        if seed is not None:
            # dm_control draws initial states from the task's RandomState.
            self._env.task._random = np.random.RandomState(seed)
        time_step = self._env.reset()
        self._t = 0
        self._done = False
        return self._observe(time_step.observation), {"task_reward": 0.0}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        action = continuous_action(f"dmc:{self.domain}-{self.task}", action, self.action_space, done=self._done)
        total = 0.0
        for _ in range(self.action_repeat):
            time_step = self._env.step(action)
            total += float(time_step.reward or 0.0)
            if time_step.last():
                break
        self._t += 1
        terminated = bool(time_step.last() and time_step.discount == 0)
        truncated = bool(time_step.last() and not terminated) or (
            self.episode_length is not None and self._t >= self.episode_length
        )
        self._done = terminated or truncated
        obs = self._observe(time_step.observation)
        return obs, total, terminated, truncated, {"task_reward": total}

    def render(self) -> np.ndarray:
        """The current ``size x size`` frame (rendered now if observations carry no pixels)."""
        return self._frame if self._frame is not None else self._render()

    def close(self) -> None:
        env = getattr(self, "_env", None)
        if env is not None:
            env.close()

    # -- helpers -------------------------------------------------------------------------------

    def _render(self) -> np.ndarray:
        gl.ensure_backend(required=True)
        try:
            frame = self._env.physics.render(self.size, self.size, camera_id=self.camera)
        except Exception as exc:  # the GL backend fails only here, when a context is created
            raise gl.render_failure(exc) from exc
        return np.ascontiguousarray(frame, dtype=np.uint8)

    def _observe(self, observation: dict[str, Any]) -> dict[str, np.ndarray]:
        obs = {"state": flatten_observation(observation)}
        if self.pixels:
            self._frame = self._render()
            obs = {"image": self._frame, **obs}
        return obs
