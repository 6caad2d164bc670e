"""The ``vqgan`` tokenizer: the object viper's runner builds, trains, saves and loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from viper.core.checks import check_codes, check_frames
from viper.core.config import build_config, to_dict
from viper.core.config.distributed import single_process
from viper.core.errors import ViperError, WorkdirError
from viper.core.jaxtools import ArtifactFormat
from viper.tokenizers.vqgan.config import PRESETS, Config
from viper.tokenizers.vqgan.train_step import VQGANModel

__all__ = ["PRESETS", "Config", "VQGANTokenizer"]

FORMAT = "viper-vqgan"
VERSION = 1
#: Options that change what the weights compute; a checkpoint only loads into a config that
#: agrees on all of them (shapes alone would not catch e.g. another norm_groups).
ARCHITECTURE = (
    "base_channels",
    "channel_multipliers",
    "num_res_blocks",
    "attention",
    "latent_channels",
    "embed_dim",
    "codebook_size",
    "norm_groups",
)
ARTIFACT = ArtifactFormat(FORMAT, VERSION, "a vqgan tokenizer", "tokenizer config", "; train one with fit-tokenizer")


class VQGANTokenizer:
    """VQ-GAN frame tokenizer (JAX/flax): ``uint8[N,H,W,3] <-> int32[N,h,w]``.

    A new instance holds randomly initialised weights (seed 0); :meth:`fit` trains it and
    :meth:`load` restores a trained one. Both :meth:`encode` and :meth:`decode` are jitted and run
    in chunks of ``config.encode_batch`` frames (the last chunk padded to a power of two, so only a
    few shapes are ever compiled).
    """

    Config = Config

    def __init__(self, config: Config | None = None) -> None:
        from viper.core.jaxtools import init_distributed

        self.config = config if config is not None else Config()
        # jax.distributed must start before the first computation (a no-op on one host).
        init_distributed(self.config.distributed())
        self.model = VQGANModel(self.config)
        self.params: Any = None
        self.embedding: jax.Array | None = None
        self.set_weights(self.model.init_weights(0))
        self._encode = jax.jit(self.model.encode)
        self._decode = jax.jit(self.model.decode)

    # -- the Tokenizer contract ------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return int(self.config.codebook_size)

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.config.image_size, self.config.image_size)

    @property
    def code_grid(self) -> tuple[int, int]:
        return self.config.code_grid

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """``uint8[N,H,W,3] -> int32[N,h,w]`` with values in ``[0, vocab_size)``."""
        frames = check_frames(frames, "frames", ndim=4, size=self.image_size)
        return self._batched(self._encode, frames, (0, *self.code_grid), np.int32)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """``int32[N,h,w] -> uint8[N,H,W,3]``."""
        codes = check_codes(codes, "codes", ndim=3, vocab_size=self.vocab_size, grid=self.code_grid)
        return self._batched(self._decode, codes, (0, *self.image_size, 3), np.uint8)

    def _batched(self, fn: Any, inputs: np.ndarray, empty: tuple[int, ...], dtype: Any) -> np.ndarray:
        if len(inputs) == 0:
            return np.zeros(empty, dtype)
        chunk = self.config.encode_batch
        outputs = []
        for start in range(0, len(inputs), chunk):
            part = inputs[start : start + chunk]
            size = min(chunk, 1 << (len(part) - 1).bit_length())  # pad to a power of two
            padded = (
                np.concatenate([part, np.repeat(part[-1:], size - len(part), axis=0)]) if size > len(part) else part
            )
            out = fn(self.params, self.embedding, jnp.asarray(padded))
            outputs.append(np.asarray(out)[: len(part)])
        return np.concatenate(outputs).astype(dtype, copy=False)

    def fit(self, train: Any, val: Any, ctx: Any) -> dict[str, Any]:
        """Train on the frames of ``train`` (an EpisodeStore), evaluate on ``val``; see
        :func:`viper.tokenizers.vqgan.train.fit`."""
        from viper.tokenizers.vqgan.train import fit

        return fit(self, train, val, ctx)

    # -- persistence -----------------------------------------------------------------------------

    def weights(self) -> dict[str, Any]:
        return {"params": self.params, "codebook": {"embedding": self.embedding}}

    def set_weights(self, weights: dict[str, Any]) -> None:
        self.params = jax.tree_util.tree_map(jnp.asarray, weights["params"])
        self.embedding = jnp.asarray(weights["codebook"]["embedding"])

    def save(self, directory: str | Path) -> None:
        """``directory/config.json`` (format, version, options) and ``directory/weights/``
        (msgpack + meta.json), see :mod:`viper.core.jaxtools.artifact`."""
        config = single_process(to_dict(self.config))  # a loaded tokenizer joins no run
        ARTIFACT.save(directory, {"config": config}, self.weights(), {"config": config})

    @classmethod
    def load(cls, directory: str | Path, config: Config | None = None) -> VQGANTokenizer:
        """A trained tokenizer from a folder written by :meth:`save`.

        With ``config``, the weights are loaded into that config instead of the saved one; any
        architectural difference raises :class:`WorkdirError` naming the option or parameter.
        """
        directory = Path(directory)
        path = ARTIFACT.config_path(directory)
        info = ARTIFACT.read_header(directory)
        try:
            saved = build_config(Config, info.get("config", {}), where=str(path))
        except ViperError as exc:
            raise WorkdirError(f"{path}: {exc}") from exc
        if config is None:
            config = saved
        else:
            for name in ARCHITECTURE:
                want, got = getattr(config, name), getattr(saved, name)
                if want != got:
                    raise WorkdirError(
                        f"{directory}: the weights were trained with {name}={got!r}, the given config has {want!r}"
                    )
        tokenizer = cls(config)
        weights, _ = ARTIFACT.load_weights(directory, jax.eval_shape(tokenizer.weights))
        tokenizer.set_weights(weights)
        return tokenizer

    def __repr__(self) -> str:
        h, w = self.code_grid
        return f"VQGANTokenizer({self.image_size[0]}x{self.image_size[1]} -> {h}x{w} codes, {self.vocab_size} codes)"
