"""Training the vqgan tokenizer: learning, metrics, checkpoints, resume, NaN handling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from viper.core.errors import DatasetError, NonFiniteError
from viper.core.metrics import MetricsLogger, read_metrics
from viper.tokenizers.testing import stage_context, synthetic_store, tiny_config, write_vgg_like


def leaves(tree):
    import jax

    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


#: One training run shared by the tests below: the discriminator switches on at step 40, so its
#: state must survive checkpoints too.
RUN = {"steps": 60, "log_every": 10, "eval_every": 30, "checkpoint_every": 20, "disc_start": 40}


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted 60-step fit on synthetic squares: (tokenizer, result, stage folder, PSNR before)."""
    from viper.tokenizers.vqgan import VQGANTokenizer
    from viper.tokenizers.vqgan.train import evaluate

    directory = tmp_path_factory.mktemp("straight")
    train, val = synthetic_store(8, seed=0), synthetic_store(2, seed=1)
    tokenizer = VQGANTokenizer(tiny_config(**RUN))
    before, _ = evaluate(tokenizer, np.concatenate(val.arrays))
    ctx = stage_context(directory)
    result = tokenizer.fit(train, val, ctx)
    ctx.metrics.close()
    return tokenizer, result, directory, before


def test_short_fit_raises_psnr(straight):
    from viper.tokenizers.vqgan.train import _fixed_frames, evaluate

    tokenizer, result, _, before = straight
    assert result["evaluated_on"] == "val" and result["steps"] == 60
    assert result["val_psnr"] > before["psnr"] + 5, (before, result)
    assert result["val_psnr"] > 15
    assert 1 <= result["perplexity"] <= 32 and 0 <= result["dead_codes"] < 32
    assert result["codebook_usage"] == 1 - result["dead_codes"] / 32
    # the tokenizer now holds the trained weights (fit evaluates on 16 fixed validation frames)
    after, _ = evaluate(tokenizer, _fixed_frames(synthetic_store(2, seed=1), 16, seed=1))
    assert after["psnr"] == pytest.approx(result["val_psnr"])


def test_fit_logs_metrics_and_writes_reconstructions_and_checkpoints(straight):
    import imageio.v3 as iio

    _, _, directory, _ = straight
    records = read_metrics(directory / "metrics.jsonl")
    train_lines = [r for r in records if "loss" in r]
    val_lines = [r for r in records if "val_psnr" in r]
    assert [r["step"] for r in train_lines] == [10, 20, 30, 40, 50, 60]
    assert {"recon_l1", "recon_mse", "commit", "perplexity", "dead_codes", "frames_per_s"} <= set(train_lines[0])
    assert "d_loss" not in train_lines[3] and {"d_loss", "g_loss", "adv_weight"} <= set(train_lines[4])
    assert [r["step"] for r in val_lines] == [30, 60]
    assert {"val_perplexity", "val_dead_codes", "val_l1"} <= set(val_lines[0])
    assert (directory / "reconstructions.png").read_bytes().startswith(b"\x89PNG")
    assert iio.imread(directory / "reconstructions.png").shape == (2 * 16 + 6, 4 * 16 + 10, 3)
    assert sorted(p.name for p in (directory / "checkpoints").iterdir()) == ["step_00000040", "step_00000060"]


class KillAt(MetricsLogger):
    """A metrics logger whose process "dies" (SystemExit, like a kill) when step ``at`` is logged."""

    def __init__(self, path, at):
        super().__init__(path, stage="tokenizer")
        self.at = at

    def log(self, step, metrics):
        if step >= self.at:
            raise SystemExit(f"killed at step {step}")
        super().log(step, metrics)


def test_resume_after_a_kill_equals_an_uninterrupted_run(straight, tmp_path):
    from viper.tokenizers.vqgan import VQGANTokenizer

    uninterrupted, expected, _, _ = straight
    config = tiny_config(**RUN)
    train, val = synthetic_store(8, seed=0), synthetic_store(2, seed=1)
    killed = VQGANTokenizer(config)
    with pytest.raises(SystemExit):
        killed.fit(train, val, stage_context(tmp_path, metrics=KillAt(tmp_path / "m.jsonl", at=50)))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_00000020", "step_00000040"]

    ctx = stage_context(tmp_path, metrics=MetricsLogger(tmp_path / "m.jsonl", stage="tokenizer"))
    resumed = VQGANTokenizer(config)
    result = resumed.fit(train, val, ctx)
    ctx.metrics.close()
    steps = [r["step"] for r in read_metrics(tmp_path / "m.jsonl") if "loss" in r]
    assert steps == [10, 20, 30, 40, 50, 60]  # 10-40 before the kill, 50-60 after resuming at 40
    for a, b in zip(leaves(uninterrupted.weights()), leaves(resumed.weights())):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert result["val_psnr"] == pytest.approx(expected["val_psnr"], abs=0.05)
    # fitting a finished run again only evaluates
    again = VQGANTokenizer(config).fit(train, val, stage_context(tmp_path))
    assert again["val_psnr"] == pytest.approx(result["val_psnr"])


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import jax.numpy as jnp

    from viper.tokenizers.vqgan import VQGANTokenizer
    from viper.tokenizers.vqgan.train_step import VQGANModel

    original = VQGANModel.train_step

    def poisoned(self, state, frames, perceptual_params, background, adversarial):
        new, metrics = original(self, state, frames, perceptual_params, background, adversarial)
        metrics["loss"] = jnp.where(state["step"] >= 3, jnp.nan, metrics["loss"])
        return new, metrics

    monkeypatch.setattr(VQGANModel, "train_step", poisoned)
    tokenizer = VQGANTokenizer(tiny_config(**{**RUN, "checkpoint_every": 1}))
    with pytest.raises(NonFiniteError, match=r"tokenizer loss became nan at step 4.*last good checkpoint: step 3"):
        tokenizer.fit(synthetic_store(3), synthetic_store(1, seed=1), stage_context(tmp_path))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_00000002", "step_00000003"]


def test_fit_rejects_data_of_another_resolution(tmp_path):
    from viper.tokenizers.vqgan import VQGANTokenizer

    tokenizer = VQGANTokenizer(tiny_config())
    with pytest.raises(
        DatasetError, match=r"frames are 32x32 but tokenizer.image_size=16; pass --set tokenizer.image_size=32"
    ):
        tokenizer.fit(synthetic_store(2, size=32), synthetic_store(0), stage_context(tmp_path, size=32))
    with pytest.raises(DatasetError, match="holds no frames"):
        tokenizer.fit(synthetic_store(0), synthetic_store(0), stage_context(tmp_path))


def test_fit_with_a_perceptual_loss_and_no_validation_split(tmp_path):
    from viper.tokenizers.vqgan import VQGANTokenizer

    weights = write_vgg_like(tmp_path / "vgg.safetensors")
    # disc_start=0: one compiled step holds every term (perceptual, adversarial, adaptive weight)
    tokenizer = VQGANTokenizer(tiny_config(steps=2, perceptual_weights=str(weights), disc_start=0))
    ctx = stage_context(tmp_path)
    result = tokenizer.fit(synthetic_store(3), synthetic_store(0), ctx)
    ctx.metrics.close()
    assert result["evaluated_on"] == "train"
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(line["perceptual"] > 0 for line in lines if "loss" in line)
    assert {"d_loss", "g_loss", "adv_weight"} <= set(lines[0])
    assert all(np.isfinite(line["adv_weight"]) for line in lines if "loss" in line)
    assert "train_psnr" in lines[-1]
    missing = VQGANTokenizer(tiny_config(perceptual_weights=str(tmp_path / "nope.safetensors")))
    with pytest.raises(Exception, match="no such file"):
        missing.fit(synthetic_store(3), synthetic_store(0), stage_context(tmp_path / "m"))


def test_foreground_weight_trains_the_small_moving_parts_harder(tmp_path):
    """A small bright square on a fixed background: weighting the foreground gives it a better
    reconstruction than the uniform loss does in the same steps, and the background PNG is kept."""
    from viper.core.dataset import EpisodeStore
    from viper.core.statistics import foreground_mask, median_frame, psnr
    from viper.tokenizers.vqgan import VQGANTokenizer

    rng = np.random.default_rng(0)

    def episode(n: int) -> np.ndarray:
        frames = np.full((n, 16, 16, 3), 60, np.uint8)
        for frame, (y, x) in zip(frames, rng.integers(0, 14, (n, 2))):
            frame[y : y + 2, x : x + 2] = (250, 200, 30)
        return frames

    train = EpisodeStore([episode(64) for _ in range(4)], np.zeros(4, np.int32), ("squares",))
    val = EpisodeStore([episode(64)], np.zeros(1, np.int32), ("squares",))
    frames = np.concatenate(val.arrays)
    mask = foreground_mask(frames, median_frame(frames))
    scores = {}
    for weight in (0.0, 20.0):
        tokenizer = VQGANTokenizer(tiny_config(steps=60, disc_start=1000, foreground_weight=weight))
        directory = tmp_path / f"w{weight}"
        tokenizer.fit(train, val, stage_context(directory))
        scores[weight] = psnr(frames, tokenizer.decode(tokenizer.encode(frames)), mask)
        assert (directory / "background.png").exists() == (weight > 0)
    assert scores[20.0] > scores[0.0] + 1.0, scores


def test_foreground_options_stay_out_of_the_stage_hash_at_their_defaults():
    from viper.core.config import to_dict

    assert "foreground_weight" not in to_dict(tiny_config())
    assert to_dict(tiny_config(foreground_weight=5.0))["foreground_weight"] == 5.0
