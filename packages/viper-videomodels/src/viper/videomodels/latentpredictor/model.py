"""``latent-predictor``: a deterministic, BYOL-style video model without a likelihood (JAX/flax).

The :class:`LatentPredictor` factory implements :class:`viper.core.protocols.VideoModel` for a
model with ``likelihood = False``: it offers ``score`` (and a stream of the same numbers)
instead of ``log_prob``. Numpy arrays cross its boundary, JAX runs inside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from viper.core.errors import ContractError
from viper.videomodels.common.model import CodeSequenceModel
from viper.videomodels.latentpredictor.config import PRESETS, Config

if TYPE_CHECKING:  # jax is imported on first use, so importing the factory stays cheap
    from viper.videomodels.latentpredictor.network import Network

FORMAT = "viper-latent-predictor"
VERSION = 1
NAME = "latent-predictor"

#: ``score`` runs at most this many rows and frames per call (padded to powers of two below it,
#: so jit compiles for few shapes).
ROW_BLOCK = 32
FRAME_BLOCK = 256


def _bucket(n: int, cap: int) -> int:
    return cap if n >= cap else 1 << max(0, (n - 1).bit_length())


class LatentPredictor(CodeSequenceModel):
    """Predicts each frame's embedding from its ``context`` previous frames' embeddings.

    Build untrained with ``LatentPredictor(config)`` and train with :meth:`fit` (or give it random
    weights with :meth:`initialize`); load a trained one with :meth:`load`. Contracts:

    * ``score(codes int32[B,T,h,w], task) -> float32[B,T]``: entry ``[b, t]`` is
      ``2 cos(predict(frames max(0, t-context)..t-1, task), target_embed(frame t)) - 2`` (see
      :data:`score_units`): 0 when frame ``t`` is what the model expected, down to -4. Frame 0
      is predicted from the learned start context. Higher is more expert-like; not a probability.
    * ``stream(num_envs, task)`` -> :class:`~viper.videomodels.latentpredictor.stream.LatentStream`
      returning the same numbers one frame per env per call.
    * ``log_prob`` raises: a deterministic model has no likelihood (``likelihood = False``).
    * ``task``: None (task 0), an int or ``int[B]``, ids into :attr:`tasks`.

    Misuse (codes out of ``[0, vocab_size)``, another code grid, an unknown task id) raises
    :class:`~viper.core.errors.ContractError` naming the argument.
    """

    NAME = NAME
    FORMAT = FORMAT
    VERSION = VERSION
    ARTIFACT = "a latent-predictor model"
    Config = Config
    PRESETS = PRESETS
    likelihood = False
    score_units = "2*cos - 2 of the predicted and the target embedding (negative squared unit distance, in [-4, 0])"

    def _forget_network(self) -> None:
        self._network: Network | None = None
        self._functions: dict[str, Any] = {}

    def _init_params(self, seed: int) -> Any:
        """``{"online", "target"}`` weights."""
        return self.network.init(seed)

    def _train(self, train: Any, val: Any, ctx: Any) -> tuple[Any, dict[str, float]]:
        """Metrics: ``train_error``, ``val_error`` when ``val`` has clips (mean ``2 - 2 cos``)."""
        from viper.videomodels.latentpredictor.train import fit

        return fit(self, train, val, ctx)

    @property
    def network(self) -> Network:
        """The modules of this model's shape (see :mod:`.network`)."""
        self._require_shape()
        if self._network is None:
            from viper.videomodels.latentpredictor.network import Network

            self._network = Network(self.config, self.vocab_size, self.code_grid, self.num_tasks)
        return self._network

    def function(self, key: str, build: Any) -> Any:
        """What ``build()`` returns (a jitted function), built once per model shape."""
        if key not in self._functions:
            self._functions[key] = build()
        return self._functions[key]

    # -- scoring ---------------------------------------------------------------------------

    def score(self, codes: np.ndarray, task: np.ndarray | int | None = None) -> np.ndarray:
        """``codes int32[B,T,h,w] -> float32[B,T]``; see the class docstring."""
        import jax
        import jax.numpy as jnp

        codes, tasks = self._checked(codes, task)
        batch, frames = codes.shape[:2]
        out = np.zeros((batch, frames), np.float32)
        if batch == 0 or frames == 0:
            return out
        scores = self.function("scores", lambda: jax.jit(self.network.scores))
        params, flat = self.device_params(), codes.reshape(batch, frames, -1)
        rows, length = _bucket(batch, ROW_BLOCK), _bucket(frames, FRAME_BLOCK)
        # A frame's score depends on its previous `context` frames only: blocks of frames overlap
        # by `context` frames, and padding appended after a row or frame changes nothing before it.
        step = length - self.context if length > self.context else length
        for r in range(0, batch, rows):
            for t in range(0, frames, step):
                first = max(0, t - self.context)
                part = flat[r : r + rows, first : first + length]
                part_tasks = tasks[r : r + rows]
                n, m = part.shape[:2]
                part = np.pad(part, ((0, rows - n), (0, length - m), (0, 0)))
                got = np.asarray(scores(params, jnp.asarray(part), jnp.asarray(np.pad(part_tasks, (0, rows - n)))))
                keep = min(frames, first + length) - t
                out[r : r + n, t : t + keep] = got[:n, t - first : t - first + keep]
                if first + length >= frames:
                    break
        return out

    def log_prob(self, codes: np.ndarray, task: np.ndarray | int | None = None) -> np.ndarray:
        """Refused: this model has no likelihood; its numbers come from :meth:`score`."""
        raise ContractError(
            f"{NAME} is a deterministic model without a likelihood (likelihood = False); use score(), "
            f"whose numbers are {self.score_units}"
        )

    def stream(self, num_envs: int, task: np.ndarray | int | None = None) -> Any:
        """A :class:`~viper.videomodels.latentpredictor.stream.LatentStream` for ``num_envs`` envs
        whose task ids (None: 0) stay fixed; its outputs equal :meth:`score`'s."""
        from viper.videomodels.latentpredictor.stream import LatentStream, make_step_fn

        tasks = self._stream_tasks(num_envs, task)
        step_fn = self.function("stream", lambda: make_step_fn(self.network))
        return LatentStream(
            self.network, step_fn, self.device_params(), self.vocab_size, self.code_grid, int(num_envs), tasks
        )
