"""The viper reward (viper-rewards) on a video model without a likelihood (viper-videomodels'
latent-predictor): it rewards the model's score, never calls it a log-likelihood, and refuses
the joint mode. Cross-package, so it lives here rather than in either package's isolated tests."""

from __future__ import annotations

import numpy as np
import pytest

from viper.core.errors import ConfigError
from viper.videomodels.latentpredictor import Config, LatentPredictor
from viper.videomodels.testing import GRID, VOCAB

TINY = dict(embed_dim=8, channels=8, width=32, latent=16, predictor_layers=1, seq_len=4)


@pytest.fixture(scope="module")
def model() -> LatentPredictor:
    return LatentPredictor(Config(**TINY)).initialize(VOCAB, GRID, ("a", "b"), seed=3)


def random_codes(batch: int, frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, (batch, frames, *GRID)).astype(np.int32)


def test_viper_reward_uses_the_score_and_never_calls_it_a_likelihood(model):
    from viper.core.protocols import RewardContext, StepBatch
    from viper.rewards.likelihood import Config as RewardConfig
    from viper.rewards.likelihood import ViperReward
    from viper.videomodels.testing import BlockTokenizer

    tokenizer = BlockTokenizer()
    codes = random_codes(2, 7, seed=4)
    frames = np.stack([tokenizer.decode(c) for c in codes])
    context = RewardContext(tasks=("a", "b"), image_size=tokenizer.image_size)
    ids = np.array([0, 1])
    want = model.score(codes, ids)
    for incremental in (True, False):
        reward = ViperReward(RewardConfig(incremental=incremental), context, tokenizer=tokenizer, video_model=model)
        np.testing.assert_allclose(reward.relabel(frames, ids), want, rtol=1e-4, atol=1e-5)
    stream = reward.stream(2, ids)
    zeros = np.zeros(2, np.float32)
    out = stream.step(StepBatch(frames[:, 0], np.ones(2, bool), zeros, ids))
    np.testing.assert_allclose(out, want[:, 0], rtol=1e-4, atol=1e-5)
    assert set(stream.metrics()) == {"viper/score"}
    with pytest.raises(ConfigError, match="joint.*no likelihood"):
        ViperReward(RewardConfig(mode="joint"), context, tokenizer=tokenizer, video_model=model)
