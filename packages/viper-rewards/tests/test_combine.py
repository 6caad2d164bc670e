"""Combining rewards: ``--reward viper --explore rnd --beta 0.5`` and the parts agents can see."""

from __future__ import annotations

import numpy as np
import pytest

from viper.core.errors import ConfigError
from viper.core.protocols import Reward, RewardContext, StepBatch
from viper.core.rewarding import WeightedSum, build_training_reward, combine_rewards
from viper.rewards.testing import FakeTokenizer, FakeVideoModel, frames_from_codes

RND_TINY = {"size": "4", "channels": "8", "features": "8", "hidden": "8", "batch_size": "4"}


@pytest.fixture
def context(make_workdir) -> RewardContext:
    return RewardContext(workdir=make_workdir(FakeTokenizer(), FakeVideoModel()), tasks=("a",), image_size=(8, 8))


def episode(rng: np.random.Generator, length: int = 6) -> np.ndarray:
    return frames_from_codes(rng.integers(0, 4, (length, 2, 2)))


def test_viper_plus_beta_rnd_in_both_forms(host, context):
    reward = build_training_reward("viper", context, explore="rnd", beta=0.5, explore_options=RND_TINY, host=host)
    assert isinstance(reward, Reward) and isinstance(reward, WeightedSum)
    assert reward.weights == {"viper": 1.0, "rnd": 0.5} and reward.describe() == "viper + 0.5 * rnd"
    rng = np.random.default_rng(0)
    frames = np.stack([episode(rng), episode(rng)])
    parts = reward.relabel_parts(frames)
    np.testing.assert_allclose(reward.relabel(frames), parts["viper"] + 0.5 * parts["rnd"], rtol=1e-6)
    stream = reward.stream(2)
    for t in range(frames.shape[1]):
        total = stream.step(StepBatch(frames[:, t], np.full(2, t == 0), np.zeros(2, np.float32), np.zeros(2, np.int32)))
        assert set(stream.last_parts) == {"viper", "rnd"}
        np.testing.assert_allclose(total, stream.last_parts["viper"] + 0.5 * stream.last_parts["rnd"], rtol=1e-6)
        np.testing.assert_allclose(stream.last_parts["viper"], parts["viper"][:, t], rtol=1e-6)
    metrics = stream.metrics()
    assert {"viper/mean", "rnd/mean", "viper/log_likelihood", "rnd/loss"} <= set(metrics)


def test_single_reward_and_weighted_sums(host, context):
    alone = build_training_reward("viper", context, options={"mode": "joint"}, host=host)
    assert alone.names == ["viper"] and alone.parts[0][1].config.mode == "joint"
    both = combine_rewards([("viper", 2.0), ("task", -1.0)], context, host=host)
    assert both.needs == frozenset({"task_reward"})
    rng = np.random.default_rng(1)
    frames = episode(rng)[None]
    task_reward = rng.normal(size=(1, 6)).astype(np.float32)
    viper_only = combine_rewards([("viper", 1.0)], context, host=host).relabel(frames)
    np.testing.assert_allclose(both.relabel(frames, task_reward=task_reward), 2 * viper_only - task_reward, rtol=1e-6)


def test_combination_errors(host, context):
    with pytest.raises(ConfigError, match="--beta 0.5: only meaningful with --explore"):
        build_training_reward("viper", context, beta=0.5, host=host)
    with pytest.raises(ConfigError, match="also give its weight"):
        build_training_reward("viper", context, explore="rnd", host=host)
    with pytest.raises(ConfigError, match="already the --reward"):
        build_training_reward("viper", context, explore="viper", beta=1.0, host=host)
    with pytest.raises(ConfigError, match="must be finite"):
        combine_rewards([("viper", float("nan"))], context, host=host)
    with pytest.raises(ConfigError, match="appears twice"):
        combine_rewards([("viper", 1.0), ("viper", 2.0)], context, host=host)
    with pytest.raises(ConfigError, match="not among the rewards"):
        combine_rewards([("viper", 1.0)], context, {"rnd": {}}, host=host)
    with pytest.raises(ConfigError, match="unknown option"):
        build_training_reward("viper", context, options={"bogus": "1"}, host=host)
