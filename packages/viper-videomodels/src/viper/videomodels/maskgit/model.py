"""``maskgit``: a MaskGIT video model over tokenizer codes (JAX/flax).

The :class:`MaskGIT` factory implements :class:`viper.core.protocols.VideoModel`; numpy arrays
cross its boundary, JAX runs inside.

The likelihood estimator (the reward). A masked-token model gives ``p(code | visible codes)``, not
a product of conditionals, so a frame's log-likelihood is built by the chain rule in a FIXED
order: the frame's ``n = h*w`` codes are revealed in ``S = score_steps`` groups (one fixed random
permutation, group sizes following MaskGIT's cosine schedule), and

    log p(frame | context) ~= sum_s sum_{i in group s} log p(code_i | context, groups < s, task).

With ``S = n`` (one code per group) this is exactly the chain rule of the model's conditionals
(a proper likelihood of the frame for that order); with ``S < n`` the codes of a group are scored
as independent given what is revealed, an approximation that costs less. Why not one pass with
every code masked: it scores each code with no knowledge of the others, i.e. a product of
marginals, which cannot tell a coherent frame from a patchwork of likely codes. Why a fixed order:
the estimate must be a deterministic function of the frames (the reward and its stream must
agree), and a random order would add noise to every reward.

Cost per reward: ``S`` forward passes of ``(context + 1) * n`` tokens (run as one batch), with no
cache to carry (bidirectional attention lets the context see the scored frame), so the online
stream keeps each env's last ``context`` code frames and recomputes that window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from viper.videomodels.common.model import CodeSequenceModel
from viper.videomodels.maskgit.config import PRESETS, Config

if TYPE_CHECKING:  # jax is imported on first use, so importing the factory stays cheap
    from viper.videomodels.maskgit.network import MaskedFrameTransformer

FORMAT = "viper-maskgit"
VERSION = 1

#: Attention logits (rows x score steps x heads x sequence length^2) one scoring call holds at
#: most (512 MB of float32); rows go in blocks of a power of two below that, so jit compiles few shapes.
LOGITS_PER_CALL = 1 << 27


class MaskGIT(CodeSequenceModel):
    """A bidirectional transformer over the context frames and the next frame, trained to fill in
    the next frame's masked codes; ``log p`` of a frame estimated by ``score_steps`` unmasking steps.

    Build untrained with ``MaskGIT(config)`` and train with :meth:`fit` (or give it random weights
    with :meth:`initialize`); load a trained one with :meth:`load`. Contracts:

    * ``log_prob(codes int32[B,T,h,w], task) -> float32[B,T]``: entry ``[b, t]`` is the estimate
      of ``log p(frame t | frames max(0, t-context)..t-1, task)`` in nats (module docstring);
      frame 0 is conditioned on nothing.
    * ``stream(num_envs, task)`` -> :class:`~viper.videomodels.maskgit.stream.MaskGITStream`
      whose ``step(codes int32[num_envs,h,w], is_first bool[num_envs]) -> float32[num_envs]``
      returns the same numbers one frame per env per call.
    * ``task``: None (task 0), an int or ``int[B]``, ids into :attr:`tasks` (the trained set).

    Misuse (codes out of ``[0, vocab_size)``, another code grid, an unknown task id) raises
    :class:`~viper.core.errors.ContractError` naming the argument.
    """

    NAME = "maskgit"
    FORMAT = FORMAT
    VERSION = VERSION
    ARTIFACT = "a maskgit model"
    Config = Config
    PRESETS = PRESETS

    def _forget_network(self) -> None:
        self._network: MaskedFrameTransformer | None = None
        self._score: Any = None

    def _init_params(self, seed: int) -> Any:
        from viper.videomodels.maskgit.network import init_params

        return init_params(self.network, seed)

    def _train(self, train: Any, val: Any, ctx: Any) -> tuple[Any, dict[str, float]]:
        """Metrics: ``train_bits_per_code`` of masked codes, ``val_bits_per_code`` when ``val``
        has clips."""
        from viper.videomodels.maskgit.train import fit

        return fit(self, train, val, ctx)

    @property
    def network(self) -> MaskedFrameTransformer:
        """The flax network of this model's shape (no dropout)."""
        self._require_shape()
        if self._network is None:
            from viper.videomodels.maskgit.network import build_network

            self._network = build_network(self.config, self.vocab_size, self.code_grid, self.num_tasks)
        return self._network

    # -- scoring ---------------------------------------------------------------------------

    def log_prob(self, codes: np.ndarray, task: np.ndarray | int | None = None) -> np.ndarray:
        """``codes int32[B,T,h,w] -> float32[B,T]`` nats; see the class docstring."""
        codes, tasks = self._checked(codes, task)
        batch, frames = codes.shape[:2]
        if batch == 0 or frames == 0:
            return np.zeros((batch, frames), np.float32)
        context = self.context
        flat = codes.reshape(batch, frames, -1)
        padded = np.concatenate([np.zeros((batch, context, flat.shape[-1]), np.int32), flat], axis=1)
        # Window of frame t: padded frames t .. t+context-1 are frames t-context .. t-1.
        past = np.stack([padded[:, t : t + context] for t in range(frames)], axis=1)
        valid = np.arange(frames)[:, None] - context + np.arange(context)[None, :] >= 0
        valid = np.broadcast_to(valid, (batch, frames, context))
        scores = self.score_frames(
            past.reshape(batch * frames, context, -1),
            valid.reshape(batch * frames, context),
            flat.reshape(batch * frames, -1),
            np.repeat(tasks, frames),
        )
        return scores.reshape(batch, frames)

    def score_frames(self, past: np.ndarray, valid: np.ndarray, target: np.ndarray, task: np.ndarray) -> np.ndarray:
        """Checked inputs ``past int32[R,context,n]``, ``valid bool[R,context]``, ``target
        int32[R,n]``, ``task int32[R]`` -> ``float32[R]``: each target frame's estimate."""
        import jax
        import jax.numpy as jnp

        if self._score is None:
            from viper.videomodels.maskgit.network import make_score

            self._score = jax.jit(make_score(self.network, self.config.score_steps))
        rows = len(target)
        length = (self.context + 1) * target.shape[-1]
        per_row = min(self.config.score_steps, target.shape[-1]) * self.config.heads * length * length
        block = 1 << max(0, (LOGITS_PER_CALL // per_row).bit_length() - 1)
        block = min(block, 1 << (rows - 1).bit_length())
        total = -(-rows // block) * block
        pad = ((0, total - rows),)
        past = np.pad(past, pad + ((0, 0), (0, 0)))
        valid, target = np.pad(valid, pad + ((0, 0),)), np.pad(target, pad + ((0, 0),))
        task = np.pad(np.asarray(task, np.int32), pad)
        params = self.device_params()
        out = [
            np.asarray(
                self._score(
                    params,
                    jnp.asarray(past[r : r + block]),
                    jnp.asarray(valid[r : r + block]),
                    jnp.asarray(target[r : r + block]),
                    jnp.asarray(task[r : r + block]),
                )
            )
            for r in range(0, total, block)
        ]
        return np.concatenate(out)[:rows].astype(np.float32)

    def stream(self, num_envs: int, task: np.ndarray | int | None = None) -> Any:
        """A :class:`~viper.videomodels.maskgit.stream.MaskGITStream` for ``num_envs`` envs whose
        task ids (None: 0) stay fixed; its outputs equal :meth:`log_prob`'s."""
        from viper.videomodels.maskgit.stream import MaskGITStream

        return MaskGITStream(self, int(num_envs), self._stream_tasks(num_envs, task))
