"""What only maskgit does: its width/heads check, the unmasking order, the exact chain rule, and
a short fit's metrics and checkpoints (the contracts it shares with the other models are in
``test_videomodels_shared.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from viper.core.errors import ConfigError
from viper.videomodels.maskgit import Config, MaskGIT
from viper.videomodels.maskgit.network import reveal_groups
from viper.videomodels.testing import GRID, VOCAB, moving_dot, stage_context, store

TINY = dict(layers=2, heads=2, width=32, mlp_width=64, context=3, dropout=0.0, score_steps=4)


def test_width_must_split_into_heads():
    with pytest.raises(ConfigError, match="width"):
        Config(width=30, heads=4)


def test_reveal_groups_follow_the_cosine_schedule():
    groups = reveal_groups(64, 8)
    sizes = np.bincount(groups)
    assert len(sizes) == 8 and sizes.sum() == 64 and sizes.min() >= 1
    assert list(sizes) == sorted(sizes) and sizes[0] < sizes[-1]  # few first, many last
    assert np.array_equal(reveal_groups(64, 8), groups)  # a fixed order
    np.testing.assert_array_equal(np.sort(reveal_groups(16, 16)), np.arange(16))  # exact chain rule
    assert reveal_groups(4, 8).max() == 3  # never more steps than codes


def test_exact_chain_rule_sums_to_one_over_a_tiny_frame():
    """With one code per step the estimate is a proper distribution over frames: on a 1x2 grid
    of 3 codes the 9 frames' probabilities add up to 1."""
    model = MaskGIT(Config(**{**TINY, "score_steps": 2})).initialize(3, (1, 2), 1, seed=1)
    frames = np.array([[[[a, b]]] for a in range(3) for b in range(3)], np.int32)  # [9, 1, 1, 2]
    context = np.zeros((9, 2, 1, 2), np.int32)
    log_p = model.log_prob(np.concatenate([context, frames], axis=1))[:, -1]
    assert np.exp(log_p.astype(np.float64)).sum() == pytest.approx(1.0, abs=1e-4)


def test_fit_few_steps_logs_and_checkpoints(tmp_path):
    ctx = stage_context(tmp_path, "maskgit")
    config = Config(**TINY, steps=2, batch_size=4, log_every=1, eval_batches=1)
    model = MaskGIT(config)
    metrics = model.fit(store(moving_dot(4, 6)), store(moving_dot(4, 6, seed=1)), ctx)
    assert np.isfinite(metrics["train_bits_per_code"]) and np.isfinite(metrics["val_bits_per_code"])
    assert sorted(p.name for p in (ctx.directory / "checkpoints").iterdir()) == ["step_00000002"]
    codes = np.random.default_rng(0).integers(0, VOCAB, (1, 4, *GRID)).astype(np.int32)
    assert model.log_prob(codes).shape == (1, 4)
