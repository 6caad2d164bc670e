"""``check_tokenizer(tokenizer)``: what a trained tokenizer promises (:class:`~viper.core.protocols.Tokenizer`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.errors import ContractError
from viper.core.testing.rules import Rulebook, expect, expect_array, expect_raises


def check_tokenizer(tokenizer: Any, frames: np.ndarray | None = None, *, name: str | None = None) -> list[str]:
    """Check a trained ``tokenizer`` on ``frames`` (``uint8[N,H,W,3]`` at its ``image_size``;
    default: fake-suite frames). Returns the rules that held; raises ``RuleFailure`` at the first
    broken one. The save/load round trip uses ``type(tokenizer).load``."""
    book = Rulebook(f"tokenizer {name or type(tokenizer).__name__!r}")
    with book.rule("attributes"):
        vocab = tokenizer.vocab_size
        expect(isinstance(vocab, (int, np.integer)) and vocab >= 1, f"vocab_size must be a positive int, got {vocab!r}")
        size, grid = _pair(tokenizer.image_size, "image_size"), _pair(tokenizer.code_grid, "code_grid")
    if frames is None:
        from viper.core.testing.contract_data import expert_episodes

        frames = expert_episodes(size[0], episodes=1)[0][0][:6]
    n = len(frames)
    with book.rule("encode-codes-int32"):
        codes = tokenizer.encode(frames)
        expect_array(codes, "encode(uint8[N,H,W,3])", np.int32, (n, *grid))
        expect(
            codes.min() >= 0 and codes.max() < vocab,
            f"encode: codes must lie in [0, {vocab}), got values in [{codes.min()}, {codes.max()}]",
        )
    with book.rule("encode-deterministic"):
        expect(np.array_equal(tokenizer.encode(frames), codes), "encode gave different codes for the same frames")
    with book.rule("decode-frames-uint8"):
        expect_array(tokenizer.decode(codes), "decode(int32[N,h,w])", np.uint8, (n, *size, 3))
    with book.rule("rejects-float-frames"):
        expect_raises(ContractError, "encode(float32 frames)", tokenizer.encode, frames.astype(np.float32))
    with book.rule("save-load"):
        with tempfile.TemporaryDirectory() as tmp:
            tokenizer.save(Path(tmp))
            loaded = type(tokenizer).load(Path(tmp))
        expect(np.array_equal(loaded.encode(frames), codes), "the loaded tokenizer encodes differently")
        expect(
            np.array_equal(loaded.decode(codes), tokenizer.decode(codes)), "the loaded tokenizer decodes differently"
        )
    return book.passed


def _pair(value: Any, what: str) -> tuple[int, int]:
    pair = tuple(int(v) for v in value)
    expect(len(pair) == 2 and min(pair) >= 1, f"{what} must be two positive ints, got {value!r}")
    return pair  # type: ignore[return-value]
