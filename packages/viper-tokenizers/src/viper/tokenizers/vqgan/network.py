"""Flax modules of the VQ-GAN: encoder, decoder, vector quantizer and patch discriminator.

The layout follows VQGAN (Esser et al. 2021) as VIPER uses it: residual blocks of
GroupNorm -> swish -> 3x3 conv, strided-conv downsampling, nearest-neighbour + conv upsampling and
a residual/attention/residual bottleneck. Images live in [-1, 1], channels last.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from viper.tokenizers.vqgan.config import Config


def _dtype(config: Config) -> Any:
    return jnp.bfloat16 if config.dtype == "bfloat16" else jnp.float32


def _norm(channels: int, groups: int, dtype: Any, name: str | None = None) -> nn.GroupNorm:
    # GroupNorm statistics are per sample, so sharding the batch over devices changes nothing.
    return nn.GroupNorm(num_groups=math.gcd(groups, channels), dtype=dtype, name=name)


class ResBlock(nn.Module):
    """``x + conv(swish(norm(conv(swish(norm(x))))))`` with a 1x1 projection when channels change."""

    channels: int
    groups: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.swish(_norm(x.shape[-1], self.groups, self.dtype)(x))
        h = nn.Conv(self.channels, (3, 3), dtype=self.dtype)(h)
        h = nn.swish(_norm(self.channels, self.groups, self.dtype)(h))
        h = nn.Conv(self.channels, (3, 3), dtype=self.dtype)(h)
        if x.shape[-1] != self.channels:
            x = nn.Conv(self.channels, (1, 1), dtype=self.dtype, name="shortcut")(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the spatial positions, with a residual connection."""

    groups: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        n, h, w, c = x.shape
        y = _norm(c, self.groups, self.dtype)(x)
        # no key bias: it adds the same logit to a whole softmax row, so its gradient is always 0
        q, k, v = (
            nn.Dense(c, use_bias=name != "k", dtype=self.dtype, name=name)(y).reshape(n, h * w, c)
            for name in ("q", "k", "v")
        )
        weights = jax.nn.softmax(jnp.einsum("nqc,nkc->nqk", q, k).astype(jnp.float32) / math.sqrt(c), axis=-1)
        y = jnp.einsum("nqk,nkc->nqc", weights.astype(v.dtype), v).reshape(n, h, w, c)
        return x + nn.Dense(c, dtype=self.dtype, name="proj")(y)


class Bottleneck(nn.Module):
    groups: int
    attention: bool
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = ResBlock(x.shape[-1], self.groups, self.dtype)(x)
        if self.attention:
            x = AttnBlock(self.groups, self.dtype)(x)
        return ResBlock(x.shape[-1], self.groups, self.dtype)(x)


class Encoder(nn.Module):
    """``float[N,H,W,3] -> float32[N,h,w,embed_dim]`` (pre-quantization latents)."""

    config: Config

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cfg, dtype = self.config, _dtype(self.config)
        h = nn.Conv(cfg.base_channels, (3, 3), dtype=dtype, name="conv_in")(x)
        levels = len(cfg.channel_multipliers)
        for level, mult in enumerate(cfg.channel_multipliers):
            for _ in range(cfg.res_blocks(level)):
                h = ResBlock(cfg.base_channels * mult, cfg.norm_groups, dtype)(h)
            if level != levels - 1:
                h = nn.Conv(h.shape[-1], (3, 3), strides=(2, 2), dtype=dtype, name=f"down_{level}")(h)
        h = Bottleneck(cfg.norm_groups, cfg.attention, dtype)(h)
        h = nn.swish(_norm(h.shape[-1], cfg.norm_groups, dtype)(h))
        h = nn.Conv(cfg.latent_channels, (3, 3), dtype=dtype, name="conv_out")(h)
        return nn.Dense(cfg.embed_dim, name="quant_proj")(h.astype(jnp.float32))


class Decoder(nn.Module):
    """``float32[N,h,w,embed_dim] -> (image float32[N,H,W,3], features before the last conv)``.

    The features are returned so the adaptive adversarial weight can take gradients at the last
    layer (``conv_out``) without a second backward pass through the decoder.
    """

    config: Config

    @nn.compact
    def __call__(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        cfg, dtype = self.config, _dtype(self.config)
        h = nn.Dense(cfg.latent_channels, name="post_quant_proj")(z)
        h = nn.Conv(cfg.base_channels * cfg.channel_multipliers[-1], (3, 3), dtype=dtype, name="conv_in")(h)
        h = Bottleneck(cfg.norm_groups, cfg.attention, dtype)(h)
        for level in reversed(range(len(cfg.channel_multipliers))):
            for _ in range(cfg.res_blocks(level) + 1):
                h = ResBlock(cfg.base_channels * cfg.channel_multipliers[level], cfg.norm_groups, dtype)(h)
            if level != 0:
                h = upsample2x(h)
                h = nn.Conv(h.shape[-1], (3, 3), dtype=dtype, name=f"up_{level}")(h)
        h = nn.swish(_norm(h.shape[-1], cfg.norm_groups, dtype)(h)).astype(jnp.float32)
        return output_conv(name="conv_out")(h), h


def output_conv(name: str | None = None) -> nn.Conv:
    """The decoder's last layer (features -> RGB); also applied alone for the adaptive weight."""
    return nn.Conv(3, (3, 3), name=name)


def upsample2x(x: jax.Array) -> jax.Array:
    """Nearest-neighbour 2x upsampling as broadcast + reshape (its gradient is a cheap sum, unlike
    the gather/scatter of ``jax.image.resize``)."""
    n, h, w, c = x.shape
    return jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, 2, w, 2, c)).reshape(n, 2 * h, 2 * w, c)


class PatchDiscriminator(nn.Module):
    """PatchGAN (pix2pix / taming's NLayerDiscriminator): one real/fake logit per image patch.

    GroupNorm replaces BatchNorm so no statistics cross the batch (and its device shards).
    """

    channels: int = 64
    layers: int = 3
    groups: int = 32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.leaky_relu(nn.Conv(self.channels, (4, 4), strides=(2, 2))(x), 0.2)
        for i in range(1, self.layers + 1):
            c = self.channels * min(2**i, 8)
            stride = 2 if i < self.layers else 1
            h = nn.Conv(c, (4, 4), strides=(stride, stride), use_bias=False)(h)
            h = nn.leaky_relu(_norm(c, self.groups, jnp.float32)(h), 0.2)
        return nn.Conv(1, (4, 4))(h)[..., 0]


# ------------------------------------------------------------------------------------------------
# Vector quantizer with an exponential-moving-average codebook (VQ-VAE-2, Razavi et al. 2019)


def init_params(module: nn.Module, seed: int, *inputs: jax.ShapeDtypeStruct) -> Any:
    """Parameters of ``module`` drawn with numpy: kernels uniform in +-1/sqrt(fan_in) (PyTorch's
    default, which taming's VQGAN trains with), biases 0, norm scales 1.

    Only the shapes come from flax (``eval_shape``): compiling flax's jax.random initialisers
    takes XLA on CPU tens of seconds for a network this size, drawing them with numpy milliseconds.
    """
    shapes = jax.eval_shape(lambda *x: module.init(jax.random.PRNGKey(0), *x), *inputs)["params"]
    rng = np.random.default_rng(seed)

    def draw(path: tuple[Any, ...], leaf: jax.ShapeDtypeStruct) -> np.ndarray:
        name = getattr(path[-1], "key", str(path[-1]))
        if name == "kernel":
            bound = 1.0 / math.sqrt(math.prod(leaf.shape[:-1]))
            return rng.uniform(-bound, bound, leaf.shape).astype(leaf.dtype)
        if name == "scale":
            return np.ones(leaf.shape, leaf.dtype)
        return np.zeros(leaf.shape, leaf.dtype)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def init_codebook(config: Config, seed: int) -> dict[str, np.ndarray]:
    """Small random codes whose usage counts start at zero: with restarts on, the first training
    step replaces them all by encoder outputs (a data-dependent initialisation)."""
    k, d = config.codebook_size, config.embed_dim
    rng = np.random.default_rng(seed)
    return {
        "embedding": rng.uniform(-1.0 / k, 1.0 / k, (k, d)).astype(np.float32),
        "cluster_size": np.zeros((k,), np.float32),
        "embed_sum": np.zeros((k, d), np.float32),
    }


def nearest_codes(z: jax.Array, embedding: jax.Array) -> jax.Array:
    """Index of the closest codebook vector to each ``z[..., d]`` (squared Euclidean distance)."""
    flat = z.reshape(-1, z.shape[-1])
    distances = (
        jnp.sum(flat**2, axis=1, keepdims=True) - 2.0 * flat @ embedding.T + jnp.sum(embedding**2, axis=1)[None, :]
    )
    return jnp.argmin(distances, axis=1).astype(jnp.int32).reshape(z.shape[:-1])


def quantize(z: jax.Array, embedding: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(z_q with a straight-through gradient, codes, commitment term ||z - sg(e)||^2)``."""
    codes = nearest_codes(jax.lax.stop_gradient(z), embedding)
    e = embedding[codes]
    commit = jnp.mean((z - jax.lax.stop_gradient(e)) ** 2)
    return z + jax.lax.stop_gradient(e - z), codes, commit


def perplexity(codes: jax.Array, codebook_size: int) -> jax.Array:
    """``exp(entropy)`` of the code histogram: how many codes are effectively in use."""
    counts = jnp.bincount(codes.reshape(-1), length=codebook_size).astype(jnp.float32)
    probs = counts / jnp.maximum(counts.sum(), 1.0)
    return jnp.exp(-jnp.sum(jnp.where(probs > 0, probs * jnp.log(probs), 0.0)))


def update_codebook(
    codebook: dict[str, jax.Array],
    z: jax.Array,
    codes: jax.Array,
    rng: jax.Array,
    decay: float,
    dead_threshold: float,
) -> tuple[dict[str, jax.Array], jax.Array]:
    """One EMA step toward the mean of the encoder outputs assigned to each code, then restart
    codes whose usage fell below ``dead_threshold`` at encoder outputs of this batch.

    Restart targets are drawn in proportion to their squared quantization error (as k-means++
    seeds centres): uniform draws would land almost always in the dominant cluster (a uniform
    background), while the vectors the codebook serves worst — small objects — are what the
    spare codes are needed for. Sums run over the whole (global) batch, so sharded and
    single-device steps agree. Returns the new codebook and how many codes were restarted.
    """
    k = codebook["embedding"].shape[0]
    flat = jax.lax.stop_gradient(z).reshape(-1, z.shape[-1])
    index = codes.reshape(-1)
    onehot = jax.nn.one_hot(index, k, dtype=jnp.float32)
    cluster_size = decay * codebook["cluster_size"] + (1 - decay) * onehot.sum(0)
    embed_sum = decay * codebook["embed_sum"] + (1 - decay) * onehot.T @ flat
    # Laplace smoothing keeps codes with (almost) no assignments from dividing by zero.
    total = cluster_size.sum()
    smoothed = (cluster_size + 1e-5) / (total + k * 1e-5) * total
    embedding = embed_sum / jnp.maximum(smoothed, 1e-12)[:, None]

    dead = cluster_size < dead_threshold
    error = jnp.sum((flat - codebook["embedding"][index]) ** 2, axis=1)
    picks = flat[jax.random.categorical(rng, jnp.log(error + 1e-12), shape=(k,))]
    embedding = jnp.where(dead[:, None], picks, embedding)
    embed_sum = jnp.where(dead[:, None], picks * dead_threshold, embed_sum)
    cluster_size = jnp.where(dead, dead_threshold, cluster_size)
    new = {"embedding": embedding, "cluster_size": cluster_size, "embed_sum": embed_sum}
    return new, dead.sum()
