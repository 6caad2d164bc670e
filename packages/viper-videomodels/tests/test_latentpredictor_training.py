"""Training the latent predictor: it learns the dynamics, logs, checkpoints, resumes after lost
checkpoints, refuses another model's checkpoint (data checks and in-process resume are in
``test_videomodels_shared.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from viper.core.errors import WorkdirError
from viper.core.metrics import read_metrics
from viper.videomodels.latentpredictor import Config, LatentPredictor
from viper.videomodels.testing import moving_dot, store
from viper.videomodels.testing import stage_context as context

SMALL = dict(embed_dim=8, channels=16, width=64, latent=32, predictor_layers=1, seq_len=4)


def test_short_runs_log_checkpoint_and_resume(tmp_path):
    import shutil

    train, val = store(moving_dot(6, 10)), store(moving_dot(2, 10, seed=1))
    config = Config(**SMALL, steps=6, batch_size=4, log_every=2, checkpoint_every=2, eval_every=2)
    ctx = context(tmp_path, "latent-predictor")
    metrics = LatentPredictor(config).fit(train, val, ctx)
    ctx.metrics.close()
    assert set(metrics) >= {"train_error", "val_error", "steps"}
    assert [r["step"] for r in read_metrics(tmp_path / "wd" / "metrics.jsonl", stage="video_model")] == [2, 4, 6]
    # A run killed after step 4 resumes there and ends exactly where the unbroken run ended.
    shutil.rmtree(ctx.directory / "checkpoints" / "step_00000006")
    resumed = LatentPredictor(config).fit(train, val, context(tmp_path, "latent-predictor"))
    assert resumed["train_error"] == pytest.approx(metrics["train_error"], rel=1e-5)
    assert resumed["val_error"] == pytest.approx(metrics["val_error"], rel=1e-5)
    # A checkpoint of another model (here: another shape) is refused, naming the file.
    wide = LatentPredictor(Config(**{**SMALL, "latent": 16}, steps=8, batch_size=4, checkpoint_every=2))
    with pytest.raises(WorkdirError, match="step_00000006"):
        wide.fit(train, store([]), context(tmp_path, "latent-predictor"))


@pytest.mark.slow
def test_fit_prefers_the_training_dynamics_over_shuffled_frames(tmp_path):
    train = store(moving_dot(12, 20, tasks=2), tasks=2)
    config = Config(**SMALL, steps=300, batch_size=16, learning_rate=3e-3, target_decay=0.99, log_every=50)
    ctx = context(tmp_path, "latent-predictor", tasks=2)
    model = LatentPredictor(config)
    metrics = model.fit(train, store(moving_dot(4, 20, tasks=2, seed=1), tasks=2), ctx)
    ctx.metrics.close()
    codes = np.stack([e for e, _ in moving_dot(4, 8, tasks=2, seed=7)])
    tasks = np.arange(4) % 2
    shuffled = codes[:, np.random.default_rng(0).permutation(8)]
    real, fake = model.score(codes, tasks)[:, 2:].mean(), model.score(shuffled, tasks)[:, 2:].mean()
    assert real > fake + 0.05, (real, fake, metrics)
