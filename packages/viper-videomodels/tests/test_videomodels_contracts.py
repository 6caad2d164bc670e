"""The contract kit's checks on ar-transformer, fitted at its ``tiny`` preset on the fake
tokenizer's codes (what `viper-run check-plugin ar-transformer` runs)."""

from __future__ import annotations

from pathlib import Path

from viper.core.config import apply_preset, build_config
from viper.core.testing import FakeTokenizer, check_video_model, fit_tokenizer, fit_video_model


def test_ar_transformer_keeps_the_video_model_contract(tmp_path: Path) -> None:
    from viper.videomodels.artransformer import ARTransformer, Config

    tokenizer = fit_tokenizer(FakeTokenizer(), tmp_path / "tokenizer")
    model = ARTransformer(build_config(Config, apply_preset(Config, "tiny")))
    fit_video_model(model, tokenizer, tmp_path / "video_model")
    passed = check_video_model(model)
    assert {"stream-equals-log-prob", "stream-is-first-resets", "save-load"} <= set(passed)


def test_maskgit_keeps_the_video_model_contract(tmp_path: Path) -> None:
    from viper.videomodels.maskgit import Config, MaskGIT

    tokenizer = fit_tokenizer(FakeTokenizer(), tmp_path / "tokenizer")
    model = MaskGIT(build_config(Config, apply_preset(Config, "tiny")))
    fit_video_model(model, tokenizer, tmp_path / "video_model")
    passed = check_video_model(model)
    assert {"stream-equals-log-prob", "stream-is-first-resets", "save-load"} <= set(passed)


def test_latent_predictor_keeps_the_video_model_contract(tmp_path: Path) -> None:
    from viper.videomodels.latentpredictor import Config, LatentPredictor

    tokenizer = fit_tokenizer(FakeTokenizer(), tmp_path / "tokenizer")
    model = LatentPredictor(build_config(Config, apply_preset(Config, "tiny")))
    fit_video_model(model, tokenizer, tmp_path / "video_model")
    passed = check_video_model(model)
    assert {"score-units", "score-float32", "stream-equals-score", "stream-is-first-resets", "save-load"} <= set(passed)
