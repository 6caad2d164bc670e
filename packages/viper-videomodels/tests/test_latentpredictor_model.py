"""The latent-predictor's contracts: registration, config, score/stream exactness, the
no-likelihood declaration, the viper reward on it, errors, files."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from viper.core.config import field_docs
from viper.core.errors import ConfigError, ContractError, WorkdirError
from viper.core.protocols import LikelihoodStream, VideoModel, frame_scores, has_likelihood, score_units
from viper.videomodels.latentpredictor import PRESETS, Config, LatentPredictor
from viper.videomodels.testing import GRID, VOCAB, synthetic_host

TINY = dict(embed_dim=8, channels=8, width=32, latent=16, predictor_layers=1, seq_len=4)


@pytest.fixture(scope="module")
def model() -> LatentPredictor:
    return LatentPredictor(Config(**TINY)).initialize(VOCAB, GRID, ("a", "b"), seed=3)


def random_codes(batch: int, frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, (batch, frames, *GRID)).astype(np.int32)


def test_registered_and_declares_no_likelihood(model):
    assert synthetic_host().load("video_model", "latent-predictor") is LatentPredictor
    assert not has_likelihood(model) and "cos" in score_units(model)
    assert isinstance(model, VideoModel) and isinstance(model.stream(2), LikelihoodStream)
    with pytest.raises(ContractError, match="without a likelihood.*score"):
        model.log_prob(random_codes(1, 2))


def test_config_documented_and_presets_valid():
    docs = field_docs(Config)
    assert not [f.name for f in dataclasses.fields(Config) if not docs.get(f.name)]
    assert {"paper", "quick", "tiny"} <= set(PRESETS)
    for options in PRESETS.values():
        Config(**options)
    assert Config(**PRESETS["paper"]).context == 15
    with pytest.raises(ConfigError, match="target_decay"):
        Config(target_decay=1.0)


def test_score_shape_range_and_windows(model):
    codes = random_codes(3, 40)
    scores = frame_scores(model, codes, np.array([0, 1, 0]))
    assert scores.shape == (3, 40) and scores.dtype == np.float32
    assert np.all(scores <= 1e-5) and np.all(scores >= -4 - 1e-5)
    # Entry t depends on exactly frames t-context..t.
    for t in (0, 2, 3, 9, 39):
        start = max(0, t - model.context)
        alone = model.score(codes[:, start : t + 1], np.array([0, 1, 0]))[:, -1]
        np.testing.assert_allclose(alone, scores[:, t], rtol=1e-4, atol=1e-5)
    changed = codes.copy()
    changed[:, 10] = (changed[:, 10] + 1) % VOCAB
    after = model.score(changed, np.array([0, 1, 0]))
    np.testing.assert_allclose(after[:, 14:], scores[:, 14:], rtol=1e-4, atol=1e-5)
    assert not np.allclose(after[:, 11], scores[:, 11])
    assert not np.allclose(model.score(codes, 0), model.score(codes, 1))


def test_long_sequences_are_scored_in_overlapping_blocks(model, monkeypatch):
    import viper.videomodels.latentpredictor.model as module

    codes = random_codes(2, 37, seed=1)
    whole = model.score(codes)
    monkeypatch.setattr(module, "FRAME_BLOCK", 8)
    monkeypatch.setattr(module, "ROW_BLOCK", 1)
    np.testing.assert_allclose(LatentPredictor.score(model, codes), whole, rtol=1e-4, atol=1e-5)


def test_stream_equals_score_across_resets(model):
    codes = random_codes(2, 12, seed=2)
    is_first = np.zeros((2, 12), bool)
    is_first[:, 0] = True
    is_first[0, 5] = True
    stream = model.stream(2, np.array([1, 0]))
    got = np.stack([stream.step(codes[:, t], is_first[:, t]) for t in range(12)], 1)
    want = np.concatenate([model.score(codes[:1, :5], 1), model.score(codes[:1, 5:], 1)], 1)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[1], model.score(codes[1:], 0)[0], rtol=1e-4, atol=1e-5)


def test_bad_input_is_named(model):
    with pytest.raises(ContractError, match="codes"):
        model.score(random_codes(1, 3) + VOCAB)
    with pytest.raises(ContractError, match="codes"):
        model.score(np.zeros((1, 3, 2, 2), np.int32))
    with pytest.raises(ContractError, match="task"):
        model.score(random_codes(1, 3), 2)
    with pytest.raises(ContractError, match="num_envs"):
        model.stream(0)
    with pytest.raises(ContractError, match="is_first"):
        model.stream(1).step(random_codes(1, 1)[:, 0], np.zeros(2, bool))
    with pytest.raises(ContractError, match="no weights"):
        LatentPredictor(Config(**TINY)).score(random_codes(1, 1))


def test_save_load_and_foreign_artifacts(model, tmp_path):
    codes = random_codes(2, 6)
    model.save(tmp_path / "m")
    np.testing.assert_allclose(LatentPredictor.load(tmp_path / "m").score(codes), model.score(codes), atol=1e-6)
    header = json.loads((tmp_path / "m" / "config.json").read_text())
    assert header["format"] == "viper-latent-predictor"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({**header, "format": "viper-ar-transformer"}))
    with pytest.raises(WorkdirError, match="latent-predictor"):
        LatentPredictor.load(tmp_path / "other")
    wide = LatentPredictor(Config(**{**TINY, "latent": 8}))
    header["config"] = {**header["config"], "latent": 8}
    (tmp_path / "m" / "config.json").write_text(json.dumps(header))
    with pytest.raises(WorkdirError):
        wide.load(tmp_path / "m")
