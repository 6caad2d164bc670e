"""``lite:push``'s sparse reward and its dense variant (``--set env.shaped=true``)."""

from __future__ import annotations

import numpy as np
import pytest

from viper.core.errors import ConfigError
from viper.envs.lite.suite import LiteSuite


def episode(policy: str, seed: int, **options) -> tuple[np.ndarray, bool]:
    """Per-step task rewards and whether the episode succeeded, for the expert or a random policy."""
    suite = LiteSuite()
    env = suite.make("push", **options)
    expert, rng = suite.expert("push", env), np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    expert.reset()
    rewards, success, done = [], False, False
    while not done:
        action = expert.act(obs) if policy == "expert" else rng.uniform(-1, 1, 2).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        success, done = success or info["success"], terminated or truncated
    return np.asarray(rewards), success


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_shaped_reward_is_dense_and_still_ranks_the_expert_first(seed: int) -> None:
    sparse_random, _ = episode("random", seed)
    shaped_random, _ = episode("random", seed, shaped=True)
    sparse_expert, sparse_success = episode("expert", seed)
    shaped_expert, shaped_success = episode("expert", seed, shaped=True)
    assert sparse_random.sum() < 0.01 and (sparse_random < 1e-3).mean() > 0.9  # sparse: ~0 at almost every step
    assert (shaped_random > 1e-3).mean() > 0.5  # dense: a gradient at most steps of random play
    assert shaped_expert.sum() > 3 * shaped_random.sum()
    assert sparse_success and shaped_success  # the same task, the same success test
    # the expert first closes in on the block (near), then its reward rises as the block nears the goal
    assert shaped_expert[-10:].mean() > 0.9 > shaped_expert[:5].mean()


def test_shaped_applies_to_push_only() -> None:
    with pytest.raises(ConfigError, match="option 'shaped' applies to push only"):
        LiteSuite().make("reach", shaped=True)
