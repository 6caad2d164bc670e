"""``lite:zigzag``: the env API, the expert's 50/50 move at every step, mode policies that zigzag
along one edge of the expert's lane, and the straight-up mean path that no expert takes."""

from __future__ import annotations

import numpy as np
import pytest

from viper.envs.lite import LiteSuite
from viper.envs.lite.zigzag import ZigZag, ZigZagExpert


def play(env, policy, seed: int) -> tuple[float, list[dict], list[np.ndarray], list[np.ndarray]]:
    """``(return, infos, states, actions)`` of one episode."""
    obs, info = env.reset(seed=seed)
    infos, states, actions, total = [info], [obs["state"]], [], 0.0
    done = False
    while not done:
        action = policy(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        assert reward == info["task_reward"]
        total += reward
        infos.append(info)
        states.append(obs["state"])
        actions.append(np.asarray(action))
        done = terminated or truncated
    return total, infos, states, actions


def test_env_api():
    suite = LiteSuite()
    env = suite.make("zigzag", seed=0, size=32)
    assert isinstance(env, ZigZag) and isinstance(suite.expert("zigzag", env), ZigZagExpert)
    obs, info = env.reset(seed=3)
    assert obs["image"].shape == (32, 32, 3) and obs["image"].dtype == np.uint8
    assert obs["state"].shape == (6,) and obs["state"].dtype == np.float32
    assert abs(obs["state"][4]) < 0.05 and obs["state"][5] > 1.4  # under the bar, at the bottom
    assert not info["success"] and env.expert_flips.shape == (20,)
    again, _ = env.reset(seed=3)
    np.testing.assert_array_equal(again["image"], obs["image"])
    moved, reward, terminated, truncated, info = env.step(np.array([1.0, 1.0], np.float32))
    assert not terminated and not truncated and 0 <= reward < 0.1
    # a move is a few pixels at 64x64 (here 32x32: >= 1.5 px), so frames show every step
    assert np.abs(moved["image"].astype(int) - obs["image"].astype(int)).sum() > 0
    np.testing.assert_allclose(moved["state"][:2] - obs["state"][:2], [0.1, 0.1], atol=1e-6)
    with pytest.raises(ValueError, match="not finite"):
        env.step(np.array([np.nan, 0.0]))
    assert suite.make("zigzag", episode_length=7).episode_length == 7


def test_the_expert_beats_random_and_flips_a_fair_coin_every_step():
    suite = LiteSuite()
    env = suite.make("zigzag", seed=0, size=32)
    expert = suite.expert("zigzag", env)
    free, right = 0, 0
    for seed in range(12):
        total, infos, states, actions = play(env, expert.act, seed)
        assert infos[-1]["success"] and total > 8 and infos[-1]["goal_distance"] == 0.0, seed
        assert infos[1]["goal_distance"] > 1.0  # near the bottom after one step
        for state, action in zip(states, actions):
            if state[5] > ZigZag.STEP:  # climbing at full speed: always diagonal
                assert abs(action[0]) == 1 and action[1] == 1
                if abs(state[4]) <= ZigZag.LIMIT:  # both moves allowed: the coin decides
                    free += 1
                    right += action[0] > 0
                else:  # drifted too far: back toward the bar's column
                    assert np.sign(action[0]) == -np.sign(state[4])
        assert all(abs(s[4]) <= 0.25 for s in states)  # it stays under the bar's span
    assert free > 100 and 0.4 < right / free < 0.6, (free, right)
    random = np.random.default_rng(0)
    total, infos, _, _ = play(env, lambda obs: random.uniform(-1, 1, 2), 0)
    assert total < 2 and not infos[-1]["success"]


def test_mode_policies_hug_one_edge_and_the_mean_path_goes_straight_up():
    env = LiteSuite().make("zigzag", seed=0, size=32)
    for goal, sign in ((0, -1), (1, 1)):
        total, infos, states, actions = play(env, ZigZagExpert(env, goal=goal).act, 5)
        assert infos[-1]["success"] and total > 8
        offsets = np.array([s[4] for s in states[1:16]])
        assert np.all(sign * offsets > 0)  # always on its own side of the bar's column
        assert sum(np.sign(a[0]) == sign for a in actions[:15]) >= 8  # mostly its own diagonal
    total, infos, states, actions = play(env, ZigZagExpert(env, goal="mean").act, 5)
    assert infos[-1]["success"] and total > 8  # it solves the task, but with moves no expert makes
    assert all(a[0] == 0 for a in actions) and len({round(float(s[0]), 6) for s in states}) == 1
    with pytest.raises(ValueError, match="goal"):
        ZigZagExpert(env, goal=2)


def test_the_step_option_sets_the_move_and_keeps_the_default_as_it_was():
    from viper.core.config import to_dict
    from viper.core.errors import ConfigError
    from viper.envs.lite.suite import LiteConfig

    suite = LiteSuite()
    # Unset, the option leaves the env (its frames) and every stage hash as they were.
    assert "step" not in to_dict(LiteConfig())
    plain, again = ZigZag(size=32), suite.make("zigzag", size=32, step=None)
    assert (plain.STEP, plain.LIMIT) == (0.1, 0.15) == (again.STEP, again.LIMIT)
    np.testing.assert_array_equal(plain.reset(seed=4)[0]["image"], again.reset(seed=4)[0]["image"])
    env = suite.make("zigzag", seed=0, size=64, step="0.25")  # --set env.step=0.25 arrives as text
    assert (env.STEP, env.LIMIT) == (0.25, 0.375)
    obs, _ = env.reset(seed=1)
    moved = env.step(np.array([-1.0, 1.0], np.float32))[0]
    np.testing.assert_allclose(moved["state"][:2] - obs["state"][:2], [-0.25, 0.25], atol=1e-6)
    expert, forks = suite.expert("zigzag", env), 0
    for seed in range(10):
        total, infos, states, actions = play(env, expert.act, seed)
        assert infos[-1]["success"] and total > 12, seed  # it still arrives under the bar, sooner
        for state in states[:-1]:  # both modes' moves differ: a fork no frame predicts
            obs = {"state": state}
            forks += not np.allclose(ZigZagExpert(env, 0).act(obs), ZigZagExpert(env, 1).act(obs))
    assert forks >= 40, forks  # about 5 of its 6 climbing moves
    for goal in (0, 1, "mean"):
        total, infos, _, _ = play(env, ZigZagExpert(env, goal=goal).act, 2)
        assert infos[-1]["success"] and total > 12, goal
    random = np.random.default_rng(0)
    assert play(env, lambda obs: random.uniform(-1, 1, 2), 0)[0] < 4
    with pytest.raises(ConfigError, match="applies to zigzag only"):
        suite.make("reach", step=0.25)
    with pytest.raises(ConfigError, match=r"env.step=0.0: expected a number in \(0, 0.5\]"):
        suite.make("zigzag", step=0.0)
