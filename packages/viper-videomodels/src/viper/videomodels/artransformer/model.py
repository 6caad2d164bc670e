"""``ar-transformer``: VIPER's autoregressive video model over tokenizer codes (JAX/flax).

The :class:`ARTransformer` factory implements :class:`viper.core.protocols.VideoModel`; numpy
arrays cross its boundary, JAX runs inside.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from viper.videomodels.artransformer.config import PRESETS, Config
from viper.videomodels.common.model import CodeSequenceModel

if TYPE_CHECKING:  # jax is imported on first use, so importing the factory stays cheap
    from viper.videomodels.artransformer.compiled import CompiledNetwork

FORMAT = "viper-ar-transformer"
VERSION = 1

#: log_prob scores long sequences this many frames at a time (carrying the memory between).
CHUNK_FRAMES = 16
#: ... and at most this many rows at a time.
ROW_BLOCK = 32


class ARTransformer(CodeSequenceModel):
    """An autoregressive transformer over frames of codes; ``log p`` of a frame given its past.

    Build untrained with ``ARTransformer(config)`` and train with :meth:`fit` (or give it random
    weights with :meth:`initialize`); load a trained one with :meth:`load`. Contracts:

    * ``log_prob(codes int32[B,T,h,w], task) -> float32[B,T]``: entry ``[b, t]`` is
      ``log p(frame t | frames t-s, t-2s, ..., t-context*s that exist, task)`` in nats summed over
      the frame's codes, with ``s = frame_skip`` (``s = 1``: frames ``max(0, t-context)..t-1``);
      frame 0 is conditioned on nothing.
    * ``stream(num_envs, task)`` -> :class:`~viper.videomodels.artransformer.stream.ARStream`
      whose ``step(codes int32[num_envs,h,w], is_first bool[num_envs]) -> float32[num_envs]``
      returns the same numbers one frame per env per call, at constant cost per call.
    * ``task``: None (task 0), an int or ``int[B]``, ids into :attr:`tasks` (the trained set).

    Misuse (codes out of ``[0, vocab_size)``, another code grid, an unknown task id) raises
    :class:`~viper.core.errors.ContractError` naming the argument.
    """

    NAME = "ar-transformer"
    FORMAT = FORMAT
    VERSION = VERSION
    ARTIFACT = "an ar-transformer model"
    Config = Config
    PRESETS = PRESETS

    def _forget_network(self) -> None:
        self._compiled: CompiledNetwork | None = None

    def _init_params(self, seed: int) -> Any:
        from viper.videomodels.artransformer.network import init_params

        return init_params(self.compiled.network, seed)

    def _train(self, train: Any, val: Any, ctx: Any) -> tuple[Any, dict[str, float]]:
        """Metrics: ``train_bits_per_code``, ``val_bits_per_code`` when ``val`` has clips."""
        from viper.videomodels.artransformer.train import fit

        return fit(self, train, val, ctx)

    @property
    def frame_skip(self) -> int:
        """Frames between a frame and the previous one it is conditioned on (``context`` counts
        frames of that chain)."""
        return self.config.frame_skip

    # -- the compiled network --------------------------------------------------------------

    @property
    def compiled(self) -> CompiledNetwork:
        """The network of this model's shape and its jitted functions, shared by :meth:`log_prob`,
        the stream and :meth:`fit` (and by other models of the same shape)."""
        self._require_shape()
        if self._compiled is None:
            from viper.videomodels.artransformer.compiled import compiled_network

            self._compiled = compiled_network(self.config, self.vocab_size, self.code_grid, self.num_tasks)
        return self._compiled

    # -- scoring ---------------------------------------------------------------------------

    def log_prob(self, codes: np.ndarray, task: np.ndarray | int | None = None) -> np.ndarray:
        """``codes int32[B,T,h,w] -> float32[B,T]`` nats; see the class docstring."""
        codes, tasks = self._checked(codes, task)
        batch, frames = codes.shape[:2]
        out = np.zeros((batch, frames), np.float32)
        if batch == 0 or frames == 0:
            return out
        skip = self.frame_skip
        flat = codes.reshape(batch, frames, -1)
        # Frame-skip chains become rows of their own: chain j holds frames j, j+s, j+2s, ...
        length = -(-frames // skip)
        rows = np.zeros((batch, skip, length, flat.shape[-1]), np.int32)
        for j in range(min(skip, frames)):
            rows[:, j, : len(range(j, frames, skip))] = flat[:, j::skip]
        scores = self._score_rows(rows.reshape(batch * skip, length, -1), np.repeat(tasks, skip))
        scores = scores.reshape(batch, skip, length)
        for j in range(min(skip, frames)):
            out[:, j::skip] = scores[:, j, : len(range(j, frames, skip))]
        return out

    def _score_rows(self, rows: np.ndarray, tasks: np.ndarray) -> np.ndarray:
        """Independent sequences ``int32[R, L, n]`` (each from its first frame) -> ``float32[R, L]``."""
        import jax.numpy as jnp

        num_rows, length, _ = rows.shape
        # Pad to few distinct shapes (powers of two up to a block) so jit compiles rarely;
        # padding only appends frames and rows, which nothing before them can see.
        chunk = CHUNK_FRAMES if length >= CHUNK_FRAMES else 1 << (length - 1).bit_length()
        block = ROW_BLOCK if num_rows >= ROW_BLOCK else 1 << (num_rows - 1).bit_length()
        padded_len = -(-length // chunk) * chunk
        padded_rows = -(-num_rows // block) * block
        rows = np.pad(rows, ((0, padded_rows - num_rows), (0, padded_len - length), (0, 0)))
        tasks = np.pad(tasks, (0, padded_rows - num_rows))
        segment = self.compiled.segment()
        params = self.device_params()
        network = self.compiled.network
        out = np.zeros((padded_rows, padded_len), np.float32)
        for r in range(0, padded_rows, block):
            memory, valid = network.empty_memory(block)
            task = jnp.asarray(tasks[r : r + block])
            for t in range(0, padded_len, chunk):
                log_p, memory, valid = segment(
                    params, jnp.asarray(rows[r : r + block, t : t + chunk]), task, memory, valid
                )
                out[r : r + block, t : t + chunk] = np.asarray(log_p)
        return out[:num_rows, :length]

    def stream(self, num_envs: int, task: np.ndarray | int | None = None) -> Any:
        """An :class:`~viper.videomodels.artransformer.stream.ARStream` for ``num_envs`` envs whose
        task ids (None: 0) stay fixed; its outputs equal :meth:`log_prob`'s."""
        from viper.videomodels.artransformer.stream import ARStream

        tasks = self._stream_tasks(num_envs, task)
        return ARStream(self.compiled, self.device_params(), self.frame_skip, int(num_envs), tasks)


def bits_per_code(nats_per_frame: float, codes_per_frame: int) -> float:
    return float(nats_per_frame) / codes_per_frame / math.log(2)
