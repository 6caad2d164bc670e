"""``lite:push``: push a block onto a goal pad."""

from __future__ import annotations

from typing import Any

import numpy as np

from viper.envs.lite import render
from viper.envs.lite.base import LiteEnv, tolerance

BLOCK_COLOR = (90, 150, 255)
GOAL_COLOR = (70, 210, 100)


class Push(LiteEnv):
    """A velocity-controlled pusher (orange disk) must shove a block (blue square) onto a goal
    pad (green ring). The block moves only when pushed.

    * action: ``float32[2]``, the pusher's velocity (times the body's speed, see ``env.body``);
    * state: ``[pusher_x, pusher_y, block_x, block_y, goal_x, goal_y]`` followed by the offsets
      pusher-to-block and block-to-goal (4 more numbers);
    * reward: 1 while the block's centre is within ``RADIUS`` of the goal's, smooth fall-off
      beyond (0.1 at 0.26, below 1e-4 at the 0.5 every goal starts from: sparse in practice);
      150 steps. ``shaped=True`` (``--set env.shaped=true``) instead pays
      ``0.25 * near + 0.75 * placed``: ``near`` for the pusher touching the block (0.1 at
      ``NEAR_MARGIN`` from contact), ``placed`` the same goal test with the wider
      ``SHAPED_MARGIN``, so every step has a gradient, as Meta-World's push reward has. It is a
      different task reward for agents that cannot explore the sparse one (an oracle that
      learns); success (``info["success"]``) and the goal distance are the same in both.
    """

    state_dim = 10
    episode_length = 150
    SPEED = 0.05
    PUSHER = 0.08  # pusher radius
    BLOCK = 0.09  # block half-size (collides as a disk of this radius)
    RADIUS = 0.06
    MARGIN = 0.2
    LIMIT = 0.9
    NEAR_MARGIN = 0.5  # shaped: the pusher's distance from contact where `near` is 0.1
    SHAPED_MARGIN = 0.5  # shaped: the block's distance beyond RADIUS where `placed` is 0.1

    def __init__(self, *args: Any, shaped: bool | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shaped = bool(shaped)

    def _reset_state(self, rng: np.random.Generator) -> None:
        self.block = rng.uniform(-0.5, 0.5, 2)
        while True:
            self.goal = rng.uniform(-0.7, 0.7, 2)
            if np.linalg.norm(self.goal - self.block) >= 0.5:
                break
        while True:
            self.pusher = rng.uniform(-0.85, 0.85, 2)
            if np.linalg.norm(self.pusher - self.block) >= 0.35:
                break
        self._background = render.background(self.size)
        gy, gx = self.to_pixels(self.goal)
        render.ring(self._background, gy, gx, self.px(0.14), max(1.0, self.size / 40), GOAL_COLOR)

    def _advance(self, action: np.ndarray) -> None:
        self.pusher = np.clip(self.pusher + self.speed * action, -0.95, 0.95)
        contact = self.PUSHER + self.BLOCK
        offset = self.block - self.pusher
        distance = float(np.linalg.norm(offset))
        if distance < contact:
            normal = offset / distance if distance > 1e-9 else np.array([1.0, 0.0])
            self.block = np.clip(self.pusher + normal * contact, -self.LIMIT, self.LIMIT)
            # a block against the wall stops the pusher
            offset = self.block - self.pusher
            distance = float(np.linalg.norm(offset))
            if distance < contact:
                self.pusher = self.block - offset / max(distance, 1e-9) * contact

    def distance(self) -> float:
        return float(np.linalg.norm(self.block - self.goal))

    def goal_distance(self) -> float:
        """The block's distance to the goal (the object is what must reach it)."""
        return self.distance()

    def _task_reward(self, action: np.ndarray) -> float:
        if not self.shaped:
            return tolerance(self.distance(), self.RADIUS, self.MARGIN)
        gap = float(np.linalg.norm(self.block - self.pusher)) - (self.PUSHER + self.BLOCK)
        near = tolerance(max(gap, 0.0), 0.0, self.NEAR_MARGIN)
        return 0.25 * near + 0.75 * tolerance(self.distance(), self.RADIUS, self.SHAPED_MARGIN)

    def _success(self) -> bool:
        return self.distance() <= self.RADIUS

    def _state(self) -> np.ndarray:
        return np.concatenate([self.pusher, self.block, self.goal, self.block - self.pusher, self.goal - self.block])

    def _draw(self) -> np.ndarray:
        frame = self._background.copy()
        by, bx = self.to_pixels(self.block)
        half = self.px(self.BLOCK)
        render.box(frame, by, bx, half, half, BLOCK_COLOR)
        py, px = self.to_pixels(self.pusher)
        self.body.draw(frame, py, px, self.px(self.PUSHER))
        return frame


def push_frame(state: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """From a push ``state``: the unit vector from the block to the goal, its normal, the block's
    distance to the goal, and the pusher's offset from the block along and across that vector."""
    pusher, block, goal = state[0:2], state[2:4], state[4:6]
    to_goal = goal - block
    gap = float(np.linalg.norm(to_goal))
    direction = to_goal / max(gap, 1e-9)
    normal = np.array([-direction[1], direction[0]])
    rel = pusher - block
    return direction, normal, gap, float(rel @ direction), float(rel @ normal)


def lined_up(along: float, lateral: float) -> bool:
    """Behind the block and in line with the goal (:func:`push_frame`'s offsets): where the
    expert pushes from."""
    return along < -0.5 * (Push.PUSHER + Push.BLOCK) and abs(lateral) < 0.03


def walk(pusher: np.ndarray, point: np.ndarray, speed: float) -> np.ndarray:
    """The action that walks the pusher straight to ``point``, landing on it (``speed``: the
    pusher's move per step at full action)."""
    move = point - pusher
    norm = float(np.linalg.norm(move))
    if norm < 1e-9:
        return np.zeros(2, np.float32)
    return (move / norm * min(1.0, norm / speed)).astype(np.float32)


class PushExpert:
    """Walks around the block to the side opposite the goal, then pushes it onto the goal."""

    def __init__(self, env: Push) -> None:
        self.env = env

    def reset(self) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        s = obs["state"]
        pusher, block = s[0:2], s[2:4]
        direction, normal, gap, along, lateral = push_frame(s)
        if gap < 0.01:
            return np.zeros(2, np.float32)
        contact = Push.PUSHER + Push.BLOCK
        if lined_up(along, lateral):
            # push toward the goal, correcting sideways drift, slowing down so the block stops on
            # the goal
            move = direction * min(1.0, gap / self.env.speed) - normal * lateral * 10.0
            norm = float(np.linalg.norm(move))
            return (move / max(norm, 1.0)).astype(np.float32)
        if along > -0.3 * contact:
            # beside or in front of the block: walk around it on the nearer side
            side = 1.0 if lateral >= 0 else -1.0
            waypoint = block + normal * side * (contact + 0.1) - direction * 0.6 * contact
        else:
            waypoint = block - direction * (contact + 0.02)
        return walk(pusher, waypoint, self.env.speed)
