"""The flax network: a causal transformer over frames of codes with frame-banded attention.

Layout. A frame of ``n = h*w`` codes becomes ``N = n + 1`` tokens ``[SOF, c_1 .. c_n]``: the
start-of-frame token predicts ``c_1`` and token ``c_i`` predicts ``c_(i+1)`` (raster order), as
VideoGPT's right-shifted sequence does, but every frame owns its own first token, so a frame's
tokens never depend on how the sequence around it was cut.

Attention. Block ``l`` lets a token of frame ``t`` see every token of frames ``t - span_l .. t-1``
and, causally, the earlier tokens of frame ``t``. Time enters only as the frame distance ``d``
(a learned per-head key ``r_d`` dotted with the query, plus a per-head bias), height and width as
learned factorised embeddings. With ``sum(span_l) = context``, frame ``t``'s likelihood depends on
exactly frames ``t - context .. t`` wherever the sequence starts, so:

* a long sequence can be scored in chunks, each carrying the last ``span_l`` frames' keys and
  values of every block (the *memory*) from the chunk before;
* an online stream is the same computation with chunks of one frame, so it equals
  :meth:`ARTransformer.log_prob` and costs the same per frame at step 10 or step 10,000.

Task conditioning is a conditional LayerNorm (a per-task scale and shift, VIPER's choice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# A large negative logit for masked keys: finite, so a row of masks never makes NaN.
_MASKED = -1e30

Memory = tuple[tuple[jax.Array, jax.Array], ...]  # per block: keys, values [B, H, span, N, C]


class TaskLayerNorm(nn.Module):
    """LayerNorm whose scale and shift are looked up per task (conditional LayerNorm)."""

    num_tasks: int
    eps: float = 1e-6

    @nn.compact
    def __call__(self, x: jax.Array, task: jax.Array) -> jax.Array:
        features = x.shape[-1]
        # Small random per-task tables (VIPER uses a bias-free Dense of the one-hot task id).
        scale = self.param("scale", nn.initializers.normal(0.02), (self.num_tasks, features))
        shift = self.param("shift", nn.initializers.normal(0.02), (self.num_tasks, features))
        mean = x.mean(-1, keepdims=True)
        var = jnp.square(x - mean).mean(-1, keepdims=True)
        y = (x - mean) * jax.lax.rsqrt(var + self.eps)
        extra = (1,) * (x.ndim - 2)
        gain = (1.0 + scale[task]).reshape(task.shape[0], *extra, features)
        return y * gain + shift[task].reshape(task.shape[0], *extra, features)


class FrameAttention(nn.Module):
    """Multi-head attention of frames over themselves and the ``span`` frames before each.

    Keys and values are laid out ``[B, H, frames, N, C]`` (heads before frames) so a frame's
    keys form one contiguous block and every product is a batched matmul over ``(B, H, ...)``.
    """

    heads: int
    span: int
    dropout: float

    @nn.compact
    def __call__(
        self,
        x: jax.Array,
        memory: tuple[jax.Array, jax.Array],
        memory_valid: jax.Array | None,
        train: bool,
        ring: tuple[jax.Array, jax.Array, int] | None = None,
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        """``x [B,T,N,D]`` -> (output ``[B,T,N,D]``, new memory).

        Chunk mode (``ring`` None): ``memory`` holds the ``span`` frames before the chunk in time
        order, ``memory_valid bool[B,span]`` says which exist; the new memory is the last ``span``
        frames. Ring mode (``T == 1``, the stream): ``memory`` is a ring of ``span`` slots and
        ``ring = (count, seen, skip)``: this frame is number ``count`` of its frame-skip chain
        (slot ``count % span`` is overwritten), ``seen int32[B]`` counts each env's frames since
        its reset (a slot exists if its frame is no older than that).
        """
        batch, frames, tokens, width = x.shape
        heads, head_dim = self.heads, width // self.heads
        init = nn.initializers.normal(0.02)
        qkv = nn.DenseGeneral((3, heads, head_dim), kernel_init=init, name="qkv")(x)
        qkv = qkv.transpose(3, 0, 4, 1, 2, 5)  # [3, B, H, T, N, C]
        q, k, v = qkv[0] * (head_dim**-0.5), qkv[1], qkv[2]
        time_key = self.param("time_key", init, (self.span + 1, heads, head_dim))
        time_bias = self.param("time_bias", nn.initializers.zeros, (self.span + 1, heads))
        # [B, H, T, N, span+1]: how much a query wants a frame at distance d, whatever its content.
        rel = jnp.einsum("bhtqc,dhc->bhtqd", q, time_key) + time_bias.T[None, :, None, None, :]
        dropout = nn.Dropout(self.dropout, deterministic=not train)
        if ring is None:
            out, new_memory = self._chunk(q, k, v, rel, memory, memory_valid, dropout)
        else:
            out, new_memory = self._ring(q, k, v, rel, memory, ring)
        out = out.transpose(0, 2, 3, 1, 4)  # [B, T, N, H, C]
        return nn.DenseGeneral(width, axis=(-2, -1), kernel_init=init, name="out")(out), new_memory

    def _chunk(self, q, k, v, rel, memory, memory_valid, dropout):
        batch, heads, frames, tokens, head_dim = q.shape
        span = self.span
        k_all = jnp.concatenate([memory[0], k], axis=2)  # [B, H, span+T, N, C]
        v_all = jnp.concatenate([memory[1], v], axis=2)
        valid = jnp.concatenate([memory_valid, jnp.ones((batch, frames), bool)], axis=1)

        def band(a, axis):  # for each query frame t, the frames at distance 0..span, stacked
            return jnp.stack(
                [jax.lax.slice_in_dim(a, span - d, span - d + frames, axis=axis) for d in range(span + 1)], axis + 1
            )

        keys = band(k_all, 2).reshape(batch, heads, frames, (span + 1) * tokens, head_dim)
        values = band(v_all, 2).reshape(batch, heads, frames, (span + 1) * tokens, head_dim)
        ok = band(valid, 1)[:, None, :, None, :, None]  # [B, 1, T, 1, span+1, 1]
        causal = jnp.ones((span + 1, tokens, tokens), bool).at[0].set(jnp.tril(jnp.ones((tokens, tokens), bool)))
        logits = jnp.einsum("bhtqc,bhtkc->bhtqk", q, keys).reshape(batch, heads, frames, tokens, span + 1, tokens)
        logits = jnp.where(ok & causal.transpose(1, 0, 2), logits + rel[..., None], _MASKED)
        probs = jax.nn.softmax(logits.reshape(batch, heads, frames, tokens, (span + 1) * tokens), axis=-1)
        out = jnp.einsum("bhtqk,bhtkc->bhtqc", dropout(probs), values)
        return out, (k_all[:, :, frames:], v_all[:, :, frames:])

    def _ring(self, q, k, v, rel, memory, ring):
        count, seen, skip = ring
        batch, heads, _, tokens, head_dim = q.shape
        span = self.span
        q, k, v, rel = q[:, :, 0], k[:, :, 0], v[:, :, 0], rel[:, :, 0]  # one frame
        causal = jnp.where(jnp.tril(jnp.ones((tokens, tokens), bool)), 0.0, _MASKED)
        own = jnp.einsum("bhqc,bhkc->bhqk", q, k) + (rel[..., :1] + causal)
        if span == 0:
            return jnp.einsum("bhqk,bhkc->bhqc", jax.nn.softmax(own, axis=-1), v)[:, :, None], memory
        slots = jnp.arange(span)
        distance = (count - slots - 1) % span + 1  # chain steps back to the frame in each slot
        hidden = jnp.where(distance[None, :] * skip <= seen[:, None], 0.0, _MASKED)  # [B, span]
        # The time term per slot: a [span+1, span] one-hot product (a gather inside the fused
        # elementwise pass over the logits is slow on CPU).
        bias = jnp.einsum("bhqd,sd->bhqs", rel, jax.nn.one_hot(distance, span + 1, dtype=rel.dtype))
        bias = bias + hidden[:, None, None, :]
        past_k = memory[0].reshape(batch, heads, span * tokens, head_dim)
        past_v = memory[1].reshape(batch, heads, span * tokens, head_dim)
        past = jnp.einsum("bhqc,bhkc->bhqk", q, past_k).reshape(batch, heads, tokens, span, tokens) + bias[..., None]
        # Softmax over [past slots, own frame] without concatenating the two logit blocks.
        top = jnp.maximum(past.max(axis=(-2, -1)), own.max(axis=-1))[..., None]
        past = jnp.exp(past - top[..., None]).reshape(batch, heads, tokens, span * tokens)
        own = jnp.exp(own - top)
        total = past.sum(-1, keepdims=True) + own.sum(-1, keepdims=True)
        out = jnp.einsum("bhqk,bhkc->bhqc", past, past_v) + jnp.einsum("bhqk,bhkc->bhqc", own, v)
        out = out / total
        slot = count % span
        new_memory = (
            jax.lax.dynamic_update_index_in_dim(memory[0], k, slot, axis=2),
            jax.lax.dynamic_update_index_in_dim(memory[1], v, slot, axis=2),
        )
        return out[:, :, None], new_memory


class Block(nn.Module):
    """Pre-LayerNorm transformer block: frame attention, then an MLP."""

    heads: int
    span: int
    mlp_width: int
    num_tasks: int
    dropout: float
    attention_dropout: float

    @nn.compact
    def __call__(
        self,
        x: jax.Array,
        task: jax.Array,
        memory: tuple[jax.Array, jax.Array],
        memory_valid: jax.Array | None,
        train: bool,
        ring: tuple[jax.Array, jax.Array, int] | None = None,
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        init = nn.initializers.normal(0.02)
        h = TaskLayerNorm(self.num_tasks, name="norm_attention")(x, task)
        h, new_memory = FrameAttention(self.heads, self.span, self.attention_dropout, name="attention")(
            h, memory, memory_valid, train, ring
        )
        x = x + nn.Dropout(self.dropout)(h, deterministic=not train)
        h = TaskLayerNorm(self.num_tasks, name="norm_mlp")(x, task)
        h = nn.Dense(self.mlp_width, kernel_init=init, name="mlp_in")(h)
        h = nn.gelu(h)
        h = nn.Dense(x.shape[-1], kernel_init=init, name="mlp_out")(h)
        x = x + nn.Dropout(self.dropout)(h, deterministic=not train)
        return x, new_memory


class FrameTransformer(nn.Module):
    """Per-frame log-likelihoods of chunks of code frames, carrying a memory between chunks."""

    vocab_size: int
    grid: tuple[int, int]
    num_tasks: int
    width: int
    heads: int
    mlp_width: int
    spans: tuple[int, ...]
    dropout: float = 0.0
    attention_dropout: float = 0.0

    @property
    def tokens(self) -> int:
        return self.grid[0] * self.grid[1] + 1

    @property
    def memory_frames(self) -> int:
        """Frames of validity flags a memory carries (the widest span)."""
        return max(self.spans) if self.spans else 0

    def empty_memory(self, batch: int) -> tuple[Memory, jax.Array]:
        """A memory holding nothing (every frame invalid): the start of an episode."""
        head_dim = self.width // self.heads
        memory = tuple(
            (
                jnp.zeros((batch, self.heads, span, self.tokens, head_dim), jnp.float32),
                jnp.zeros((batch, self.heads, span, self.tokens, head_dim), jnp.float32),
            )
            for span in self.spans
        )
        return memory, jnp.zeros((batch, self.memory_frames), bool)

    @nn.compact
    def __call__(
        self,
        codes: jax.Array,
        task: jax.Array,
        memory: Memory | None = None,
        memory_valid: jax.Array | None = None,
        train: bool = False,
        ring: tuple[jax.Array, jax.Array, int] | None = None,
    ) -> tuple[jax.Array, Memory, jax.Array | None]:
        """``codes int32[B,T,n]``, ``task int32[B]`` -> (``log p`` per frame ``float32[B,T]`` in nats,
        new memory, new validity flags ``bool[B, max span]``).

        Without ``memory`` the chunk starts an episode. With ``ring = (count, seen, skip)`` (one
        frame, the stream) ``memory`` is each block's ring of cached frames, see
        :class:`FrameAttention`; validity then follows from ``seen`` and no flags are returned.
        """
        batch, frames, n = codes.shape
        if memory is None:
            memory, memory_valid = self.empty_memory(batch)
        init = nn.initializers.normal(0.02)
        embed = nn.Embed(self.vocab_size, self.width, embedding_init=init, name="code_embed")(codes)
        row = self.param("row_embed", init, (self.grid[0], self.width))
        col = self.param("col_embed", init, (self.grid[1], self.width))
        sof = self.param("start_of_frame", init, (self.width,))
        embed = embed + (row[:, None] + col[None, :]).reshape(n, self.width)
        x = jnp.concatenate([jnp.broadcast_to(sof, (batch, frames, 1, self.width)), embed], axis=2)
        x = nn.Dropout(self.dropout)(x, deterministic=not train)

        new_memory = []
        for i, span in enumerate(self.spans):
            valid = None if ring is not None else memory_valid[:, memory_valid.shape[1] - span :]
            x, layer_memory = Block(
                self.heads,
                span,
                self.mlp_width,
                self.num_tasks,
                self.dropout,
                self.attention_dropout,
                name=f"block_{i}",
            )(x, task, memory[i], valid, train, ring)
            new_memory.append(layer_memory)

        # Token i predicts code i+1; the last code's token only serves later frames.
        x = TaskLayerNorm(self.num_tasks, name="norm_out")(x[:, :, :n], task)
        logits = nn.Dense(self.vocab_size, kernel_init=init, name="head")(x)
        # A one-hot product rather than a gather: its gradient is a matmul, not a CPU scatter.
        target = jnp.sum(logits * jax.nn.one_hot(codes, self.vocab_size, dtype=logits.dtype), axis=-1)
        log_p = (target - jax.nn.logsumexp(logits, axis=-1)).sum(-1)
        if ring is not None:
            return log_p, tuple(new_memory), None
        keep = self.memory_frames
        valid = jnp.concatenate([memory_valid, jnp.ones((batch, frames), bool)], axis=1)
        return log_p, tuple(new_memory), valid[:, valid.shape[1] - keep :]


def build_network(
    config: Any, vocab_size: int, grid: Sequence[int], num_tasks: int, *, train: bool = False
) -> FrameTransformer:
    """The network for a :class:`~viper.videomodels.artransformer.config.Config`."""
    return FrameTransformer(
        vocab_size=int(vocab_size),
        grid=(int(grid[0]), int(grid[1])),
        num_tasks=int(num_tasks),
        width=config.width,
        heads=config.heads,
        mlp_width=config.mlp_width,
        spans=tuple(config.spans),
        dropout=config.dropout if train else 0.0,
        attention_dropout=config.attention_dropout if train else 0.0,
    )


#: Parameters that start at zero; every other one is drawn from normal(0, 0.02) (GPT-2's init,
#: which every module above declares as well).
ZERO_INIT = ("bias", "time_bias")


def init_params(network: FrameTransformer, seed: int) -> Any:
    """Random weights: normal(0, 0.02) matrices, embeddings and task tables; zero biases.

    Drawn with numpy over the shapes flax reports (``jax.eval_shape``): compiling the network's
    ``init`` costs seconds on a CPU, this costs milliseconds and gives the same distribution.
    """
    codes = jnp.zeros((1, 1, network.tokens - 1), jnp.int32)
    task = jnp.zeros((1,), jnp.int32)
    shapes = jax.eval_shape(lambda key: network.init(key, codes, task)["params"], jax.random.PRNGKey(0))
    rng = np.random.default_rng(seed)

    def draw(path: Any, leaf: Any) -> np.ndarray:
        if path[-1].key in ZERO_INIT:
            return np.zeros(leaf.shape, np.float32)
        return (0.02 * rng.standard_normal(leaf.shape)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def param_count(params: Any) -> int:
    return int(sum(np.prod(np.shape(x)) for x in jax.tree_util.tree_leaves(params)))
