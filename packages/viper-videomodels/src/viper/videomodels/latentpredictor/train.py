"""Training the latent predictor (BYOL-style): data parallel over every JAX device, resumable.

Each step draws ``batch_size`` random clips of ``seq_len`` frames and minimises, for every frame
of every clip, ``2 - 2 cos`` between the online prediction from the frames before it in the clip
(start slots for the missing ones, so contexts of every length are trained) and the target
encoder's embedding of the frame, taken with a stop-gradient. After each optimizer step the
target encoder moves towards the online encoder by ``target_decay`` (an exponential moving
average), which is what keeps the embeddings from collapsing to a constant (BYOL).

Clip sampling, the optimizer and the data checks are the ar-transformer's
(:mod:`viper.videomodels.artransformer.train`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from viper.core.errors import DatasetError, WorkdirError
from viper.core.jaxtools import (
    CheckpointManager,
    assert_finite,
    ema_update,
    replicate,
    shard_batch,
    to_host,
    training_mesh,
)
from viper.core.jaxtools.mesh import batch_sharding, replicated_sharding
from viper.core.progress import progress_bar
from viper.videomodels.artransformer.train import ClipSampler, check_store, make_optimizer, save_checkpoint

if TYPE_CHECKING:
    from viper.core.dataset import EpisodeStore
    from viper.core.workdir import StageContext
    from viper.videomodels.latentpredictor.model import LatentPredictor
    from viper.videomodels.latentpredictor.network import Network

CHECKPOINTS = "checkpoints"


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

    replicated, split = replicated_sharding(mesh), batch_sharding(mesh)
    return jax.jit(step, in_shardings=(replicated, split), out_shardings=(replicated, replicated), donate_argnums=0)


def make_eval_step(network: Network, mesh: Any) -> Any:
    """A jitted ``(online, target, batch) -> summed 2 - 2 cos`` over the batch's frames."""

    def evaluate(online, target, batch):
        return -network.scores({"online": online, "target": target}, batch["codes"], batch["task"]).sum()

    replicated = replicated_sharding(mesh)
    return jax.jit(evaluate, in_shardings=(replicated, replicated, batch_sharding(mesh)))


def check_data(model: LatentPredictor, train: EpisodeStore, val: EpisodeStore) -> None:
    """Both splits hold codes of this model's vocabulary and grid; training episodes hold a clip."""
    check_store(train, "train", model.vocab_size, model.code_grid, model.num_tasks)
    if len(val):
        check_store(val, "val", model.vocab_size, model.code_grid, model.num_tasks)
    try:
        train.check_length(model.config.seq_len, 1, "training clip")
    except DatasetError as exc:
        raise DatasetError(
            f"latent-predictor: {exc}; collect longer episodes or lower --set video_model.seq_len"
        ) from exc


def restore(
    manager: CheckpointManager, state: Any, sampler: ClipSampler, description: dict[str, Any]
) -> tuple[Any, dict[str, float]]:
    """``(state, metrics)`` of the newest checkpoint (restoring ``sampler`` too), or ``(state, {})``;
    a checkpoint of another model or dataset is refused."""
    from viper.core.atomic import read_json
    from viper.videomodels.artransformer.train import sampler_path

    restored = manager.restore(template=to_host(state))
    if restored is None:
        return state, {}
    step, state, meta = restored
    if meta.get("model") != description:
        raise WorkdirError(
            f"{manager.path(step)}: checkpoint of another model or dataset ({meta.get('model')}); "
            f"delete {manager.directory} to train from scratch"
        )
    process = jax.process_index()
    sampler.restore(meta["sampler"] if process == 0 else read_json(sampler_path(manager, step, process)))
    print(f"latent-predictor: resuming from step {step}", file=sys.stderr)
    return state, dict(meta.get("metrics", {}))


def fit(
    model: LatentPredictor, train: EpisodeStore, val: EpisodeStore, ctx: StageContext
) -> tuple[Any, dict[str, float]]:
    """Train ``model`` (its shape already set); returns (``{"online", "target"}`` weights, metrics)."""
    config, network = model.config, model.network
    check_data(model, train, val)
    mesh = training_mesh(config.batch_size, "video_model.batch_size", config.distributed())
    local_batch = config.batch_size // jax.process_count()
    seed, process = int(ctx.seed), jax.process_index()
    optimizer = make_optimizer(config)
    train_step = make_train_step(network, optimizer, config.target_decay, mesh)
    eval_step = make_eval_step(network, mesh)
    sampler = ClipSampler(train, local_batch, config.seq_len, 1, seed, process)
    manager = CheckpointManager(ctx.directory / CHECKPOINTS, keep=config.keep_checkpoints)
    description = model.describe()
    state, last = restore(manager, init_state(network, optimizer, seed), sampler, description)
    state = replicate(state, mesh)
    val_batches = []
    if len(val) and val.lengths.max() >= config.seq_len:
        val_sampler = ClipSampler(val, local_batch, config.seq_len, 1, seed, process)
        val_sampler.rng = np.random.default_rng([seed, process, 2])
        val_batches = [val_sampler.sample() for _ in range(config.eval_batches)]
    else:
        print("latent-predictor: no validation episode holds a full clip; logging train metrics only", file=sys.stderr)

    start = int(jax.device_get(state["step"]))
    errors: list[float] = []
    bar = progress_bar(
        range(start, config.steps), initial=start, total=config.steps, desc="fit latent-predictor", unit="step",
        enabled=ctx.progress,
    )  # fmt: skip
    for index in bar:
        state, error = train_step(state, shard_batch(sampler.sample(), mesh))
        done = index + 1
        errors.append(assert_finite(error, "latent-predictor training loss", done))
        checkpoint = done % config.checkpoint_every == 0 or done == config.steps
        if done % config.log_every == 0 or checkpoint:
            last["train_error"] = float(np.mean(errors))
            record = {"train_error": last["train_error"]}
            if val_batches and (done % config.eval_every == 0 or done == config.steps):
                total = sum(
                    float(eval_step(state["params"], state["target"], shard_batch(b, mesh))) for b in val_batches
                )
                frames = sum(b["codes"].shape[0] * b["codes"].shape[1] for b in val_batches) * jax.process_count()
                last["val_error"] = record["val_error"] = total / frames
            ctx.metrics.log(done, record)
            bar.set_postfix({k: f"{v:.4f}" for k, v in record.items()})
            errors = []
        if checkpoint:
            save_checkpoint(manager, done, state, sampler, description, last, process)
    bar.close()
    last["steps"] = float(config.steps)
    return to_host({"online": state["params"], "target": state["target"]}), last
