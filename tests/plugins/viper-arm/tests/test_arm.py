"""The ``arm`` suite: viper's env contract, what it draws, and an expert far above random."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from viper_arm.arm import SUCCESS, TARGET, ArmReach, forward
from viper_arm.suite import ArmSuite

from viper.core.errors import ConfigError
from viper.core.testing import check_env_suite


def rollout(env: ArmReach, act, seed: int) -> tuple[float, list[dict]]:
    obs, info = env.reset(seed=seed)
    total, infos = 0.0, [info]
    while True:
        obs, reward, terminated, truncated, info = env.step(act(obs))
        total += reward
        infos.append(info)
        if terminated or truncated:
            return total, infos


def test_the_suite_keeps_viper_s_env_contract():
    assert "expert" in check_env_suite(ArmSuite(), "reach", steps=32)
    with pytest.raises(ConfigError, match="episode_length"):
        ArmSuite().make("reach", episode_length=0)


@pytest.mark.parametrize("size", [32, 64])
def test_frames_show_the_target_and_follow_the_arm(size):
    env = ArmSuite().make("reach", seed=1, size=size)
    obs, _ = env.reset(seed=1)
    assert obs["image"].shape == (size, size, 3) and obs["image"].dtype == np.uint8
    assert obs["state"].shape == (8,) and obs["state"].dtype == np.float32
    row, col = [int((1 - v) / 2 * size) for v in (env.target[1], -env.target[0])]
    np.testing.assert_allclose(obs["image"][row, col], TARGET, atol=30)  # the diamond's centre
    moved, *_ = env.step(np.ones(2, np.float32))
    assert np.abs(moved["image"].astype(int) - obs["image"]).sum() > 0
    assert env.episode_length == 100 and env.observation_space["image"].shape == (size, size, 3)


def test_info_reports_the_fingertip_s_distance_to_the_target():
    env = ArmSuite().make("reach", seed=2)
    _, infos = rollout(env, lambda obs: env.action_space.sample(), seed=2)
    last = infos[-1]
    assert last["goal_distance"] == pytest.approx(np.linalg.norm(forward(env.q)[1] - env.target))
    assert all(i["success"] == (i["goal_distance"] < SUCCESS) for i in infos)
    assert len(infos) == 101 and all("task_reward" in i for i in infos)


def test_the_scripted_expert_reaches_and_beats_random_by_a_wide_margin():
    suite, expert, random = ArmSuite(), [], []
    for seed in range(6):
        env = suite.make("reach", seed=seed)
        policy = suite.expert("reach", env)
        ret, infos = rollout(env, policy.act, seed)
        expert.append(ret)
        assert any(i["success"] for i in infos[:25]), f"seed {seed}: the expert did not reach within 25 steps"
        env.action_space.seed(seed)
        random.append(rollout(env, lambda obs, space=env.action_space: space.sample(), seed)[0])
    assert min(expert) > 75 and max(random) < 20
    assert np.mean(expert) - np.mean(random) > 70


def test_installed_it_passes_check_plugin():
    from viper.core import PluginHost

    if PluginHost().providers.get(("env_suite", "arm")) != "viper-arm":
        pytest.skip("viper-arm is not installed (pip install -e tests/plugins/viper-arm)")
    env = {**os.environ, "VIPER_PROGRESS": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "viper.core.cli", "check-plugin", "viper-arm"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "12 rules passed, 0 failed" in result.stdout
