"""Success rates beside returns, for envs that report ``info["success"]`` (metaworld): recorded
episodes, the score table, evaluation; envs without it report none."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np

from viper.core.collect import run_episode
from viper.core.loop import evaluate
from viper.core.statistics import format_table, summarize
from viper.core.testing.dot_suite import DotEnv, DotExpert
from viper.core.testing.loop_fakes import RecordingAgent


class SuccessDotEnv(DotEnv):
    """Succeeds at step 3 only (never after), and only when the dot started in column 2."""

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        self.start = self.x
        return obs, {**info, "success": False}

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated, truncated, {**info, "success": self.start == 2 and self.t == 3}


def _starts(seeds: list[int]) -> list[int]:
    env = DotEnv(16)
    return [int(env.reset(seed=s)[0]["state"][0]) for s in seeds]


def test_a_recorded_episode_succeeds_when_any_step_did() -> None:
    seeds = list(range(12))
    starts = _starts(seeds)
    assert {0, 2} <= set(starts)  # both outcomes occur
    for seed, start in zip(seeds, starts, strict=True):
        assert run_episode(SuccessDotEnv(16), DotExpert(), seed=seed).success is (start == 2)
    assert run_episode(DotEnv(16), DotExpert(), seed=0).success is None


def test_evaluation_reports_the_success_rate_only_where_the_env_has_one() -> None:
    agent = RecordingAgent(None, None, gym.spaces.Box(-1, 1, (1,), np.float32), 0)
    seeds = list(range(7))
    expected = float(np.mean([s == 2 for s in _starts(seeds)]))
    out = evaluate(agent, functools.partial(SuccessDotEnv, 16), seeds, num_envs=3)
    assert 0 < expected < 1 and out["success"] == expected
    assert "success" not in evaluate(agent, functools.partial(DotEnv, 16), seeds[:2], num_envs=2)


def test_the_score_table_shows_success_beside_returns() -> None:
    def record(policy: str, true_return: float, success: bool | None) -> dict:
        row = {"policy": policy, "true_return": true_return, "reward_return": {"viper": true_return}, "length": 5}
        return row if success is None else {**row, "success": success}

    rows = [record("expert", 9.0, True), record("expert", 8.0, False), record("random", 1.0, False)]
    summary = summarize(rows, ["viper"], [])
    assert summary["policies"]["expert"]["success_rate"] == 0.5
    assert summary["policies"]["random"]["success_rate"] == 0.0
    table = format_table(summary)
    assert "success" in table.splitlines()[0] and "50%" in table
    plain = summarize([record("expert", 9.0, None), record("random", 1.0, None)], ["viper"], [])
    assert "success_rate" not in plain["policies"]["expert"] and "success" not in format_table(plain)
