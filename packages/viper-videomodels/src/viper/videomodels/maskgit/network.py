"""The flax network, the fixed unmasking order and the likelihood estimate built on them.

Layout. The ``context`` previous frames and the next frame, ``n = h*w`` codes each, form one
sequence of ``(context + 1) * n`` tokens. A token is its code's embedding (the next frame's
hidden codes use an extra ``MASK`` code) plus learned row, column and frame-slot embeddings.
Every token attends to every other (bidirectional); a context frame that does not exist (the
start of an episode) is hidden as a key, so nothing depends on its content. Task conditioning is
a conditional LayerNorm (a per-task scale and shift), as in ``ar-transformer``.

The network returns logits for the next frame's codes only: MaskGIT's objective is the
cross-entropy of the masked codes of that frame given the visible ones and the context.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from viper.videomodels.artransformer.network import TaskLayerNorm

#: Seed of the fixed permutation in which :func:`reveal_groups` reveals a frame's codes (part of
#: the estimator: changing it changes every score).
ORDER_SEED = 0


class Block(nn.Module):
    """Pre-LayerNorm transformer block: bidirectional attention over the valid tokens, then an MLP."""

    heads: int
    mlp_width: int
    num_tasks: int
    dropout: float

    @nn.compact
    def __call__(self, x: jax.Array, task: jax.Array, key_ok: jax.Array, train: bool) -> jax.Array:
        init = nn.initializers.normal(0.02)
        h = TaskLayerNorm(self.num_tasks, name="norm_attention")(x, task)
        h = nn.MultiHeadDotProductAttention(
            num_heads=self.heads,
            dropout_rate=self.dropout,
            deterministic=not train,
            kernel_init=init,
            name="attention",
        )(h, h, mask=key_ok)
        x = x + nn.Dropout(self.dropout)(h, deterministic=not train)
        h = TaskLayerNorm(self.num_tasks, name="norm_mlp")(x, task)
        h = nn.Dense(self.mlp_width, kernel_init=init, name="mlp_in")(h)
        h = nn.Dense(x.shape[-1], kernel_init=init, name="mlp_out")(nn.gelu(h))
        return x + nn.Dropout(self.dropout)(h, deterministic=not train)


class MaskedFrameTransformer(nn.Module):
    """Logits of the next frame's codes given the context frames and its visible codes."""

    vocab_size: int
    grid: tuple[int, int]
    num_tasks: int
    context: int
    layers: int
    width: int
    heads: int
    mlp_width: int
    dropout: float = 0.0

    @property
    def codes_per_frame(self) -> int:
        return self.grid[0] * self.grid[1]

    @nn.compact
    def __call__(
        self,
        past: jax.Array,
        past_valid: jax.Array,
        target: jax.Array,
        masked: jax.Array,
        task: jax.Array,
        train: bool = False,
    ) -> jax.Array:
        """``past int32[B,context,n]`` (oldest first), ``past_valid bool[B,context]``, ``target
        int32[B,n]``, ``masked bool[B,n]`` (True: hidden), ``task int32[B]`` -> logits
        ``float32[B,n,vocab_size]`` of the target frame's codes."""
        batch, frames, n = past.shape
        init = nn.initializers.normal(0.02)
        shown = jnp.where(masked, self.vocab_size, target)  # code vocab_size is MASK
        tokens = jnp.concatenate([past, shown[:, None]], axis=1)  # [B, context+1, n]
        x = nn.Embed(self.vocab_size + 1, self.width, embedding_init=init, name="code_embed")(tokens)
        row = self.param("row_embed", init, (self.grid[0], self.width))
        col = self.param("col_embed", init, (self.grid[1], self.width))
        slot = self.param("frame_embed", init, (self.context + 1, self.width))
        x = x + (row[:, None] + col[None, :]).reshape(n, self.width) + slot[:, None]
        x = x.reshape(batch, (frames + 1) * n, self.width)
        x = nn.Dropout(self.dropout)(x, deterministic=not train)
        valid = jnp.concatenate([past_valid, jnp.ones((batch, 1), bool)], axis=1)
        key_ok = jnp.repeat(valid, n, axis=1)[:, None, None, :]  # [B, 1, 1, keys]
        for i in range(self.layers):
            x = Block(self.heads, self.mlp_width, self.num_tasks, self.dropout, name=f"block_{i}")(
                x, task, key_ok, train
            )
        x = TaskLayerNorm(self.num_tasks, name="norm_out")(x[:, frames * n :], task)
        return nn.Dense(self.vocab_size, kernel_init=init, name="head")(x)


def build_network(
    config: Any, vocab_size: int, grid: Sequence[int], num_tasks: int, *, train: bool = False
) -> MaskedFrameTransformer:
    """The network for a :class:`~viper.videomodels.maskgit.config.Config`."""
    return MaskedFrameTransformer(
        vocab_size=int(vocab_size),
        grid=(int(grid[0]), int(grid[1])),
        num_tasks=int(num_tasks),
        context=config.context,
        layers=config.layers,
        width=config.width,
        heads=config.heads,
        mlp_width=config.mlp_width,
        dropout=config.dropout if train else 0.0,
    )


def reveal_groups(codes_per_frame: int, steps: int) -> np.ndarray:
    """``int32[n]``: the unmasking step (group) at which each code position is revealed.

    Positions are revealed in a fixed random permutation (seed :data:`ORDER_SEED`); after ``s`` of
    ``S`` steps ``round(n * (1 - cos(pi/2 * s/S)))`` positions are revealed (MaskGIT's cosine
    schedule: small groups first, large groups last), every group holding at least one.
    """
    n = int(codes_per_frame)
    steps = min(int(steps), n)
    revealed = [0]
    for s in range(1, steps + 1):
        want = round(n * (1.0 - math.cos(math.pi / 2 * s / steps)))
        revealed.append(min(max(want, revealed[-1] + 1), n - (steps - s)))
    order = np.random.default_rng(ORDER_SEED).permutation(n)
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    return (np.searchsorted(np.asarray(revealed[1:]), rank, side="right")).astype(np.int32)


def make_score(network: MaskedFrameTransformer, steps: int) -> Any:
    """An unjitted ``(params, past, past_valid, target, task) -> float32[B]``: the log-likelihood
    estimate of each target frame in nats (see :mod:`viper.videomodels.maskgit.model`).

    The ``S`` unmasking steps are independent given the true codes (step ``s`` shows groups
    ``< s`` and scores group ``s``), so they run as one batch of ``B * S`` sequences.
    """
    groups = reveal_groups(network.codes_per_frame, steps)
    num_steps = int(groups.max()) + 1
    step_of = jnp.arange(num_steps)[:, None]
    masked = jnp.asarray(groups)[None, :] >= step_of  # [S, n]
    scored = jnp.asarray(groups)[None, :] == step_of

    def score(params, past, past_valid, target, task):
        batch = past.shape[0]

        def rep(a):
            return jnp.repeat(a, num_steps, axis=0)

        logits = network.apply(
            {"params": params}, rep(past), rep(past_valid), rep(target), jnp.tile(masked, (batch, 1)), rep(task)
        )
        log_p = jax.nn.log_softmax(logits, axis=-1)
        picked = jnp.sum(log_p * jax.nn.one_hot(rep(target), network.vocab_size, dtype=log_p.dtype), axis=-1)
        picked = picked.reshape(batch, num_steps, -1)
        return jnp.sum(jnp.where(scored[None], picked, 0.0), axis=(1, 2))

    return score


#: Parameters that start at zero; every other one is drawn from normal(0, 0.02).
ZERO_INIT = ("bias",)


def init_params(network: MaskedFrameTransformer, seed: int) -> Any:
    """Random weights: normal(0, 0.02) matrices, embeddings and task tables; zero biases (drawn
    with numpy over the shapes flax reports, which is much faster than compiling ``init``)."""
    n, frames = network.codes_per_frame, network.context
    args = (
        jnp.zeros((1, frames, n), jnp.int32),
        jnp.zeros((1, frames), bool),
        jnp.zeros((1, n), jnp.int32),
        jnp.zeros((1, n), bool),
        jnp.zeros((1,), jnp.int32),
    )
    shapes = jax.eval_shape(lambda key: network.init(key, *args)["params"], jax.random.PRNGKey(0))
    rng = np.random.default_rng(seed)

    def draw(path: Any, leaf: Any) -> np.ndarray:
        if path[-1].key in ZERO_INIT:
            return np.zeros(leaf.shape, np.float32)
        return (0.02 * rng.standard_normal(leaf.shape)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes)
