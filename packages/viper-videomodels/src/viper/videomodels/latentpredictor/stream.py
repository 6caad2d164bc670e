"""The online scorer: the last ``context`` online embeddings of each env, one new frame per call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from viper.core.checks import check_batch, check_codes
from viper.core.errors import ContractError

if TYPE_CHECKING:
    from viper.videomodels.latentpredictor.network import Network


def make_step_fn(network: Network) -> Any:
    """A jitted ``(params, window, codes, is_first, task) -> (scores, window)``; ``window
    float[E, context, latent]`` holds each env's context embeddings, oldest first (start slots
    where the episode has fewer frames). It is donated: the new one replaces it."""
    from viper.videomodels.latentpredictor.network import agreement

    def step(params, window, codes, is_first, task):
        online = params["online"]
        window = jnp.where(is_first[:, None, None], online["start"][None], window)
        embedding = network.embed(online["encoder"], codes)
        target = network.embed(params["target"], codes)
        scores = agreement(network.predict(online, window, task), target)
        window = jnp.concatenate([window[:, 1:], embedding[:, None]], axis=1)
        return scores, window

    return jax.jit(step, donate_argnums=(1,))


class LatentStream:
    """Incremental :meth:`LatentPredictor.score`: ``step(codes int32[num_envs,h,w], is_first
    bool[num_envs]) -> float32[num_envs]``. ``is_first[i]`` forgets env ``i``'s history, so the
    frame is predicted from the start context. Outputs equal ``score`` of each env's frames since
    its last reset (to float rounding); each call encodes one frame per env and runs the predictor
    once, whatever the episode's length."""

    def __init__(
        self,
        network: Network,
        step_fn: Any,
        params: Any,
        vocab_size: int,
        grid: tuple[int, int],
        num_envs: int,
        task: np.ndarray,
    ) -> None:
        self.network, self._step, self._params = network, step_fn, params
        self.vocab_size, self.grid = vocab_size, grid
        self.num_envs = int(num_envs)
        self.task = jnp.asarray(task, jnp.int32)
        self.reset()

    def reset(self) -> None:
        """Forget every env's history."""
        start = self._params["online"]["start"]
        self._window = jnp.broadcast_to(start, (self.num_envs, *start.shape)).astype(jnp.float32)

    def step(self, codes: np.ndarray, is_first: np.ndarray) -> np.ndarray:
        codes = check_codes(codes, "codes", ndim=3, vocab_size=self.vocab_size, grid=self.grid)
        check_batch(codes.shape[0], self.num_envs, "codes")
        is_first = np.asarray(is_first)
        if is_first.dtype != bool or is_first.shape != (self.num_envs,):
            raise ContractError(f"is_first: expected bool[{self.num_envs}], got {is_first.dtype}{list(is_first.shape)}")
        scores, self._window = self._step(
            self._params, self._window, codes.reshape(self.num_envs, -1), is_first, self.task
        )
        return np.asarray(scores, np.float32)
