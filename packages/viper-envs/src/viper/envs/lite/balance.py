"""``lite:balance``: keep a pole upright on a cart."""

from __future__ import annotations

import functools

import numpy as np

from viper.envs.lite import render
from viper.envs.lite.base import LiteEnv

CART_COLOR = (90, 150, 255)
POLE_COLOR = (245, 130, 40)
RAIL_COLOR = (110, 114, 130)

GRAVITY, CART_MASS, POLE_MASS, HALF_LENGTH, FORCE = 9.8, 1.0, 0.1, 0.5, 10.0
DT, SUBSTEPS = 0.02, 2


def cartpole_step(q: np.ndarray, force: float) -> np.ndarray:
    """One control step (``SUBSTEPS`` semi-implicit Euler steps) of the classic cart-pole
    (Barto et al. 1983 parameters). ``q = [x, theta, x_dot, theta_dot]``, theta = 0 upright."""
    x, theta, x_dot, theta_dot = q
    total = CART_MASS + POLE_MASS
    for _ in range(SUBSTEPS):
        sin, cos = np.sin(theta), np.cos(theta)
        temp = (force + POLE_MASS * HALF_LENGTH * theta_dot**2 * sin) / total
        theta_acc = (GRAVITY * sin - cos * temp) / (HALF_LENGTH * (4.0 / 3.0 - POLE_MASS * cos**2 / total))
        x_acc = temp - POLE_MASS * HALF_LENGTH * theta_acc * cos / total
        x_dot += DT * x_acc
        theta_dot += DT * theta_acc
        x += DT * x_dot
        theta += DT * theta_dot
    return np.array([x, theta, x_dot, theta_dot])


class Balance(LiteEnv):
    """A cart on a rail (blue) carries a hinged pole (orange) that starts tilted.

    * action: ``float32[1]``, the horizontal force on the cart (``FORCE`` newtons at 1);
    * state: ``[x, cos(theta), sin(theta), x_dot, theta_dot]``;
    * reward per step: ``(1 + cos(theta)) / 2`` while the pole is within ``FALL`` radians of
      upright and the cart on the rail; the episode terminates when either fails; 200 steps.
    """

    state_dim = 5
    action_dim = 1
    episode_length = 200
    FALL = 0.8
    RAIL = 2.0
    SCALE = 0.42  # arena units per metre

    def _reset_state(self, rng: np.random.Generator) -> None:
        theta = rng.uniform(0.15, 0.35) * rng.choice([-1.0, 1.0])
        self.q = np.array([rng.uniform(-0.5, 0.5), theta, rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2)])
        self._background = render.background(self.size)
        y, x_left = self.to_pixels(np.array([-self.RAIL * self.SCALE, -0.35]))
        _, x_right = self.to_pixels(np.array([self.RAIL * self.SCALE, -0.35]))
        render.segment(self._background, y, x_left, y, x_right, max(1.0, self.size / 64), RAIL_COLOR)

    def _advance(self, action: np.ndarray) -> None:
        self.q = cartpole_step(self.q, float(action[0]) * FORCE)

    def goal_distance(self) -> float:
        """The pole's angle from upright, in radians."""
        return float(abs(self.q[1]))

    def fallen(self) -> bool:
        return abs(self.q[1]) > self.FALL or abs(self.q[0]) > self.RAIL

    def _task_reward(self, action: np.ndarray) -> float:
        return 0.0 if self.fallen() else float((1.0 + np.cos(self.q[1])) / 2.0)

    def step(self, action):  # type: ignore[override]
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, self.fallen(), truncated and not self.fallen(), info

    def _success(self) -> bool:
        return abs(self.q[1]) < 0.1

    def _state(self) -> np.ndarray:
        x, theta, x_dot, theta_dot = self.q
        return np.array([x, np.cos(theta), np.sin(theta), x_dot, theta_dot])

    def _draw(self) -> np.ndarray:
        frame = self._background.copy()
        x, theta = self.q[0], self.q[1]
        cart = np.array([x * self.SCALE, -0.35])
        tip = cart + 2 * HALF_LENGTH * self.SCALE * 1.6 * np.array([np.sin(theta), np.cos(theta)])
        cy, cx = self.to_pixels(cart)
        ty, tx = self.to_pixels(tip)
        render.segment(frame, cy, cx, ty, tx, max(2.0, self.size / 20), POLE_COLOR)
        render.box(frame, cy, cx, self.px(0.06), self.px(0.14), CART_COLOR)
        return frame


@functools.lru_cache(maxsize=1)
def lqr_gain() -> np.ndarray:
    """Discrete-time LQR gain of the cart-pole linearised at upright (finite differences +
    Riccati iteration), so ``force = -K @ q``."""
    eps = 1e-5
    zero = np.zeros(4)
    A = np.stack(
        [(cartpole_step(zero + eps * e, 0.0) - cartpole_step(zero - eps * e, 0.0)) / (2 * eps) for e in np.eye(4)], 1
    )
    B = ((cartpole_step(zero, eps) - cartpole_step(zero, -eps)) / (2 * eps))[:, None]
    Q = np.diag([1.0, 20.0, 0.5, 1.0])
    R = np.array([[0.02]])
    P = Q.copy()
    for _ in range(2000):
        K = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
        P = Q + A.T @ P @ (A - B @ K)
    return K[0]


class BalanceExpert:
    """LQR around the upright position, reading the cart-pole state from the observation."""

    def __init__(self, env: Balance) -> None:
        self.gain = lqr_gain()

    def reset(self) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        x, cos, sin, x_dot, theta_dot = obs["state"]
        q = np.array([x, np.arctan2(sin, cos), x_dot, theta_dot])
        force = -float(self.gain @ q)
        return np.array([np.clip(force / FORCE, -1.0, 1.0)], np.float32)
