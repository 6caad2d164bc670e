"""The flax modules and the pure functions that every caller (score, stream, trainer) jits.

* ``Encoder``: a code grid -> one embedding (learned code embeddings, two 3x3 convolutions over
  the grid, an MLP). The *online* encoder is trained; the *target* encoder is its exponential
  moving average (BYOL), used with a stop-gradient for the embedding to predict.
* ``Predictor``: the ``context`` previous frames' online embeddings (oldest first; slots before
  an episode's start hold learned "start" embeddings) and the task -> the next frame's embedding.
* Score of frame ``t``: ``2 cos(prediction, target embedding of frame t) - 2``, the negative
  squared distance of the two unit-normalised embeddings, in ``[-4, 0]`` (0: predicted exactly).

Weights: ``{"online": {"encoder", "predictor", "start"}, "target": <encoder weights>}``.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from viper.videomodels.latentpredictor.config import Config


class Encoder(nn.Module):
    """``codes int[N, h*w] -> float[N, latent]``."""

    vocab_size: int
    grid: tuple[int, int]
    embed_dim: int
    channels: int
    width: int
    latent: int

    @nn.compact
    def __call__(self, codes: jax.Array) -> jax.Array:
        n = codes.shape[0]
        x = nn.Embed(self.vocab_size, self.embed_dim, name="codes")(codes).reshape(n, *self.grid, self.embed_dim)
        x = nn.gelu(nn.Conv(self.channels, (3, 3), name="conv1")(x))
        x = nn.gelu(nn.Conv(self.channels, (3, 3), name="conv2")(x))
        x = nn.gelu(nn.Dense(self.width, name="hidden")(x.reshape(n, -1)))
        return nn.Dense(self.latent, name="out")(x)


class Predictor(nn.Module):
    """``(context embeddings float[N, context, latent], task int[N]) -> float[N, latent]``."""

    num_tasks: int
    width: int
    latent: int
    layers: int

    @nn.compact
    def __call__(self, window: jax.Array, task: jax.Array) -> jax.Array:
        task_embedding = nn.Embed(self.num_tasks, self.width, name="task")(task)
        x = nn.Dense(self.width, name="inp")(window.reshape(window.shape[0], -1)) + task_embedding
        for i in range(self.layers):
            x = x + nn.Dense(self.width, name=f"mlp{i}")(nn.gelu(nn.LayerNorm(name=f"norm{i}")(x)))
        return nn.Dense(self.latent, name="out")(nn.LayerNorm(name="norm_out")(x))


class Network:
    """The modules of one model shape and the pure functions over its weights."""

    def __init__(self, config: Config, vocab_size: int, code_grid: tuple[int, int], num_tasks: int) -> None:
        self.context = config.context
        self.latent = config.latent
        self.codes_per_frame = int(code_grid[0] * code_grid[1])
        self.encoder = Encoder(
            vocab_size, tuple(code_grid), config.embed_dim, config.channels, config.width, config.latent
        )
        self.predictor = Predictor(num_tasks, config.width, config.latent, config.predictor_layers)

    def init(self, seed: int) -> dict[str, Any]:
        """Fresh weights; the target encoder starts as a copy of the online one (BYOL)."""
        k_enc, k_pred, k_start = jax.random.split(jax.random.key(seed), 3)
        encoder = self.encoder.init(k_enc, jnp.zeros((1, self.codes_per_frame), jnp.int32))["params"]
        window = jnp.zeros((1, self.context, self.latent))
        predictor = self.predictor.init(k_pred, window, jnp.zeros((1,), jnp.int32))["params"]
        start = jax.random.normal(k_start, (self.context, self.latent)) * 0.02
        online = {"encoder": encoder, "predictor": predictor, "start": start}
        return {"online": online, "target": jax.tree_util.tree_map(jnp.array, encoder)}

    def embed(self, encoder: Any, codes: jax.Array) -> jax.Array:
        """``codes int[..., h*w] -> float[..., latent]`` under ``encoder`` weights."""
        lead = codes.shape[:-1]
        out = self.encoder.apply({"params": encoder}, codes.reshape(-1, codes.shape[-1]))
        return out.reshape(*lead, self.latent)

    def predict(self, online: Any, window: jax.Array, task: jax.Array) -> jax.Array:
        """``window float[N, context, latent]``, ``task int[N]`` -> predicted ``float[N, latent]``."""
        return self.predictor.apply({"params": online["predictor"]}, window, task)

    def windows(self, online: Any, embeddings: jax.Array) -> jax.Array:
        """``float[B, T, latent] -> float[B, T, context, latent]``: frame ``t``'s context is the
        start slots ``t..context-1`` followed by frames ``max(0, t-context)..t-1``."""
        batch, frames = embeddings.shape[:2]
        start = jnp.broadcast_to(online["start"], (batch, self.context, self.latent))
        padded = jnp.concatenate([start, embeddings], axis=1)
        index = jnp.arange(frames)[:, None] + jnp.arange(self.context)[None, :]
        return padded[:, index]

    def scores(self, params: Any, codes: jax.Array, task: jax.Array) -> jax.Array:
        """``codes int[B, T, h*w]``, ``task int[B]`` -> ``float[B, T]`` scores (see the module)."""
        online = params["online"]
        batch, frames = codes.shape[:2]
        embeddings = self.embed(online["encoder"], codes)
        targets = jax.lax.stop_gradient(self.embed(params["target"], codes))
        window = self.windows(online, embeddings).reshape(batch * frames, self.context, self.latent)
        predicted = self.predict(online, window, jnp.repeat(task, frames))
        return agreement(predicted, targets.reshape(batch * frames, self.latent)).reshape(batch, frames)


def agreement(predicted: jax.Array, target: jax.Array) -> jax.Array:
    """``2 cos(predicted, target) - 2`` over the last axis (``-|u - v|^2`` of unit vectors)."""
    u = predicted * jax.lax.rsqrt(jnp.sum(jnp.square(predicted), -1, keepdims=True) + 1e-12)
    v = target * jax.lax.rsqrt(jnp.sum(jnp.square(target), -1, keepdims=True) + 1e-12)
    return 2.0 * jnp.sum(u * v, -1) - 2.0
