"""Scripted DMC experts that read the simulator's privileged state.

Each expert is built for one :class:`~viper.envs.dmc.env.DMCEnv` and reads positions and
velocities straight from its MuJoCo ``physics`` (the observation is ignored). They are classic
controllers, not learned policies:

* cartpole: energy-shaping swing-up (Astrom & Furuta 2000) that hands over to an LQR balancer
  near upright; the LQR gain comes from linearising the MuJoCo model itself around upright;
* pendulum: energy pumping with damping compensation, then LQR (the torque limit is a fifth of
  the gravity torque, so the pole has to arrive with the right energy);
* point_mass: saturated PD toward the target, mapping the desired force through the (possibly
  randomised, in ``hard``) actuator directions;
* reacher: analytic two-link inverse kinematics, then joint-space PD;
* lqr: the optimal LQR controller of the task's own linear system and quadratic cost.

Mean returns over 10 episodes (``benchmarks/experts.py``) are in the package README.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Gains below were tuned on returns of whole episodes at action repeat 2; each sits inside a
# plateau of good settings rather than on a knife edge (see the README).


def wrap_angle(angle: float) -> float:
    """An angle in ``[-pi, pi)``."""
    return float((angle + np.pi) % (2 * np.pi) - np.pi)


def linearize(physics: Any, qpos: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray, steps: int, eps: float = 1e-5):
    """``(A, B)`` of ``x' = A x + B u`` around ``(qpos, qvel, ctrl)`` for ``steps`` physics steps
    with the control held, by central finite differences on a scratch copy of the simulator
    (``mjd_transitionFD`` does not support the RK4 integrator some domains use). Only for models
    whose ``qpos`` has no quaternions (``nq == nv``)."""
    import mujoco

    model = physics.model.ptr
    data = mujoco.MjData(model)
    nq, nv, nu = model.nq, model.nv, model.nu
    if nq != nv:
        raise ValueError("linearize: models with free or ball joints are not supported")

    def step(x: np.ndarray, u: np.ndarray) -> np.ndarray:
        data.qpos[:], data.qvel[:], data.ctrl[:] = x[:nq], x[nq:], u
        if model.na:
            data.act[:] = 0
        for _ in range(steps):
            mujoco.mj_step(model, data)
        return np.concatenate([data.qpos, data.qvel])

    x0 = np.concatenate([qpos, qvel]).astype(np.float64)
    u0 = np.asarray(ctrl, np.float64)
    A = np.stack([(step(x0 + eps * e, u0) - step(x0 - eps * e, u0)) / (2 * eps) for e in np.eye(nq + nv)], 1)
    B = np.stack([(step(x0, u0 + eps * e) - step(x0, u0 - eps * e)) / (2 * eps) for e in np.eye(nu)], 1)
    return A, B


def dlqr(A: np.ndarray, B: np.ndarray, Q: np.ndarray, R: np.ndarray, iterations: int = 10000) -> np.ndarray:
    """Gain ``K`` of the discrete-time LQR (``u = -K x``) by Riccati iteration."""
    P = Q.copy()
    for _ in range(iterations):
        K = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
        P_next = Q + A.T @ P @ (A - B @ K)
        if np.max(np.abs(P_next - P)) < 1e-10 * max(1.0, np.max(np.abs(P))):
            P = P_next
            break
        P = P_next
    return np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)


def physics_steps_per_action(env: Any) -> int:
    """How many MuJoCo steps one agent action lasts (action repeat x dm_control substeps)."""
    return int(env.action_repeat * env.dm_env._n_sub_steps)


class ScriptedExpert:
    """Base of the scripted experts: ``reset()`` then ``act(obs)`` each step."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.physics = env.physics
        self.steps = physics_steps_per_action(env)

    def reset(self) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _out(self, action: Any) -> np.ndarray:
        space = self.env.action_space
        return np.clip(np.asarray(action, np.float32).reshape(space.shape), space.low, space.high)


class CartpoleExpert(ScriptedExpert):
    """Energy-shaping swing-up, LQR balance within ``SWITCH`` radians of upright, cart centring."""

    SWITCH = 0.6  # radians from upright where LQR takes over
    PUMP = 3.0  # energy-shaping gain (control per joule)
    CENTER = (0.5, 0.3)  # cart position / velocity feedback while swinging

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        model = self.physics.named.model
        pole = "pole_1"
        self.mass = float(model.body_mass[pole])
        self.com = float(model.body_ipos[pole, "z"])
        self.inertia = float(model.body_inertia[pole, "x"]) + self.mass * self.com**2  # about the hinge
        self.gravity = float(-self.physics.model.opt.gravity[2])
        A, B = linearize(self.physics, np.zeros(2), np.zeros(2), np.zeros(1), self.steps)
        self.gain = dlqr(A, B, np.diag([1.0, 10.0, 0.1, 0.1]), np.array([[0.5]]))[0]

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        x, theta = self.physics.data.qpos[:2]
        x_dot, theta_dot = self.physics.data.qvel[:2]
        theta = wrap_angle(theta)
        if np.cos(theta) > np.cos(self.SWITCH):
            u = -float(self.gain @ np.array([x, theta, x_dot, theta_dot]))
        else:
            energy = 0.5 * self.inertia * theta_dot**2 + self.mass * self.gravity * self.com * (np.cos(theta) - 1)
            direction = np.sign(theta_dot * np.cos(theta)) or 1.0
            u = self.PUMP * energy * direction - self.CENTER[0] * x - self.CENTER[1] * x_dot
        return self._out([u])


class PendulumExpert(ScriptedExpert):
    """Energy pumping (plus damping compensation) until near upright, then LQR."""

    SWITCH = 0.3
    PUMP = 10.0

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        model = self.physics.named.model
        self.mass = float(model.body_mass["pole"])
        self.com = float(model.body_ipos["pole", "z"])
        self.inertia = float(model.body_inertia["pole", "y"]) + self.mass * self.com**2
        self.damping = float(model.dof_damping["hinge"][0])
        self.gravity = float(-self.physics.model.opt.gravity[2])
        A, B = linearize(self.physics, np.zeros(1), np.zeros(1), np.zeros(1), self.steps)
        self.gain = dlqr(A, B, np.diag([100.0, 1.0]), np.array([[0.1]]))[0]

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        theta = wrap_angle(self.physics.data.qpos[0])
        theta_dot = float(self.physics.data.qvel[0])
        if np.cos(theta) > np.cos(self.SWITCH):
            u = -float(self.gain @ np.array([theta, theta_dot]))
        else:
            energy = 0.5 * self.inertia * theta_dot**2 + self.mass * self.gravity * self.com * (np.cos(theta) - 1)
            u = -self.PUMP * energy * (np.sign(theta_dot) or 1.0) + self.damping * theta_dot
        return self._out([u])


class PointMassExpert(ScriptedExpert):
    """Saturated PD toward the target through the actuators' (possibly random) directions."""

    KP, KD = 30.0, 1.0

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        data, model = self.physics.named.data, self.physics.model
        to_target = data.geom_xpos["target", :2] - data.geom_xpos["pointmass", :2]
        force = self.KP * to_target - self.KD * self.physics.data.qvel[:2]
        # Actuator i pushes along the tendon direction wrap_prm[2i:2i+2] (randomised in `hard`).
        directions = np.asarray(model.wrap_prm[:4], np.float64).reshape(2, 2).T
        u = np.linalg.solve(directions, force)
        scale = np.abs(u).max()
        return self._out(u / scale if scale > 1 else u)


class ReacherExpert(ScriptedExpert):
    """Two-link inverse kinematics to the target (the elbow branch nearer the current pose),
    then joint-space PD."""

    KP, KD = 10.0, 0.3

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        model = self.physics.named.model
        self.upper = float(model.body_pos["hand", "x"])
        self.lower = float(model.body_pos["finger", "x"])
        self.wrist_limit = float(model.jnt_range["wrist", 1])

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        tx, ty = self.physics.named.data.geom_xpos["target", :2]
        q = self.physics.data.qpos[:2]
        q_dot = self.physics.data.qvel[:2]
        l1, l2 = self.upper, self.lower
        cos_elbow = np.clip((tx * tx + ty * ty - l1 * l1 - l2 * l2) / (2 * l1 * l2), -1.0, 1.0)
        best = None
        for sign in (1.0, -1.0):
            elbow = sign * np.arccos(cos_elbow)
            if abs(elbow) > self.wrist_limit:
                continue
            shoulder = np.arctan2(ty, tx) - np.arctan2(l2 * np.sin(elbow), l1 + l2 * np.cos(elbow))
            error = np.array([wrap_angle(shoulder - q[0]), elbow - q[1]])
            if best is None or np.abs(error).sum() < np.abs(best).sum():
                best = error
        if best is None:
            best = np.zeros(2)
        return self._out(self.KP * best - self.KD * q_dot)


class LQRExpert(ScriptedExpert):
    """The optimal controller of the ``lqr`` domain: its dynamics are linear and its reward is
    ``1 - (|q|^2 + c |u|^2) / 2`` per step, so LQR with the same weights is optimal."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        model = self.physics.model
        nq, nu = model.nq, model.nu
        A, B = linearize(self.physics, np.zeros(nq), np.zeros(nq), np.zeros(nu), self.steps)
        coef = float(env.dm_env.task.control_cost_coef)
        Q = np.diag(np.concatenate([np.ones(nq), np.zeros(nq)])) * self.steps
        self.gain = dlqr(A, B, Q, coef * self.steps * np.eye(nu))

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        x = np.concatenate([self.physics.data.qpos, self.physics.data.qvel])
        return self._out(-self.gain @ x)


#: ``DOMAIN-TASK`` -> expert class.
EXPERTS: dict[str, type[ScriptedExpert]] = {
    "cartpole-balance": CartpoleExpert,
    "cartpole-balance_sparse": CartpoleExpert,
    "cartpole-swingup": CartpoleExpert,
    "cartpole-swingup_sparse": CartpoleExpert,
    "pendulum-swingup": PendulumExpert,
    "point_mass-easy": PointMassExpert,
    "point_mass-hard": PointMassExpert,
    "reacher-easy": ReacherExpert,
    "reacher-hard": ReacherExpert,
    "lqr-lqr_2_1": LQRExpert,
    "lqr-lqr_6_2": LQRExpert,
}
