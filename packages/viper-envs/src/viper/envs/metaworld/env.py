"""A Meta-World v3 task as a gymnasium env with pixel and state observations."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from viper.core.errors import MissingDependencyError
from viper.core.suites import continuous_action
from viper.envs.dmc import gl

INSTALL_HINT = "pip install 'viper-envs[metaworld]'"

#: The fixed cameras of Meta-World's scene (``xyz_base.xml``). Each looks at the table upside
#: down in MuJoCo's image convention, so frames are flipped vertically.
CAMERAS = ("corner", "corner2", "corner3")

#: Length of the weld constraint data metaworld 3.0 writes; newer MuJoCo (3.17) keeps one more
#: slot per equality constraint, which metaworld 3.0 does not expect.
WELD_DATA = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 5.0])


def ensure_gl(required: bool) -> None:
    """Choose MuJoCo's GL backend as the dmc suite does (:mod:`viper.envs.dmc.gl`); it must happen
    before metaworld imports mujoco, which reads ``MUJOCO_GL`` once, at import."""
    try:
        gl.ensure_backend(required=required)
    except MissingDependencyError as exc:
        raise MissingDependencyError(str(exc).replace("dmc:", "metaworld:", 1)) from exc


def import_metaworld() -> Any:
    """The ``metaworld`` package (its envs, policies), or a MissingDependencyError saying how to
    install it."""
    ensure_gl(required=False)
    try:
        import metaworld
        import metaworld.policies  # noqa: F401 -- the scripted experts
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in ("metaworld", "mujoco"):
            raise MissingDependencyError(f"metaworld: needs metaworld and mujoco ({exc}); {INSTALL_HINT}") from exc
        raise
    return metaworld


def env_names() -> tuple[str, ...]:
    """Every Meta-World v3 env name (``reach-v3``, ...)."""
    return tuple(import_metaworld().env_dict.ALL_V3_ENVIRONMENTS)


def _reset_mocap_welds(self: Any) -> None:
    # metaworld 3.0's own version assigns 11 numbers to each weld's data, which fails on MuJoCo
    # versions with a longer eq_data row; the extra slots stay zero.
    import mujoco

    model = self.model
    for i in range(model.neq):
        if model.eq_type[i] == mujoco.mjtEq.mjEQ_WELD:
            model.eq_data[i, :] = 0.0
            model.eq_data[i, : len(WELD_DATA)] = WELD_DATA


def build_sawyer_env(env_name: str) -> Any:
    """The Meta-World env ``env_name`` (e.g. ``reach-v3``) with the goal in its observation and a
    goal drawn from the env's own seeded generator at every reset (``env.seed(s)`` fixes it)."""
    metaworld = import_metaworld()
    base = metaworld.env_dict.ALL_V3_ENVIRONMENTS[env_name]
    cls = type(base.__name__, (base,), {"reset_mocap_welds": _reset_mocap_welds})
    env = cls()
    # Goal-observable and freshly sampled goals, as metaworld's own MT1 envs but without its
    # pickled Task objects: the goal comes from env.np_random, so a reset seed fixes it.
    env._partially_observable = False
    env.__dict__.pop("sawyer_observation_space", None)  # cached with the goal hidden
    env._set_task_called = True
    env._freeze_rand_vec = False
    env.seeded_rand_vec = True
    return env


class MetaWorldEnv(gym.Env):
    """Meta-World v3 task ``task`` (``reach``, ``pick-place``, ...) with gymnasium's API.

    * observation: ``{"image": uint8[size,size,3], "state": float32[39]}``; ``state`` is
      Meta-World's goal-observable vector (hand, gripper, two objects, the previous step's
      copy of them, the goal); with ``render=False`` there is no ``image``;
    * action: ``float32[4]`` in ``[-1, 1]`` (hand displacement xyz, gripper), clipped;
    * each ``step`` repeats the action ``action_repeat`` times; reward and
      ``info["task_reward"]`` are Meta-World's (v2 shaping, 0..10 per physics step) summed over
      the repeats; ``info["success"]`` is True when the task's success test held at any of them;
      ``info["goal_distance"]`` is Meta-World's ``obj_to_target`` (the hand's distance to the goal
      for reach, the object's for the others) after the step, also in the reset's info;
    * an episode lasts ``episode_length`` env steps (``truncated``), or ends at the first success
      with ``terminate_on_success`` (``terminated``);
    * ``reset(seed=s)`` reseeds the env's generator, so the same seed gives the same goal and
      object positions and different seeds different ones; a reset without a seed draws new
      ones from the generator.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 40}

    def __init__(
        self,
        task: str,
        *,
        size: int = 64,
        camera: str = "corner2",
        action_repeat: int = 2,
        episode_length: int = 150,
        render: bool = True,
        terminate_on_success: bool = False,
        seed: int | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"size {size}: expected a positive number of pixels")
        if camera not in CAMERAS:
            raise ValueError(f"camera {camera!r}: expected one of {', '.join(CAMERAS)}")
        if render:
            ensure_gl(required=True)
        self.task, self.env_name = task, f"{task}-v3"
        self.size, self.camera = int(size), camera
        self.action_repeat, self.episode_length = int(action_repeat), int(episode_length)
        self.pixels, self.terminate_on_success = bool(render), bool(terminate_on_success)
        self.render_mode = "rgb_array"
        self._env = build_sawyer_env(self.env_name)
        # metaworld refuses steps past its own limit; ours ends episodes first.
        self._env.max_path_length = self.episode_length * self.action_repeat + 1
        self.metadata = dict(self.metadata, render_fps=round(1.0 / (self._env.dt * self.action_repeat)))
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        state_dim = int(self._env.sawyer_observation_space.shape[0])
        spaces: dict[str, gym.Space] = {"state": gym.spaces.Box(-np.inf, np.inf, (state_dim,), np.float32)}
        if self.pixels:
            spaces = {"image": gym.spaces.Box(0, 255, (self.size, self.size, 3), np.uint8), **spaces}
        self.observation_space = gym.spaces.Dict(spaces)
        self._renderer: Any = None
        self._frame: np.ndarray | None = None
        self._t = 0
        self._done = True
        if seed is not None:
            self._env.seed(seed)
            self.action_space.seed(seed)

    # -- privileged access for scripted experts ------------------------------------------------

    @property
    def sawyer(self) -> Any:
        """The wrapped Meta-World env (privileged state, for scripted experts)."""
        return self._env

    # -- gymnasium API ---------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self._env.seed(seed)
            self.action_space.seed(seed)
        raw, _ = self._env.reset()
        _, info = self._env.evaluate_state(raw, np.zeros(4, np.float32))
        self._t = 0
        self._done = False
        return self._observe(raw), {"task_reward": 0.0, **self._info(info, bool(info.get("success", 0.0)))}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        action = continuous_action(f"metaworld:{self.task}", action, self.action_space, done=self._done)
        total, success = 0.0, False
        for _ in range(self.action_repeat):
            raw, reward, _, _, info = self._env.step(action)
            total += float(reward)
            success = success or bool(info.get("success", 0.0))
        self._t += 1
        terminated = self.terminate_on_success and success
        truncated = not terminated and self._t >= self.episode_length
        self._done = terminated or truncated
        return self._observe(raw), total, terminated, truncated, {"task_reward": total, **self._info(info, success)}

    def render(self) -> np.ndarray:
        """The current ``size x size`` frame (rendered now if observations carry no pixels)."""
        return self._frame if self._frame is not None else self._render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        env = getattr(self, "_env", None)
        if env is not None:
            env.close()

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _info(info: dict[str, Any], success: bool) -> dict[str, Any]:
        return {"success": success, "goal_distance": float(info.get("obj_to_target", np.nan))}

    def _render(self) -> np.ndarray:
        if self._renderer is None:
            ensure_gl(required=True)
            import mujoco

            model = self._env.model
            # An offscreen buffer of the frame's size and no shadow map: software GL (Mesa on a
            # CPU) spends most of its time filling the default 640x480 buffer and 4096^2 shadows.
            model.vis.global_.offwidth, model.vis.global_.offheight = self.size, self.size
            try:
                self._renderer = mujoco.Renderer(model, self.size, self.size)
            except Exception as exc:  # the GL backend fails only here, when a context is created
                failure = gl.render_failure(exc)
                raise MissingDependencyError(str(failure).replace("dmc:", "metaworld:", 1)) from exc
            self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        self._renderer.update_scene(self._env.data, camera=self.camera)
        return np.ascontiguousarray(self._renderer.render()[::-1], dtype=np.uint8)

    def _observe(self, raw: np.ndarray) -> dict[str, np.ndarray]:
        obs = {"state": np.asarray(raw, np.float32)}
        if self.pixels:
            self._frame = self._render()
            obs = {"image": self._frame, **obs}
        return obs
