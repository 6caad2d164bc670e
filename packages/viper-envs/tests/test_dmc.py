"""The dmc suite: task names, GL backend choice, observations, seeding, action repeat."""

from __future__ import annotations

import numpy as np
import pytest

from viper.core.errors import ConfigError, ContractError, MissingDependencyError
from viper.envs.dmc import DMCSuite, gl


@pytest.fixture(scope="module")
def suite() -> DMCSuite:
    suite = DMCSuite()
    suite.tasks()  # chooses the GL backend before any test imports dm_control itself
    return suite


def test_every_dm_control_task_is_addressable(suite) -> None:
    from dm_control import suite as dm_suite

    tasks = suite.tasks()
    assert len(tasks) == len(dm_suite.ALL_TASKS)
    assert "cartpole-swingup" in tasks and "ball_in_cup-catch" in tasks and "humanoid_CMU-run" in tasks


@pytest.mark.parametrize(
    "name, message",
    [
        ("cartpole", r"expected DOMAIN-TASK.*domains: acrobot, ball_in_cup, cartpole"),
        ("cartpol-swingup", r"unknown domain 'cartpol'.*domains: acrobot, ball_in_cup, cartpole"),
        ("cartpole-swing", r"unknown task 'swing' of domain 'cartpole'; its tasks: balance, balance_sparse, swingup"),
    ],
)
def test_unknown_names_list_valid_ones(suite, name, message) -> None:
    with pytest.raises(ConfigError, match=message):
        suite.make(name)


def test_bad_options(suite) -> None:
    with pytest.raises(ConfigError, match="unknown option 'repeat'; options: size, action_repeat"):
        suite.make("cartpole-balance", repeat=3)
    with pytest.raises(ConfigError, match="--set env.action_repeat=0: expected an integer >= 1"):
        suite.make("cartpole-balance", action_repeat=0)
    with pytest.raises(ConfigError, match="camera 7: cartpole has cameras 0..1"):
        suite.make("cartpole-balance", camera=7)


# -- GL backend ----------------------------------------------------------------------------------


def test_gl_user_choice_is_honoured_without_probing() -> None:
    def prober(backend):
        raise AssertionError("must not probe")

    environ = {"MUJOCO_GL": "osmesa"}
    assert gl.select_backend(environ, prober) == "osmesa"


def test_gl_tries_egl_then_osmesa() -> None:
    tried = []

    def prober(backend):
        tried.append(backend)
        return backend == "osmesa", "no EGL device"

    environ: dict[str, str] = {}
    assert gl.select_backend(environ, prober) == "osmesa"
    assert tried == ["egl", "osmesa"]
    assert environ["MUJOCO_GL"] == "osmesa" and environ["PYOPENGL_PLATFORM"] == "osmesa"


def test_gl_missing_backend_names_packages_to_install() -> None:
    with pytest.raises(MissingDependencyError) as info:
        gl.select_backend({}, lambda backend: (False, f"{backend} is not there"))
    message = str(info.value)
    assert "apt-get install -y libegl1 libgl1-mesa-dri" in message
    assert "apt-get install -y libosmesa6" in message
    assert "egl: egl is not there" in message and "\n" not in message


def test_gl_probe_reports_failure_of_an_unknown_backend() -> None:
    ok, why = gl.probe("no-such-backend")
    assert not ok and why


def test_gl_backend_was_chosen_before_dm_control_import(suite) -> None:
    import os

    suite.tasks()
    assert os.environ.get("MUJOCO_GL") in ("egl", "osmesa", "glfw")


# -- the env ---------------------------------------------------------------------------------------


def test_observations_spaces_and_task_reward(suite) -> None:
    env = suite.make("cartpole-swingup", seed=0, episode_length=5)
    assert env.observation_space["image"].shape == (64, 64, 3)
    assert env.observation_space["image"].dtype == np.uint8
    assert env.observation_space["state"].shape == (5,)  # position (3) + velocity (2)
    assert env.action_space.shape == (1,) and env.action_space.dtype == np.float32
    obs, info = env.reset(seed=3)
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert obs["state"].dtype == np.float32 and env.observation_space.contains(obs)
    assert obs["image"].std() > 5  # a real rendering, not a blank frame
    steps = 0
    while True:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        steps += 1
        assert reward == info["task_reward"] and 0.0 <= reward <= 2.0  # two repeats of rewards in [0, 1]
        if terminated or truncated:
            break
    assert steps == 5 and truncated and not terminated
    with pytest.raises(ContractError, match="call reset"):
        env.step(env.action_space.sample())
    with pytest.raises(ContractError, match="not finite"):
        env.reset()
        env.step(np.array([np.nan], np.float32))
    env.close()


def test_action_repeat_sums_rewards_of_the_underlying_task(suite) -> None:
    from dm_control import suite as dm_suite

    env = suite.make("reacher-easy", render=False, action_repeat=3)
    raw = dm_suite.load("reacher", "easy", task_kwargs={"random": 11})
    obs, _ = env.reset(seed=11)
    time_step = raw.reset()
    from viper.envs.dmc.env import flatten_observation

    assert np.allclose(obs["state"], flatten_observation(time_step.observation))
    rng = np.random.default_rng(0)
    for _ in range(20):
        action = rng.uniform(-1, 1, 2).astype(np.float32)
        _, reward, _, _, info = env.step(action)
        expected = sum(raw.step(action).reward for _ in range(3))
        assert reward == pytest.approx(expected) and info["task_reward"] == pytest.approx(expected)


def test_seeding_reproduces_states_and_frames(suite) -> None:
    a = suite.make("point_mass-easy", seed=1, episode_length=3)
    b = suite.make("point_mass-easy", seed=2, episode_length=3)
    obs_a, _ = a.reset(seed=7)
    obs_b, _ = b.reset(seed=7)
    assert np.array_equal(obs_a["state"], obs_b["state"]) and np.array_equal(obs_a["image"], obs_b["image"])
    action = np.array([0.5, -0.5], np.float32)
    assert np.array_equal(a.step(action)[0]["image"], b.step(action)[0]["image"])
    assert not np.array_equal(a.reset(seed=8)[0]["state"], obs_a["state"])


def test_default_episode_is_500_agent_steps_and_render_false_drops_pixels(suite) -> None:
    env = suite.make("pendulum-swingup", render=False)
    assert "image" not in env.observation_space.spaces
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"state"}
    steps, done = 0, False
    while not done:
        _, _, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
        steps += 1
        done = terminated or truncated
    assert steps == 500 and truncated and not terminated
    assert env.render().shape == (64, 64, 3)  # render() still draws on demand


def test_quadruped_uses_camera_2_and_size_option(suite) -> None:
    assert suite.make("quadruped-walk", render=False).camera == 2
    env = suite.make("cartpole-balance", size=32)
    assert env.camera == 0 and env.reset(seed=0)[0]["image"].shape == (32, 32, 3)


def test_tasks_without_time_limit_get_one(suite) -> None:
    env = suite.make("lqr-lqr_2_1", render=False)
    assert env.episode_length == 500


def test_dm_control_imported_first_without_display_fails_clearly(tmp_path) -> None:
    import os
    import subprocess
    import sys

    script = (
        "from dm_control import suite\n"
        "from viper.envs.dmc import DMCSuite\n"
        "from viper.core.errors import MissingDependencyError\n"
        "try:\n"
        "    DMCSuite().make('cartpole-balance')\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY", "PYOPENGL_PLATFORM")}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert "picked glfw, which needs a display; set MUJOCO_GL=egl" in result.stdout, result.stderr[-2000:]
