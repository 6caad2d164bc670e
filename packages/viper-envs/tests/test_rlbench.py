"""The rlbench wrapper against a fake task environment (RLBench and CoppeliaSim are absent)."""

from __future__ import annotations

import types

import numpy as np
import pytest

from viper.core import PluginHost
from viper.core.errors import ConfigError, ContractError, MissingDependencyError
from viper.envs.rlbench.backend import TASK_CLASSES
from viper.envs.rlbench.env import RLBenchEnv
from viper.envs.rlbench.suite import RLBenchSuite


class FakeIKError(Exception):
    pass


class FakeTask:
    """Stands in for RLBench's TaskEnvironment: a gripper moving in a box; success when the
    gripper reaches x > 0.5. Records every action it was given."""

    invalid_action_errors = (FakeIKError,)

    def __init__(self, task, *, action_mode, size, image_size=None, float_images=False):
        self.task, self.action_mode, self.size = task, action_mode, size
        self.image_size = image_size or size
        self.float_images = float_images
        self.actions: list[np.ndarray] = []
        self.resets = 0
        self.seeds: list[int] = []
        self.closed = False
        self.x = 0.0
        self.fail_next = False

    def _obs(self):
        n = self.image_size
        front = np.full((n, n, 3), 10, np.uint8)
        front[0, 0] = int(min(255, 100 * (self.x + 1)))
        wrist = np.full((n, n, 3), 200, np.uint8)
        if self.float_images:
            front, wrist = front / 255.0, wrist / 255.0
        return types.SimpleNamespace(
            front_rgb=front,
            wrist_rgb=wrist,
            joint_positions=np.arange(7) * 0.1 + self.x,
            joint_velocities=-np.arange(7) * 0.1,
            gripper_open=1.0,
            gripper_pose=np.array([self.x, 0.0, 0.8, 0.0, 0.0, 0.0, 1.0]),
        )

    def reset(self):
        self.resets += 1
        self.x = 0.0
        return ["reach to the right"], self._obs()

    def step(self, action):
        if self.fail_next:
            self.fail_next = False
            raise FakeIKError("no IK solution")
        self.actions.append(np.asarray(action))
        self.x += float(action[0])
        success = self.x > 0.5
        return self._obs(), float(success), success

    def seed(self, seed):
        self.seeds.append(seed)

    def close(self):
        self.closed = True


def make(task="pick_and_lift", **options):
    made = {}

    def factory(task, **kwargs):
        made["backend"] = FakeTask(task, **kwargs, **made.pop("extra", {}))
        return made["backend"]

    made["extra"] = options.pop("fake", {})
    env = RLBenchSuite().make(task, backend=factory, **options)
    return env, made["backend"]


def test_the_papers_six_tasks() -> None:
    assert RLBenchSuite().tasks() == [
        "phone_on_base",
        "pick_and_lift",
        "pick_up_cup",
        "put_rubbish_in_bin",
        "take_lid_off_saucepan",
        "take_umbrella_out_of_umbrella_stand",
    ]
    assert set(TASK_CLASSES.values()) >= {"PhoneOnBase", "TakeUmbrellaOutOfUmbrellaStand"}


def test_unknown_task_and_options_list_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown task 'open_door'; tasks: phone_on_base, pick_and_lift"):
        make("open_door")
    with pytest.raises(
        ConfigError, match="--set env.action_mode='torque': expected one of 'joint_velocity', 'end_effector'"
    ):
        make(action_mode="torque")
    with pytest.raises(ConfigError, match="unknown option 'repeat'"):
        make(repeat=2)


def test_observation_assembly() -> None:
    env, fake = make(camera="wrist")
    obs, info = env.reset(seed=3)
    assert fake.seeds == [3] and fake.resets == 1
    assert set(obs) == {"image", "image_front", "image_wrist", "state"}
    assert env.observation_space.contains(obs)
    assert np.array_equal(obs["image"], obs["image_wrist"])  # camera="wrist" is what the video model sees
    assert obs["image_front"][1, 1, 0] == 10 and obs["image_wrist"][1, 1, 0] == 200
    expected = np.concatenate([np.arange(7) * 0.1, -np.arange(7) * 0.1, [1.0], [0, 0, 0.8, 0, 0, 0, 1]])
    assert np.allclose(obs["state"], expected) and obs["state"].dtype == np.float32
    assert info == {"task_reward": 0.0, "success": False, "invalid_action": False}


def test_images_of_another_size_or_float_are_converted() -> None:
    env, _ = make(fake={"image_size": 128, "float_images": True})
    obs, _ = env.reset()
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert obs["image_wrist"][5, 5, 0] == 200


def test_joint_velocity_action_scaling() -> None:
    env, fake = make(max_joint_velocity=2.0)
    assert env.action_space.shape == (8,)
    env.reset()
    env.step(np.array([0.1, -0.5, 1, 0, 0, 0, 2.0, 0.3], np.float32))  # 2.0 is clipped to 1
    sent = fake.actions[-1]
    assert np.allclose(sent, [0.2, -1.0, 2.0, 0, 0, 0, 2.0, 1.0])  # gripper > 0 opens
    env.step(np.array([0, 0, 0, 0, 0, 0, 0, -0.2], np.float32))
    assert fake.actions[-1][-1] == 0.0  # gripper <= 0 closes


def test_end_effector_action_scaling() -> None:
    env, fake = make(action_mode="end_effector")
    assert env.action_space.shape == (4,)
    env.reset()
    env.step(np.array([1.0, -0.5, 0.0, -1.0], np.float32))
    assert np.allclose(fake.actions[-1], [0.03, -0.015, 0.0, 0, 0, 0, 1, 0.0])  # delta, no rotation, closed


def test_bad_actions_are_refused() -> None:
    env, _ = make()
    env.reset()
    with pytest.raises(ContractError, match="not finite"):
        env.step(np.full(8, np.nan, np.float32))
    with pytest.raises(ValueError):
        env.step(np.zeros(3, np.float32))


def test_invalid_actions_keep_the_scene() -> None:
    env, fake = make()
    obs, _ = env.reset()
    fake.fail_next = True
    after, reward, terminated, truncated, info = env.step(np.ones(8, np.float32))
    assert info["invalid_action"] and not info["success"]
    assert np.array_equal(after["state"], obs["state"]) and reward == 0.0
    assert not (terminated or truncated)


def test_success_reward_is_sticky_and_can_terminate() -> None:
    env, _ = make(max_joint_velocity=1.0)
    env.reset()
    rewards = [env.step(np.full(8, 0.2, np.float32))[1] for _ in range(5)]
    assert rewards == [0.0, 0.0, 1.0, 1.0, 1.0]  # success from x = 0.6 on, then kept
    env, _ = make(terminate_on_success=True)
    env.reset()
    results = [env.step(np.full(8, 0.3, np.float32)) for _ in range(2)]
    assert not results[0][2] and results[1][2] and results[1][4]["success"]


def test_episode_limit_and_resets() -> None:
    env, fake = make(episode_length=250)
    for _ in range(2):
        env.reset()
        steps = 0
        while True:
            _, _, terminated, truncated, _ = env.step(np.zeros(8, np.float32))
            steps += 1
            if terminated or truncated:
                break
        assert steps == 250 and truncated and not terminated
        with pytest.raises(ContractError, match="call reset"):
            env.step(np.zeros(8, np.float32))
    assert fake.resets == 2
    env.close()
    assert fake.closed


def test_without_rlbench_making_an_env_fails_with_install_instructions() -> None:
    with pytest.raises(MissingDependencyError, match="CoppeliaSim 4.1 \\+ PyRep \\+ RLBench"):
        RLBenchSuite().make("pick_and_lift")
    with pytest.raises(MissingDependencyError, match="COPPELIASIM_ROOT"):
        RLBenchEnv("pick_up_cup")


def test_plugin_listing_shows_missing_dependency_with_instructions() -> None:
    from viper.envs import plugin

    host = PluginHost(entry_points=False)
    host.register(plugin, name="envs", distribution="viper-envs", version="0.1.0")
    record = host.get("env_suite", "atari")  # installed here
    assert record.status == "ok"
    rlbench = next(c for c in host.components("env_suite") if c.name == "rlbench")
    assert rlbench.status == "missing dependency" and "git+https://github.com/stepjam/RLBench.git" in (
        rlbench.install_hint()
    )
    with pytest.raises(MissingDependencyError, match="needs rlbench, pyrep: RLBench needs CoppeliaSim"):
        host.load("env_suite", "rlbench")
