"""``fake`` tokenizer: each ``block x block`` patch becomes its quantised mean grey level.

Exact and cheap, so tests of what sits around a tokenizer (the reward, the stages) need no
framework; :meth:`FakeTokenizer.fit` only learns the frame size.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from viper.core.checks import check_codes, check_frames
from viper.core.config import Options, option
from viper.core.errors import WorkdirError


@dataclasses.dataclass
class FakeTokenizerConfig(Options):
    """Options of the ``fake`` tokenizer (``--set tokenizer.FIELD=VALUE``)."""

    SECTION: ClassVar[str] = "tokenizer"

    block: int = option(4, ge=1)
    """Side of the square patch one code stands for."""
    vocab_size: int = option(8, ge=2)
    """Grey levels, i.e. distinct codes."""
    image_size: int = option(16, ge=1)
    """Frame side before :meth:`FakeTokenizer.fit` reads the data's."""


class FakeTokenizer:
    """See the module docstring (:class:`~viper.core.protocols.Tokenizer`)."""

    Config = FakeTokenizerConfig

    def __init__(self, config: FakeTokenizerConfig | None = None) -> None:
        self.config = config or FakeTokenizerConfig()
        self.vocab_size = int(self.config.vocab_size)
        self._set_size((self.config.image_size, self.config.image_size))

    def _set_size(self, size: tuple[int, int]) -> None:
        self.image_size = (int(size[0]), int(size[1]))
        self.code_grid = (self.image_size[0] // self.config.block, self.image_size[1] // self.config.block)

    def encode(self, frames: np.ndarray) -> np.ndarray:
        frames = check_frames(frames, "frames", ndim=4, size=self.image_size)
        n, b = len(frames), self.config.block
        h, w = self.code_grid
        grey = frames[:, : h * b, : w * b].astype(np.float32).mean(-1).reshape(n, h, b, w, b).mean((2, 4))
        return np.minimum(grey * self.vocab_size / 256.0, self.vocab_size - 1).astype(np.int32)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = check_codes(codes, "codes", ndim=3, vocab_size=self.vocab_size, grid=self.code_grid)
        grey = ((codes.astype(np.float32) + 0.5) * 256.0 / self.vocab_size).astype(np.uint8)
        b = self.config.block
        frames = np.zeros((len(codes), *self.image_size, 3), np.uint8)
        h, w = self.code_grid
        frames[:, : h * b, : w * b] = grey.repeat(b, 1).repeat(b, 2)[..., None]
        return frames

    def fit(self, train: Any, val: Any, ctx: Any) -> dict[str, float]:
        size = ctx.options.get("image_size") or train.arrays[0].shape[1:3]
        self._set_size(tuple(size))
        frames = np.concatenate(list(val.arrays) or list(train.arrays)[:1])
        error = (self.decode(self.encode(frames)).astype(np.float32) - frames.mean(-1, keepdims=True)) ** 2
        return {"val_mse": float(error.mean())}

    def save(self, directory: Path) -> None:
        meta = {**dataclasses.asdict(self.config), "image_size": list(self.image_size)}
        (Path(directory) / "fake-tokenizer.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: Path) -> FakeTokenizer:
        path = Path(directory) / "fake-tokenizer.json"
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise WorkdirError(f"{path}: cannot read the fake tokenizer ({exc})") from exc
        size = meta.pop("image_size")
        tokenizer = cls(FakeTokenizerConfig(**{**meta, "image_size": size[0]}))
        tokenizer._set_size(tuple(size))
        return tokenizer
