"""``arm:reach``: a planar two-link arm moves its fingertip onto a target.

* action: ``float32[2]`` in ``[-1, 1]``, the joint velocities (``MAX_STEP`` radians per step at 1);
* state: ``[cos q1, sin q1, cos q2, sin q2, tip x, tip y, target x, target y]``;
* reward per step: ``exp(-(d / REWARD_WIDTH)^2)`` for the fingertip-to-target distance ``d``;
  ``info["success"]`` when ``d < SUCCESS``; ``info["goal_distance"]`` is ``d``; 100 steps,
  never terminated early.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from viper_arm import raster

UPPER, FORE = 0.5, 0.4  # link lengths (arena units; the arena is [-1, 1]^2, the shoulder at 0)
MAX_STEP = 0.25  # radians per step at full action
ELBOW_LIMIT = 2.8  # |q2| <= this: the forearm never folds through the upper arm
REWARD_WIDTH, SUCCESS = 0.15, 0.05

BACKGROUND = (26, 30, 38)
WORKSPACE = (44, 50, 62)
TARGET = (250, 210, 60)
UPPER_COLOUR, FORE_COLOUR = (70, 170, 235), (235, 90, 160)
JOINT, TIP = (200, 200, 210), (255, 255, 255)


def forward(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elbow and fingertip positions of joint angles ``q = [shoulder, elbow]``."""
    elbow = UPPER * np.array([np.cos(q[0]), np.sin(q[0])])
    return elbow, elbow + FORE * np.array([np.cos(q[0] + q[1]), np.sin(q[0] + q[1])])


def jacobian(q: np.ndarray) -> np.ndarray:
    """d(fingertip) / d(q), ``[2, 2]``."""
    s1, c1 = np.sin(q[0]), np.cos(q[0])
    s12, c12 = np.sin(q[0] + q[1]), np.cos(q[0] + q[1])
    return np.array([[-UPPER * s1 - FORE * s12, -FORE * s12], [UPPER * c1 + FORE * c12, FORE * c12]])


class ArmReach(gym.Env):
    """The arm starts in a random pose; the target lies anywhere it can reach."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, size: int = 64, episode_length: int | None = None) -> None:
        self.size = int(size)
        self.episode_length = int(episode_length or 100)
        self.observation_space = gym.spaces.Dict(
            {
                "image": gym.spaces.Box(0, 255, (self.size, self.size, 3), np.uint8),
                "state": gym.spaces.Box(-np.inf, np.inf, (8,), np.float32),
            }
        )
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.grid = raster.pixel_centres(self.size)
        self.background = np.empty((self.size, self.size, 3), np.float32)
        self.background[:] = BACKGROUND
        raster.disc(self.background, self.grid, np.zeros(2), UPPER + FORE + 0.04, WORKSPACE)
        self.q = np.zeros(2)
        self.target = np.zeros(2)
        self.t = 0

    # -- gymnasium ------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        self.q = np.array([rng.uniform(-np.pi, np.pi), rng.uniform(-ELBOW_LIMIT, ELBOW_LIMIT)])
        radius, angle = rng.uniform(0.3, 0.85), rng.uniform(-np.pi, np.pi)
        self.target = radius * np.array([np.cos(angle), np.sin(angle)])
        self.t = 0
        return self._observe(), self._info(0.0)

    def step(self, action: np.ndarray):
        action = np.clip(np.asarray(action, np.float64).reshape(2), -1.0, 1.0)
        q = self.q + MAX_STEP * action
        self.q = np.array([np.arctan2(np.sin(q[0]), np.cos(q[0])), np.clip(q[1], -ELBOW_LIMIT, ELBOW_LIMIT)])
        self.t += 1
        reward = float(np.exp(-((self.distance() / REWARD_WIDTH) ** 2)))
        return self._observe(), reward, False, self.t >= self.episode_length, self._info(reward)

    def render(self) -> np.ndarray:
        canvas = self.background.copy()
        elbow, tip = forward(self.q)
        raster.diamond(canvas, self.grid, self.target, 0.1, TARGET)
        raster.segment(canvas, self.grid, np.zeros(2), elbow, 0.065, UPPER_COLOUR)
        raster.segment(canvas, self.grid, elbow, tip, 0.05, FORE_COLOUR)
        raster.disc(canvas, self.grid, np.zeros(2), 0.08, JOINT)
        raster.disc(canvas, self.grid, elbow, 0.06, JOINT)
        raster.disc(canvas, self.grid, tip, 0.04, TIP)
        return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)

    # -- helpers --------------------------------------------------------------------------

    def fingertip(self) -> np.ndarray:
        return forward(self.q)[1]

    def distance(self) -> float:
        return float(np.linalg.norm(self.fingertip() - self.target))

    def _observe(self) -> dict[str, np.ndarray]:
        tip = self.fingertip()
        state = [np.cos(self.q[0]), np.sin(self.q[0]), np.cos(self.q[1]), np.sin(self.q[1]), *tip, *self.target]
        return {"image": self.render(), "state": np.asarray(state, np.float32)}

    def _info(self, reward: float) -> dict[str, Any]:
        distance = self.distance()
        return {"task_reward": reward, "success": distance < SUCCESS, "goal_distance": distance}


class ResolvedRateExpert:
    """Damped least-squares resolved-rate control: joint velocities that move the fingertip a
    ``gain`` share of the way to the target each step, clipped to the action range."""

    def __init__(self, env: ArmReach, gain: float = 0.6, damping: float = 0.05) -> None:
        self.env, self.gain, self.damping = env, gain, damping

    def reset(self) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        env = self.env
        error = self.gain * (env.target - env.fingertip())
        jac = jacobian(env.q)
        dq = jac.T @ np.linalg.solve(jac @ jac.T + self.damping**2 * np.eye(2), error)
        return np.clip(dq / MAX_STEP, -1.0, 1.0).astype(np.float32)
