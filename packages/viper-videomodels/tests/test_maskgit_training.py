"""Training maskgit: (slow) learning the training dynamics (resume, data checks and data
parallelism are in ``test_videomodels_shared.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from viper.videomodels.maskgit import Config, MaskGIT
from viper.videomodels.testing import moving_dot, stage_context, store

SMALL = dict(layers=2, heads=2, width=32, mlp_width=64, context=3, dropout=0.1, score_steps=4)
TRAIN = dict(batch_size=8, learning_rate=3e-3, warmup_steps=10, ema_decay=0.9, log_every=20)


@pytest.mark.slow
def test_fit_learns_dynamics(tmp_path):
    """Trained on a dot moving in its task's direction, the model finds held-out episodes far
    likelier than the same frames shuffled in time."""
    train = store(moving_dot(12, 20, tasks=2), tasks=2)
    val = store(moving_dot(4, 20, tasks=2, seed=1), tasks=2)
    # Batches of 32: with 8 the model learns each frame's marginal long before it uses the context.
    options = {**SMALL, **TRAIN, "dropout": 0.0, "batch_size": 32}
    model = MaskGIT(Config(**options, steps=900, eval_every=900, checkpoint_every=900))
    metrics = model.fit(train, val, stage_context(tmp_path, "maskgit", tasks=2))
    # Uniform codes cost 4 bits each; knowing the dot's start leaves nearly nothing to guess.
    assert metrics["val_bits_per_code"] < 0.15, metrics
    codes = np.stack([e for e, _ in moving_dot(4, 8, tasks=2, seed=7)])
    tasks = np.arange(4) % 2
    shuffled = codes[:, np.random.default_rng(0).permutation(8)]
    real, fake = model.log_prob(codes, tasks)[:, 2:].mean(), model.log_prob(shuffled, tasks)[:, 2:].mean()
    assert real > fake + 3, (real, fake)
