"""What only the latent-predictor does: it declares no likelihood, its config checks, and long
sequences scored in blocks (the contracts it shares with the other models are in
``test_videomodels_shared.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from viper.core.errors import ConfigError, ContractError
from viper.core.protocols import has_likelihood, score_units
from viper.videomodels.latentpredictor import PRESETS, Config, LatentPredictor
from viper.videomodels.testing import GRID, VOCAB

TINY = dict(embed_dim=8, channels=8, width=32, latent=16, predictor_layers=1, seq_len=4)


@pytest.fixture(scope="module")
def model() -> LatentPredictor:
    return LatentPredictor(Config(**TINY)).initialize(VOCAB, GRID, ("a", "b"), seed=3)


def random_codes(batch: int, frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, (batch, frames, *GRID)).astype(np.int32)


def test_declares_no_likelihood(model):
    assert not has_likelihood(model) and "cos" in score_units(model)
    with pytest.raises(ContractError, match="without a likelihood.*score"):
        model.log_prob(random_codes(1, 2))


def test_config_checks():
    assert Config(**PRESETS["paper"]).context == 15
    with pytest.raises(ConfigError, match="target_decay"):
        Config(target_decay=1.0)


def test_long_sequences_are_scored_in_overlapping_blocks(model, monkeypatch):
    import viper.videomodels.latentpredictor.model as module

    codes = random_codes(2, 37, seed=1)
    whole = model.score(codes)
    monkeypatch.setattr(module, "FRAME_BLOCK", 8)
    monkeypatch.setattr(module, "ROW_BLOCK", 1)
    np.testing.assert_allclose(LatentPredictor.score(model, codes), whole, rtol=1e-4, atol=1e-5)
