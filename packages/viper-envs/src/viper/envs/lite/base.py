"""Shared machinery of the lite tasks: spaces, seeding, time limit, rendering, rewards."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from viper.envs.lite.bodies import BODIES


def tolerance(x: np.ndarray | float, bound: float, margin: float) -> float:
    """1 inside ``[0, bound]``, then a Gaussian fall-off reaching 0.1 at ``bound + margin``
    (dm_control's ``rewards.tolerance`` with a gaussian sigmoid)."""
    x = float(x)
    if x <= bound:
        return 1.0
    scale = np.sqrt(-2 * np.log(0.1))
    return float(np.exp(-0.5 * ((x - bound) / margin * scale) ** 2))


class LiteEnv(gym.Env):
    """A 2D task in the unit arena ``[-1, 1]^2`` with numpy rendering.

    Subclasses define ``state_dim``, ``action_dim``, ``episode_length`` and implement
    ``_reset_state``, ``_advance``, ``_task_reward``, ``_state`` and ``_draw``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    state_dim = 0
    action_dim = 2
    episode_length = 100
    SPEED = 0.0  # arena units a step at full action; tasks with a controlled body set it

    def __init__(
        self,
        size: int = 64,
        render_mode: str | None = "rgb_array",
        episode_length: int | None = None,
        body: str | None = None,
    ) -> None:
        if size < 16:
            raise ValueError(f"size {size}: lite tasks render at least 16x16 frames")
        self.size = int(size)
        self.render_mode = render_mode
        if episode_length is not None:  # checked by the suite's LiteConfig
            self.episode_length = int(episode_length)
        self.body = BODIES[body or "disk"]  # the tasks that take `body` draw and move with it
        self.observation_space = gym.spaces.Dict(
            {
                "image": gym.spaces.Box(0, 255, (self.size, self.size, 3), np.uint8),
                "state": gym.spaces.Box(-np.inf, np.inf, (self.state_dim,), np.float32),
            }
        )
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.action_dim,), np.float32)
        self._t = 0
        self._frame: np.ndarray | None = None

    # -- gymnasium API ---------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        self._t = 0
        self._reset_state(self.np_random)
        obs = self._observe()
        return obs, self._info(0.0)

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        action = np.asarray(action, np.float32).reshape(self.action_space.shape)
        if not np.all(np.isfinite(action)):
            raise ValueError(f"{type(self).__name__}.step: action {action} is not finite")
        action = np.clip(action, -1.0, 1.0)
        self._advance(action)
        self._t += 1
        reward = float(self._task_reward(action))
        obs = self._observe()
        truncated = self._t >= self.episode_length
        return obs, reward, False, truncated, self._info(reward)

    def render(self) -> np.ndarray:
        if self._frame is None:
            self._frame = self._draw()
        return self._frame

    # -- helpers ---------------------------------------------------------------------------

    def _observe(self) -> dict[str, np.ndarray]:
        self._frame = self._draw()
        return {"image": self._frame, "state": self._state().astype(np.float32)}

    def to_pixels(self, xy: np.ndarray) -> tuple[float, float]:
        """Arena coordinates (x right, y up) to pixel (row, col)."""
        half = self.size / 2
        return float(half - xy[1] * (half - 1)), float(half + xy[0] * (half - 1))

    @property
    def speed(self) -> float:
        """The controlled body's move per step at full action: the task's ``SPEED`` times the
        body's (reach and push move with it)."""
        return self.SPEED * self.body.speed

    def px(self, length: float) -> float:
        """An arena length in pixels."""
        return float(length * (self.size / 2 - 1))

    def _success(self) -> bool:
        return False

    def _info(self, reward: float) -> dict[str, Any]:
        info: dict[str, Any] = {"task_reward": reward, "success": self._success()}
        distance = self.goal_distance()
        if distance is not None:  # optional key: score's reward-by-distance diagnostic reads it
            info["goal_distance"] = distance
        return info

    def goal_distance(self) -> float | None:
        """Distance from the controlled body (or object) to its goal in arena units; None: no goal."""
        return None

    # -- to implement ----------------------------------------------------------------------

    def _reset_state(self, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _advance(self, action: np.ndarray) -> None:
        raise NotImplementedError

    def _task_reward(self, action: np.ndarray) -> float:
        raise NotImplementedError

    def _state(self) -> np.ndarray:
        raise NotImplementedError

    def _draw(self) -> np.ndarray:
        raise NotImplementedError
