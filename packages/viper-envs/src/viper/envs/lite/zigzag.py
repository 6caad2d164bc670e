"""``lite:zigzag``: climb to a goal bar at the top; at every step, up-left and up-right are
equally expert.

``lite:reach-two`` chooses its mode once per episode, so after the first step the frames say
which mode an episode is in and a model conditioned on them is ambiguous at one step only. Here
the choice is made anew at every step and nothing in the frames predicts it, so a deterministic
next-frame predictor regresses to the mean of the two moves (straight up, a move no expert makes)
at every step of the climb. ``benchmarks/multimodality.py --env lite:zigzag`` measures that.
"""

from __future__ import annotations

import numpy as np

from viper.envs.lite import render
from viper.envs.lite.base import LiteEnv, tolerance
from viper.envs.lite.reach import AGENT_COLOR, TARGET_COLOR

#: The goal bar's centre height, half extents, and the range of its column (drawn per episode).
BAR_Y = 0.8
BAR_HALF = (0.25, 0.04)
BAR_X_RANGE = 0.5
#: Where the point starts below the bar (height, and jitter of both coordinates).
START_Y = -0.8
JITTER = 0.04


class ZigZag(LiteEnv):
    """A velocity-controlled point (orange) starts at the bottom, below a green goal bar at the
    top; it must climb until it touches the bar and stay under it.

    * action: ``float32[2]`` in ``[-1, 1]``, the point's velocity, :attr:`STEP` arena units a step
      per axis at full deflection (0.1: about 3 pixels at 64x64, so each move is visible; the
      ``step`` option sets it, e.g. 0.25 for moves of one 8x8 tokenizer code cell);
    * state: ``[point_x, point_y, bar_x, bar_y, offset_x, to_go]`` with ``offset_x`` the point's
      column relative to the bar's and ``to_go`` the height left to climb;
    * reward: 1 in the goal zone (touching the bar from below, within its span), falling off
      smoothly with the distance to that zone (0.1 at :attr:`MARGIN`);
    * :attr:`expert_flips`: one fair coin a step (0 up-left, 1 up-right), drawn at reset from the
      env's seeded generator, which :class:`ZigZagExpert` follows; reproducible per seed and
      unrelated to anything on screen.

    20 steps: about 15 to climb (6 at ``step=0.25``), then the expert holds still in the goal
    zone.
    """

    state_dim = 6
    episode_length = 20
    STEP = 0.1
    #: The expert's column offset beyond which it must move back toward the bar's column (so it
    #: arrives under the bar): its only moves that the frames predict. 1.5 moves, so from the
    #: bar's column and one move either side both moves stay open.
    LIMIT = 0.15
    MARGIN = 0.6

    def __init__(
        self,
        size: int = 64,
        render_mode: str | None = "rgb_array",
        episode_length: int | None = None,
        step: float | None = None,
    ) -> None:
        super().__init__(size, render_mode, episode_length)
        if step is not None:  # None keeps the class's numbers exactly (and so its frames)
            if not 0 < step <= 0.5:
                raise ValueError(f"step {step}: expected a move in (0, 0.5] arena units")
            self.STEP = float(step)
            self.LIMIT = 1.5 * self.STEP

    def _reset_state(self, rng: np.random.Generator) -> None:
        self.bar = np.array([rng.uniform(-BAR_X_RANGE, BAR_X_RANGE), BAR_Y])
        self.point = np.array([self.bar[0], START_Y]) + rng.uniform(-JITTER, JITTER, 2)
        self.expert_flips = rng.integers(2, size=self.episode_length)
        self._background = render.background(self.size)
        by, bx = self.to_pixels(self.bar)
        render.box(self._background, by, bx, self.px(BAR_HALF[1]), self.px(BAR_HALF[0]), TARGET_COLOR)

    @property
    def top(self) -> float:
        """The height at which the point (radius 0.09) touches the bar from below."""
        return float(BAR_Y - BAR_HALF[1] - 0.09)

    @property
    def steps(self) -> int:
        """Steps taken this episode."""
        return self._t

    def _advance(self, action: np.ndarray) -> None:
        self.point = np.clip(self.point + self.STEP * action, -0.95, 0.95)

    def goal_distance(self) -> float:
        """The distance from the point to the goal zone (at or above :attr:`top`, within the bar's
        span); every info carries it as ``goal_distance``."""
        dx = max(0.0, abs(self.point[0] - self.bar[0]) - BAR_HALF[0])
        dy = max(0.0, self.top - 0.02 - self.point[1])
        return float(np.hypot(dx, dy))

    def _task_reward(self, action: np.ndarray) -> float:
        return tolerance(self.goal_distance(), 0.0, self.MARGIN)

    def _success(self) -> bool:
        return self.goal_distance() == 0.0

    def _state(self) -> np.ndarray:
        return np.array([*self.point, *self.bar, self.point[0] - self.bar[0], self.top - self.point[1]])

    def _draw(self) -> np.ndarray:
        frame = self._background.copy()
        py, px = self.to_pixels(self.point)
        render.disk(frame, py, px, self.px(0.09), AGENT_COLOR)
        return frame


class ZigZagExpert:
    """Climbs at full speed, each step diagonally up-left or up-right, then holds still under the
    bar; an offset beyond :attr:`ZigZag.LIMIT` from the bar's column forces the move back. Moves
    of more than 0.1 (the ``step`` option) can end the climb beside the bar's span: it then moves
    sideways back under the bar (never at the default step, whose climb stays within the span).

    ``goal``: ``None`` takes the env's coin of the step (the suite's expert: both moves 50/50 at
    every step); ``0`` always up-left and ``1`` always up-right unless forced back (mode A and
    mode B: zigzags along the left or right edge of the expert's lane, every move one the expert
    makes); ``"mean"`` straight up, the average of the two moves, which no expert makes (the blurry
    mean a unimodal model predicts; used by ``benchmarks/multimodality.py``).
    """

    def __init__(self, env: ZigZag, goal: int | str | None = None) -> None:
        if goal not in (None, 0, 1, "mean"):
            raise ValueError(f"ZigZagExpert goal {goal!r}: expected None, 0, 1 or 'mean'")
        self.env = getattr(env, "unwrapped", env)
        self.goal = goal

    def reset(self) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        offset, to_go = float(obs["state"][4]), float(obs["state"][5])
        climb = float(np.clip(to_go / self.env.STEP, 0.0, 1.0))
        if climb < 1e-6:
            if abs(offset) <= BAR_HALF[0]:
                return np.zeros(2, np.float32)
            return np.array([-np.sign(offset) * min(1.0, abs(offset) / self.env.STEP), 0.0], np.float32)
        if self.goal == "mean":
            return np.array([0.0, climb], np.float32)
        if offset > self.env.LIMIT:
            side = 0
        elif offset < -self.env.LIMIT:
            side = 1
        elif self.goal is None:
            side = int(self.env.expert_flips[min(self.env.steps, len(self.env.expert_flips) - 1)])
        else:
            side = int(self.goal)
        return np.array([1.0 if side else -1.0, climb], np.float32)
