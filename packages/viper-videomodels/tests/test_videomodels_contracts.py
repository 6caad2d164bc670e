"""The contract kit's checks on every video model of this package, fitted at its ``tiny`` preset on
the fake tokenizer's codes (what `viper-run check-plugin NAME` runs)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from viper.core.config import apply_preset, build_config
from viper.core.testing import FakeTokenizer, check_video_model, fit_tokenizer, fit_video_model

LIKELIHOOD = {"stream-equals-log-prob", "stream-is-first-resets", "save-load"}
MODELS = {
    "ar-transformer": ("artransformer", "ARTransformer", LIKELIHOOD),
    "maskgit": ("maskgit", "MaskGIT", LIKELIHOOD),
    "latent-predictor": (
        "latentpredictor",
        "LatentPredictor",
        {"score-units", "score-float32", "stream-equals-score", "stream-is-first-resets", "save-load"},
    ),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_keeps_the_video_model_contract(name: str, tmp_path: Path) -> None:
    package, cls, checks = MODELS[name]
    module = importlib.import_module(f"viper.videomodels.{package}")
    tokenizer = fit_tokenizer(FakeTokenizer(), tmp_path / "tokenizer")
    model = getattr(module, cls)(build_config(module.Config, apply_preset(module.Config, "tiny")))
    fit_video_model(model, tokenizer, tmp_path / "video_model")
    assert checks <= set(check_video_model(model))
