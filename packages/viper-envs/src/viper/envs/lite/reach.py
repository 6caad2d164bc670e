"""``lite:reach``: move a point to a target drawn on screen."""

from __future__ import annotations

import numpy as np

from viper.envs.lite import render
from viper.envs.lite.base import LiteEnv, tolerance
from viper.envs.lite.bodies import BODIES

AGENT_COLOR = BODIES["disk"].color
TARGET_COLOR = (70, 210, 100)


class Reach(LiteEnv):
    """A velocity-controlled point (orange) must reach and stay on a target (green ring).

    * action: ``float32[2]`` in ``[-1, 1]``, the point's velocity (``SPEED`` arena units a step
      at full deflection, times the body's speed: ``--set env.body=square`` is slower);
    * state: ``[point_x, point_y, target_x, target_y, to_target_x, to_target_y]`` (the offset to
      the target, as DMC's reacher observes ``to_target``);
    * reward: 1 while the point's centre is inside the target ring (``RADIUS``), falling off
      smoothly to 0.1 at ``RADIUS + MARGIN``;
      100 steps, so an episode's return is at most 100.
    """

    state_dim = 6
    episode_length = 100
    SPEED = 0.06
    RADIUS = 0.12
    MARGIN = 0.15

    def _reset_state(self, rng: np.random.Generator) -> None:
        self.point = rng.uniform(-0.8, 0.8, 2)
        while True:
            self.target = rng.uniform(-0.7, 0.7, 2)
            if np.linalg.norm(self.target - self.point) >= 0.5:
                break
        self._background = render.background(self.size)
        ty, tx = self.to_pixels(self.target)
        render.ring(self._background, ty, tx, self.px(self.RADIUS), max(1.0, self.size / 40), TARGET_COLOR)

    def _advance(self, action: np.ndarray) -> None:
        self.point = np.clip(self.point + self.speed * action, -0.95, 0.95)

    def distance(self) -> float:
        return float(np.linalg.norm(self.point - self.target))

    def goal_distance(self) -> float:
        return self.distance()

    def _task_reward(self, action: np.ndarray) -> float:
        return tolerance(self.distance(), self.RADIUS, self.MARGIN)

    def _success(self) -> bool:
        return self.distance() <= self.RADIUS

    def _state(self) -> np.ndarray:
        return np.concatenate([self.point, self.target, self.target - self.point])

    def _draw(self) -> np.ndarray:
        frame = self._background.copy()
        py, px = self.to_pixels(self.point)
        self.body.draw(frame, py, px, self.px(0.09))
        return frame


class ReachExpert:
    """Heads straight for the target at full speed, then holds still on it."""

    def __init__(self, env: Reach) -> None:
        self.env = env

    def reset(self) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        state = obs["state"]
        delta = state[4:6]
        distance = float(np.linalg.norm(delta))
        if distance < 1e-6:
            return np.zeros(2, np.float32)
        speed = min(1.0, distance / self.env.speed)
        return (delta / distance * speed).astype(np.float32)
