"""The online scorer: one frame per env per call through a rolling key/value cache."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from viper.core.checks import check_batch, check_codes

if TYPE_CHECKING:
    from viper.videomodels.artransformer.compiled import CompiledNetwork


def make_step_fn(network: Any, skip: int) -> Any:
    """A jitted ``(params, cache, codes, is_first, task, chain, count) -> (log p, cache)``.

    ``cache = (blocks, seen)``: per block, keys and values ``[E, H, skip, span, N, C]``, one ring
    of ``span`` frame slots for each of the ``skip`` interleaved frame-skip chains, and
    ``seen int32[E]``, each env's frames since its reset. Call ``g`` extends chain
    ``chain = g % skip`` of every env with its frame number ``count = g // skip`` (modulo every
    span), so frame ``t`` of an env meets frames ``t - skip, t - 2 skip, ...`` whatever the
    envs' resets; a reset only zeroes that env's ``seen``, which hides its older slots. The cache
    is donated: slots are overwritten in place, nothing is shifted or recomputed.
    """
    cap = skip * max(network.spans, default=0) + 1

    def step(params, cache, codes, is_first, task, chain, count):
        blocks, seen = cache
        seen = jnp.where(is_first, 0, seen)
        memory = tuple(
            (
                jax.lax.dynamic_index_in_dim(k, chain, axis=2, keepdims=False),
                jax.lax.dynamic_index_in_dim(v, chain, axis=2, keepdims=False),
            )
            for k, v in blocks
        )
        log_p, memory, _ = network.apply(
            {"params": params}, codes[:, None], task, memory, None, ring=(count, seen, skip)
        )
        blocks = tuple(
            (
                jax.lax.dynamic_update_index_in_dim(k, new_k, chain, axis=2),
                jax.lax.dynamic_update_index_in_dim(v, new_v, chain, axis=2),
            )
            for (k, v), (new_k, new_v) in zip(blocks, memory)
        )
        return log_p[:, 0], (blocks, jnp.minimum(seen + 1, cap))

    return jax.jit(step, donate_argnums=(1,))


class ARStream:
    """Incremental ``log p(frame | up to context previous frames of that env, task)``.

    ``step(codes int32[num_envs,h,w], is_first bool[num_envs]) -> float32[num_envs]`` (nats).
    ``is_first[i]`` forgets env ``i``'s history before scoring, so that frame is scored with no
    context. Outputs equal :meth:`ARTransformer.log_prob` of each env's frames since its last
    reset (to float rounding). Every call costs the same: one frame's ``h*w + 1`` tokens per env
    through each block, attending to that block's ``span`` cached frames.
    """

    def __init__(
        self, compiled: CompiledNetwork, params: Any, frame_skip: int, num_envs: int, task: np.ndarray
    ) -> None:
        self.compiled = compiled
        self.frame_skip = int(frame_skip)
        self.num_envs = int(num_envs)
        self.task = jnp.asarray(task, jnp.int32)
        self._step = compiled.stream_step(self.frame_skip)
        self._params = params
        self.reset()

    def reset(self) -> None:
        """Forget every env's history."""
        network = self.compiled.network
        skip = self.frame_skip
        memory, _ = network.empty_memory(self.num_envs)
        blocks = tuple(
            (jnp.repeat(k[:, :, None], skip, axis=2), jnp.repeat(v[:, :, None], skip, axis=2)) for k, v in memory
        )
        self._cache = (blocks, jnp.zeros(self.num_envs, jnp.int32))
        self._calls = 0
        # Frame numbers only matter modulo each span; keep them small for int32.
        self._period = math.lcm(*[s for s in network.spans if s > 0]) if any(network.spans) else 1

    def step(self, codes: np.ndarray, is_first: np.ndarray) -> np.ndarray:
        compiled = self.compiled
        codes = check_codes(codes, "codes", ndim=3, vocab_size=compiled.vocab_size, grid=compiled.code_grid)
        check_batch(codes.shape[0], self.num_envs, "codes")
        is_first = np.asarray(is_first)
        if is_first.dtype != bool or is_first.shape != (self.num_envs,):
            from viper.core.errors import ContractError

            raise ContractError(f"is_first: expected bool[{self.num_envs}], got {is_first.dtype}{list(is_first.shape)}")
        chain, count = divmod(self._calls, self.frame_skip)[::-1]
        flat = codes.reshape(self.num_envs, -1)
        log_p, self._cache = self._step(
            self._params, self._cache, flat, is_first, self.task, np.int32(chain), np.int32(count % self._period)
        )
        self._calls += 1
        return np.asarray(log_p, np.float32)
