"""Training the latent predictor (BYOL-style): data parallel over every JAX device, resumable.

Each step draws ``batch_size`` random clips of ``seq_len`` frames and minimises, for every frame
of every clip, ``2 - 2 cos`` between the online prediction from the frames before it in the clip
(start slots for the missing ones, so contexts of every length are trained) and the target
encoder's embedding of the frame, taken with a stop-gradient. After each optimizer step the
target encoder moves towards the online encoder by ``target_decay`` (an exponential moving
average), which is what keeps the embeddings from collapsing to a constant (BYOL).

Clip sampling, the optimizer, the checkpoint layout, the data checks and the step loop are
shared (:mod:`viper.videomodels.common.train`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from viper.core.jaxtools import ema_update, shard_batch, to_host, training_mesh
from viper.core.jaxtools.mesh import batch_sharding, replicated_sharding
from viper.videomodels.common import train as shared

if TYPE_CHECKING:
    from viper.core.dataset import EpisodeStore
    from viper.core.workdir import StageContext
    from viper.videomodels.latentpredictor.model import LatentPredictor
    from viper.videomodels.latentpredictor.network import Network


def init_state(network: Network, optimizer: optax.GradientTransformation, seed: int) -> dict[str, Any]:
    params = network.init(seed)
    return {
        "params": params["online"],
        "target": params["target"],
        "opt_state": optimizer.init(params["online"]),
        "step": jnp.zeros((), jnp.int32),
    }


def make_train_step(network: Network, optimizer: optax.GradientTransformation, target_decay: float, mesh: Any) -> Any:
    """A jitted ``(state, batch) -> (state, error)``; ``error`` is the mean ``2 - 2 cos``."""

    def step(state, batch):
        def loss_fn(online):
            return -network.scores({"online": online, "target": state["target"]}, batch["codes"], batch["task"]).mean()

        loss, grads = jax.value_and_grad(loss_fn)(state["params"])
        updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        new_state = {
            "params": params,
            "target": ema_update(state["target"], params["encoder"], target_decay),
            "opt_state": opt_state,
            "step": state["step"] + 1,
        }
        return new_state, loss

    return shared.jit_train_step(step, mesh)


def make_eval_step(network: Network, mesh: Any) -> Any:
    """A jitted ``(online, target, batch) -> summed 2 - 2 cos`` over the batch's frames."""

    def evaluate(online, target, batch):
        return -network.scores({"online": online, "target": target}, batch["codes"], batch["task"]).sum()

    replicated = replicated_sharding(mesh)
    return jax.jit(evaluate, in_shardings=(replicated, replicated, batch_sharding(mesh)))


def fit(
    model: LatentPredictor, train: EpisodeStore, val: EpisodeStore, ctx: StageContext
) -> tuple[Any, dict[str, float]]:
    """Train ``model`` (its shape already set); returns (``{"online", "target"}`` weights, metrics)."""
    config, network = model.config, model.network
    shared.check_data(model, train, val, 1, "seq_len")
    mesh = training_mesh(config.batch_size, "video_model.batch_size", config.distributed())
    optimizer = shared.make_optimizer(config)
    train_step = make_train_step(network, optimizer, config.target_decay, mesh)
    eval_step = make_eval_step(network, mesh)

    def validate(state: Any, batches: list[dict[str, np.ndarray]]) -> float:
        total = sum(float(eval_step(state["params"], state["target"], shard_batch(b, mesh))) for b in batches)
        frames = sum(b["codes"].shape[0] * b["codes"].shape[1] for b in batches) * jax.process_count()
        return total / frames

    state, last = shared.run_training(
        model, train, val, ctx, mesh, init_state(network, optimizer, int(ctx.seed)), train_step,
        stride=1,
        train_metric=("train_error", lambda errors: float(np.mean(errors))),
        validate=("val_error", validate),
        postfix=lambda name, value: (name, f"{value:.4f}"),
    )  # fmt: skip
    return to_host({"online": state["params"], "target": state["target"]}), last
