"""benchmarks/push_partial.py: its scripted halves of a push end where they say (no reward needed)."""

from __future__ import annotations

import numpy as np
import pytest

from viper.envs.lite.push import Push
from viper.envs.lite.suite import LiteSuite


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("push_partial")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_to_block_stops_on_the_far_side_of_the_unmoved_block_and_to_ring_on_the_goal(bench, seed: int) -> None:
    (block_episode,) = bench.scripted(LiteSuite(), "push", "block", 1, seed, 64)
    (ring_episode,) = bench.scripted(LiteSuite(), "push", "ring", 1, seed, 64)
    assert block_episode["policy"] == "to-block" and ring_episode["policy"] == "to-ring"
    env = LiteSuite().make("push")
    for target, distance_to in (("block", "block"), ("ring", "goal")):
        obs, _ = env.reset(seed=seed + 10_000)
        start_block = obs["state"][2:4].copy()
        policy = bench.GoTo(env, target)
        for _ in range(Push.episode_length):
            obs, *_ = env.step(policy.act(obs))
        pusher, block, goal = obs["state"][0:2], obs["state"][2:4], obs["state"][4:6]
        if distance_to == "block":
            contact = Push.PUSHER + Push.BLOCK
            assert np.allclose(block, start_block)  # it stops short of pushing
            assert np.linalg.norm(pusher - block) < contact + 0.1
            assert np.dot(pusher - block, goal - block) < 0  # behind the block, seen from the goal
        else:
            assert np.linalg.norm(pusher - goal) < 0.05
