"""Training the ar-transformer: data parallel over every JAX device, resumable, deterministic.

Each step draws ``batch_size`` random clips of ``seq_len`` frames (stride ``frame_skip``) and
minimises the negative log-likelihood of every frame of every clip given the frames before it in
the clip. Frame ``j`` of a clip therefore has a context of ``j`` frames: contexts of every length
``0 .. seq_len - 1`` (an episode's start included) are trained equally, which is what the reward
meets at the start of an episode.

A checkpoint holds the weights, their EMA, the optimizer state, the step, the dropout key and the
clip sampler's state, so a run killed at any point and restarted continues exactly as if it had
never stopped (the dropout key is derived from the step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import numpy as np
import optax

from viper.core.jaxtools import to_host, training_mesh
from viper.core.jaxtools.mesh import batch_sharding, replicated_sharding
from viper.videomodels.common import train as shared

if TYPE_CHECKING:
    from viper.core.dataset import EpisodeStore
    from viper.core.workdir import StageContext
    from viper.videomodels.artransformer.compiled import CompiledNetwork
    from viper.videomodels.artransformer.config import Config
    from viper.videomodels.artransformer.model import ARTransformer


def init_state(network: Any, optimizer: optax.GradientTransformation, seed: int) -> dict[str, Any]:
    from viper.videomodels.artransformer.network import init_params

    return shared.ema_state(init_params(network, seed), optimizer, seed)


def make_train_step(network: Any, optimizer: optax.GradientTransformation, config: Config, mesh: Any) -> Any:
    """A jitted ``(state, batch) -> (state, loss)``; ``loss`` is nats per code. Parameters stay
    replicated, the batch is split over the mesh and XLA all-reduces the gradients."""
    codes_per_frame = network.tokens - 1

    def step(state, batch):
        key = jax.random.fold_in(jax.random.wrap_key_data(state["rng"], impl=shared.DROPOUT_RNG), state["step"])

        def loss_fn(params):
            log_p, _, _ = network.apply(
                {"params": params}, batch["codes"], batch["task"], train=True, rngs={"dropout": key}
            )
            return -log_p.mean() / codes_per_frame

        loss, grads = jax.value_and_grad(loss_fn)(state["params"])
        return shared.ema_step(state, grads, optimizer, config.ema_decay), loss

    return shared.jit_train_step(step, mesh)


def make_eval_step(network: Any, mesh: Any) -> Any:
    """A jitted ``(params, batch) -> summed nats`` over the batch's frames (no dropout)."""

    def evaluate(params, batch):
        log_p, _, _ = network.apply({"params": params}, batch["codes"], batch["task"])
        return -log_p.sum()

    return jax.jit(evaluate, in_shardings=(replicated_sharding(mesh), batch_sharding(mesh)))


def training_functions(compiled: CompiledNetwork, mesh: Any) -> tuple[Any, Any, Any, Any]:
    """``(network, optimizer, train_step, eval_step)`` for ``compiled`` on ``mesh``, built once
    per mesh and kept with the compiled network."""

    def build() -> tuple[Any, Any, Any, Any]:
        network, optimizer = compiled.train_network, shared.make_optimizer(compiled.config)
        train_step = make_train_step(network, optimizer, compiled.config, mesh)
        return network, optimizer, train_step, make_eval_step(compiled.network, mesh)

    return compiled.function(("train", mesh), build)


def fit(
    model: ARTransformer, train: EpisodeStore, val: EpisodeStore, ctx: StageContext
) -> tuple[Any, dict[str, float]]:
    """Train ``model`` (its shape already set); returns (EMA weights, final metrics)."""
    config = model.config
    shared.check_data(model, train, val, config.frame_skip, "seq_len")
    mesh = training_mesh(config.batch_size, "video_model.batch_size", config.distributed())
    network, optimizer, train_step, eval_step = training_functions(model.compiled, mesh)
    codes_per_frame = model.code_grid[0] * model.code_grid[1]

    def validate(state: Any, batches: list[dict[str, np.ndarray]]) -> float:
        return shared.val_bits_per_code(eval_step, state["ema"], batches, mesh, codes_per_frame, None)

    state, last = shared.run_training(
        model, train, val, ctx, mesh, init_state(network, optimizer, int(ctx.seed)), train_step,
        stride=config.frame_skip,
        train_metric=("train_bits_per_code", shared.mean_bits),
        validate=("val_bits_per_code", validate),
        postfix=shared.bits_postfix,
    )  # fmt: skip
    return to_host(state["ema"]), last
