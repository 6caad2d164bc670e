"""The contract kit's checks on vqgan, fitted at its ``tiny`` preset on the kit's fake frames
(what `viper-run check-plugin vqgan` runs)."""

from __future__ import annotations

from pathlib import Path

from viper.core.components import presets
from viper.core.config import apply_preset, build_config
from viper.core.testing import check_tokenizer, fit_tokenizer


def test_vqgan_keeps_the_tokenizer_contract(tmp_path: Path) -> None:
    from viper.tokenizers.vqgan import Config, VQGANTokenizer

    assert "tiny" in presets(VQGANTokenizer)
    tokenizer = fit_tokenizer(VQGANTokenizer(build_config(Config, apply_preset(Config, "tiny"))), tmp_path, 16)
    assert check_tokenizer(tokenizer)[-1] == "save-load"
