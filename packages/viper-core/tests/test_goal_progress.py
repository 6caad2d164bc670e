"""Goal progress beside returns, for envs that report ``info["goal_distance"]``: the share of the
starting distance an episode closed, in evaluation, the score table and the report's numbers; a
partial success on a task whose true reward is ~0 until the end (lite:push) must show."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest

from viper.core.loop import evaluate
from viper.core.statistics import format_table, goal_progress, summarize
from viper.core.testing.dot_suite import DotEnv
from viper.core.testing.loop_fakes import RecordingAgent

GOAL = 20  # a column the dot, moving right for 10 steps from 0-2, never reaches


class GoalDotEnv(DotEnv):
    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        return obs, {**info, "goal_distance": float(GOAL - self.x)}

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated, truncated, {**info, "goal_distance": float(GOAL - self.x)}


def test_goal_progress_is_the_share_of_the_starting_distance_closed() -> None:
    assert goal_progress([2.0, 1.5, 0.5]) == pytest.approx(0.75)
    assert goal_progress([1.0, 0.0]) == 1.0
    assert goal_progress([1.0, 2.0]) == -1.0  # moved away
    assert goal_progress(None) is None and goal_progress([0.0, 1.0]) is None and goal_progress([1.0]) is None


def test_evaluation_reports_goal_progress_only_where_the_env_has_a_goal_distance() -> None:
    agent = RecordingAgent(None, None, gym.spaces.Box(-1, 1, (1,), np.float32), 0)  # eval: always right
    seeds = list(range(7))
    starts = [int(DotEnv(16).reset(seed=s)[0]["state"][0]) for s in seeds]
    expected = float(np.mean([10 / (GOAL - s) for s in starts]))  # 10 steps right of GOAL - s
    out = evaluate(agent, functools.partial(GoalDotEnv, 16), seeds, num_envs=3)
    assert len(set(starts)) > 1 and out["goal_progress"] == pytest.approx(expected)
    assert "goal_progress" not in evaluate(agent, functools.partial(DotEnv, 16), seeds[:2], num_envs=2)


def test_the_score_table_shows_goal_progress_beside_returns() -> None:
    def record(policy: str, true_return: float, progress: float | None) -> dict:
        row = {"policy": policy, "true_return": true_return, "reward_return": {"viper": true_return}, "length": 5}
        return {**row, "goal_progress": progress}

    rows = [record("expert", 9.0, 1.0), record("expert", 8.0, 0.8), record("random", 1.0, -0.1)]
    summary = summarize(rows, ["viper"], [])
    assert summary["policies"]["expert"]["goal_progress"] == pytest.approx(0.9)
    assert summary["policies"]["random"]["goal_progress"] == pytest.approx(-0.1)
    table = format_table(summary)
    assert "goal progress" in table.splitlines()[0] and "90%" in table and "-10%" in table
    plain = summarize([record("expert", 9.0, None), record("random", 1.0, None)], ["viper"], [])
    assert "goal_progress" not in plain["policies"]["expert"] and "goal progress" not in format_table(plain)
