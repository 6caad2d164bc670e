"""Small flax networks for the online-trained rewards (RND, AMP)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp


class ConvTrunk(nn.Module):
    """Strided 3x3 convolutions, then a linear projection to ``features``.

    Inputs are ``float[N, H, W, C]`` images or ``int[N, h, w]`` code grids (embedded first, with
    stride 1 since code grids are already small).
    """

    channels: Sequence[int] = (16, 32, 32)
    features: int = 64
    vocab_size: int = 0
    """Embed integer code grids of this vocabulary; 0 for images."""

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        strides = 2
        if self.vocab_size:
            x = nn.Embed(self.vocab_size, 16)(x)
            strides = 1
        for width in self.channels:
            x = nn.Conv(width, (3, 3), strides=strides)(x)
            x = nn.leaky_relu(x, 0.2)
        return nn.Dense(self.features)(x.reshape(x.shape[0], -1))


class MLP(nn.Module):
    hidden: int = 128
    out: int = 64
    layers: int = 2

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        for _ in range(self.layers):
            x = nn.relu(nn.Dense(self.hidden)(x))
        return nn.Dense(self.out)(x)
