"""Training maskgit: data parallel over every JAX device, resumable, deterministic.

Each step draws ``batch_size`` random clips of ``context + 1`` frames. The last frame of a clip
is the one filled in: a ratio ``r ~ U(0, 1)`` per clip masks ``ceil(cos(pi/2 * r) * n)`` of its
``n`` codes (MaskGIT's cosine schedule, at least one), chosen at random, and the loss is the
cross-entropy of the masked codes given the visible ones and the context. The context is cut to
a random ``0 .. context`` most recent frames per clip, so every context length the reward meets
at an episode's start is trained.

Clip sampling, the optimizer, the checkpoint layout, the data checks and the step loop are
shared (:mod:`viper.videomodels.common.train`); a checkpoint holds the weights, their EMA, the
optimizer state, the step, the random key and the sampler's state, so a killed run resumes
exactly (the step's random draws are derived from the step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from viper.core.jaxtools import to_host, training_mesh
from viper.core.jaxtools.mesh import batch_sharding, replicated_sharding
from viper.videomodels.common import train as shared
from viper.videomodels.maskgit.network import build_network, init_params, make_score

if TYPE_CHECKING:
    from viper.core.dataset import EpisodeStore
    from viper.core.workdir import StageContext
    from viper.videomodels.maskgit.config import Config
    from viper.videomodels.maskgit.model import MaskGIT


def init_state(network: Any, optimizer: optax.GradientTransformation, seed: int) -> dict[str, Any]:
    return shared.ema_state(init_params(network, seed), optimizer, seed)


def random_masks(key: jax.Array, batch: int, context: int, n: int) -> tuple[jax.Array, jax.Array]:
    """``(past_valid bool[B,context], masked bool[B,n])``: a random number of the most recent
    context frames kept, and ``ceil(cos(pi/2 * r) * n)`` random codes masked (``r ~ U(0,1)``)."""
    k_context, k_ratio, k_order = jax.random.split(key, 3)
    kept = jax.random.randint(k_context, (batch, 1), 0, context + 1)
    past_valid = jnp.arange(context)[None, :] >= context - kept
    ratio = jnp.cos(jnp.pi / 2 * jax.random.uniform(k_ratio, (batch, 1)))
    count = jnp.maximum(1.0, jnp.ceil(ratio * n))
    rank = jnp.argsort(jnp.argsort(jax.random.uniform(k_order, (batch, n)), axis=1), axis=1)
    return past_valid, rank < count


def make_train_step(network: Any, optimizer: optax.GradientTransformation, config: Config, mesh: Any) -> Any:
    """A jitted ``(state, batch) -> (state, loss)``; ``loss`` is nats per masked code. Parameters
    stay replicated, the batch is split over the mesh and XLA all-reduces the gradients."""
    context, n = config.context, network.codes_per_frame

    def step(state, batch):
        key = jax.random.fold_in(jax.random.wrap_key_data(state["rng"], impl=shared.DROPOUT_RNG), state["step"])
        mask_key, dropout_key = jax.random.split(key)
        codes = batch["codes"]
        past, target = codes[:, :context], codes[:, context]
        past_valid, masked = random_masks(mask_key, codes.shape[0], context, n)

        def loss_fn(params):
            logits = network.apply(
                {"params": params}, past, past_valid, target, masked, batch["task"], train=True,
                rngs={"dropout": dropout_key},
            )  # fmt: skip
            log_p = jax.nn.log_softmax(logits, axis=-1)
            nll = -jnp.sum(log_p * jax.nn.one_hot(target, network.vocab_size, dtype=log_p.dtype), axis=-1)
            return jnp.sum(jnp.where(masked, nll, 0.0)) / jnp.sum(masked)

        loss, grads = jax.value_and_grad(loss_fn)(state["params"])
        return shared.ema_step(state, grads, optimizer, config.ema_decay), loss

    return shared.jit_train_step(step, mesh)


def make_eval_step(network: Any, config: Config, mesh: Any) -> Any:
    """A jitted ``(params, batch) -> summed nats``: the ``score_steps`` estimate of each clip's last
    frame given its full context (what the reward computes)."""
    score, context = make_score(network, config.score_steps), config.context

    def evaluate(params, batch):
        codes = batch["codes"]
        valid = jnp.ones((codes.shape[0], context), bool)
        return -score(params, codes[:, :context], valid, codes[:, context], batch["task"]).sum()

    return jax.jit(evaluate, in_shardings=(replicated_sharding(mesh), batch_sharding(mesh)))


def fit(model: MaskGIT, train: EpisodeStore, val: EpisodeStore, ctx: StageContext) -> tuple[Any, dict[str, float]]:
    """Train ``model`` (its shape already set); returns (EMA weights, final metrics)."""
    config = model.config
    shared.check_data(model, train, val, 1, "context")
    mesh = training_mesh(config.batch_size, "video_model.batch_size", config.distributed())
    network = build_network(config, model.vocab_size, model.code_grid, model.num_tasks, train=True)
    optimizer = shared.make_optimizer(config)
    train_step = make_train_step(network, optimizer, config, mesh)
    eval_step = make_eval_step(model.network, config, mesh)
    codes_per_frame = network.codes_per_frame

    def validate(state: Any, batches: list[dict[str, np.ndarray]]) -> float:
        # the clips' last frames carry the loss
        return shared.val_bits_per_code(eval_step, state["ema"], batches, mesh, codes_per_frame, 1)

    state, last = shared.run_training(
        model, train, val, ctx, mesh, init_state(network, optimizer, int(ctx.seed)), train_step,
        stride=1,
        train_metric=("train_bits_per_code", shared.mean_bits),
        validate=("val_bits_per_code", validate),
        postfix=shared.bits_postfix,
    )  # fmt: skip
    return to_host(state["ema"]), last
