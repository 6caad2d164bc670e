"""``lite:reach-two``: two equally good targets; reaching either one earns the full reward.

The task has two expert modes (left target, right target), which is what the multimodality check
(``benchmarks/multimodality.py``) needs: a video model of both modes should rate each mode above
the blurry mean of the two, a path up the middle that reaches neither.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viper.envs.lite import render
from viper.envs.lite.base import LiteEnv, tolerance
from viper.envs.lite.reach import AGENT_COLOR, TARGET_COLOR, Reach

#: Where the two targets sit (mirrored about the vertical axis) and the point starts, before jitter.
TARGET_XY = (0.55, 0.5)
START_XY = (0.0, -0.75)
JITTER = 0.1


class ReachTwo(LiteEnv):
    """A velocity-controlled point (orange) starts near the bottom centre; two identical target
    rings sit up left and up right. Either one is the goal.

    * action: ``float32[2]`` in ``[-1, 1]``, the point's velocity (:attr:`Reach.SPEED` a step);
    * state: ``[point_x, point_y, left_x, left_y, right_x, right_y]``;
    * reward: ``lite:reach``'s, to the nearer target (1 inside its ring);
    * ``info["mode"]``: the target reached first this episode (0 left, 1 right), -1 before any;
    * :attr:`expert_mode`: the target the scripted expert takes this episode (0 or 1), drawn at
      reset from the env's seeded generator, so both modes are equally likely and reproducible.

    50 steps, so an episode's return is at most 50.
    """

    state_dim = 6
    episode_length = 50
    SPEED = Reach.SPEED
    RADIUS = Reach.RADIUS
    MARGIN = Reach.MARGIN

    def _reset_state(self, rng: np.random.Generator) -> None:
        self.point = np.asarray(START_XY) + rng.uniform(-JITTER, JITTER, 2)
        x, y = TARGET_XY
        self.targets = np.stack(
            [np.array([-x, y]) + rng.uniform(-JITTER, JITTER, 2), np.array([x, y]) + rng.uniform(-JITTER, JITTER, 2)]
        )
        self.expert_mode = int(rng.integers(2))
        self.reached = -1
        self._background = render.background(self.size)
        for target in self.targets:
            ty, tx = self.to_pixels(target)
            render.ring(self._background, ty, tx, self.px(self.RADIUS), max(1.0, self.size / 40), TARGET_COLOR)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        obs, info = super().reset(seed=seed, options=options)
        return obs, {**info, "mode": self.reached}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated, truncated, {**info, "mode": self.reached}

    def _advance(self, action: np.ndarray) -> None:
        self.point = np.clip(self.point + self.SPEED * action, -0.95, 0.95)
        distances = self.distances()
        if self.reached < 0 and distances.min() <= self.RADIUS:
            self.reached = int(distances.argmin())

    def distances(self) -> np.ndarray:
        return np.linalg.norm(self.targets - self.point[None], axis=1)

    def goal_distance(self) -> float:
        """Distance to the nearest target (either one is a goal)."""
        return float(self.distances().min())

    def _task_reward(self, action: np.ndarray) -> float:
        return tolerance(self.distances().min(), self.RADIUS, self.MARGIN)

    def _success(self) -> bool:
        return bool(self.distances().min() <= self.RADIUS)

    def _state(self) -> np.ndarray:
        return np.concatenate([self.point, self.targets[0], self.targets[1]])

    def _draw(self) -> np.ndarray:
        frame = self._background.copy()
        py, px = self.to_pixels(self.point)
        render.disk(frame, py, px, self.px(0.09), AGENT_COLOR)
        return frame


class ReachTwoExpert:
    """Heads straight for one target at full speed, then holds still on it.

    ``goal``: ``None`` takes the env's :attr:`ReachTwo.expert_mode` each episode (the suite's
    expert: both modes, 50/50); ``0``/``1`` always the left/right target; ``"mean"`` the midpoint
    of the two targets, i.e. the average of the two modes' paths, which reaches neither (the
    blurry mean a unimodal model predicts; used by ``benchmarks/multimodality.py``).
    """

    def __init__(self, env: ReachTwo, goal: int | str | None = None) -> None:
        if goal not in (None, 0, 1, "mean"):
            raise ValueError(f"ReachTwoExpert goal {goal!r}: expected None, 0, 1 or 'mean'")
        self.env = getattr(env, "unwrapped", env)
        self.goal = goal

    def reset(self) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        state = obs["state"]
        point, targets = state[:2], state[2:6].reshape(2, 2)
        goal = self.env.expert_mode if self.goal is None else self.goal
        aim = targets.mean(axis=0) if goal == "mean" else targets[int(goal)]
        delta = aim - point
        distance = float(np.linalg.norm(delta))
        if distance < 1e-6:
            return np.zeros(2, np.float32)
        return (delta / distance * min(1.0, distance / ReachTwo.SPEED)).astype(np.float32)
