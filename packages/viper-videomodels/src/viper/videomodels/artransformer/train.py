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

import math
import sys
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from viper.core.atomic import atomic_write_json, read_json
from viper.core.checks import check_codes
from viper.core.errors import ContractError, DatasetError, WorkdirError
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

if TYPE_CHECKING:
    from viper.core.dataset import EpisodeStore
    from viper.core.workdir import StageContext
    from viper.videomodels.artransformer.compiled import CompiledNetwork
    from viper.videomodels.artransformer.config import Config
    from viper.videomodels.artransformer.model import ARTransformer

CHECKPOINTS = "checkpoints"
#: Dropout masks come from XLA's RngBitGenerator: on CPU every threefry dropout site costs
#: seconds of compile time, and its bits are the same however the batch is sharded (tested).
DROPOUT_RNG = "rbg"


class ClipSampler:
    """Random training clips from an episode store, with a saveable random state."""

    def __init__(self, store: EpisodeStore, batch: int, length: int, stride: int, seed: int, process: int) -> None:
        self.store, self.batch, self.length, self.stride = store, batch, length, stride
        self.rng = np.random.default_rng([seed, process, 1])

    def sample(self) -> dict[str, np.ndarray]:
        clips, tasks = self.store.sample_clips(self.rng, self.batch, self.length, self.stride)
        return {"codes": clips.reshape(self.batch, self.length, -1).astype(np.int32), "task": tasks.astype(np.int32)}

    def state(self) -> dict[str, Any]:
        return self.rng.bit_generator.state

    def restore(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state


def make_optimizer(config: Config) -> optax.GradientTransformation:
    """AdamW (decay on weight matrices and embeddings only) after global-norm clipping.

    Adam's moments run on one flattened vector: the same arithmetic as per-leaf Adam, in a few
    large fused loops instead of one small loop per parameter (much faster to compile on CPU).
    """
    lr: Any = config.learning_rate
    if config.warmup_steps > 0:
        lr = optax.linear_schedule(0.0, config.learning_rate, config.warmup_steps)

    def decay_mask(params: Any) -> Any:
        return jax.tree_util.tree_map_with_path(lambda path, _: path[-1].key in ("kernel", "embedding"), params)

    parts = [optax.clip_by_global_norm(config.grad_clip)] if config.grad_clip > 0 else []
    parts += [
        optax.flatten(optax.scale_by_adam()),
        optax.add_decayed_weights(config.weight_decay, mask=decay_mask),
        optax.scale_by_learning_rate(lr),
    ]
    return optax.chain(*parts)


def init_state(network: Any, optimizer: optax.GradientTransformation, seed: int) -> dict[str, Any]:
    from viper.videomodels.artransformer.network import init_params

    params = init_params(network, seed)
    return {
        "params": params,
        "ema": jax.tree_util.tree_map(jnp.array, params),
        "opt_state": optimizer.init(params),
        "step": jnp.zeros((), jnp.int32),
        "rng": jax.random.key_data(jax.random.key(seed + 1, impl=DROPOUT_RNG)),
    }


def make_train_step(network: Any, optimizer: optax.GradientTransformation, config: Config, mesh: Any) -> Any:
    """A jitted ``(state, batch) -> (state, loss)``; ``loss`` is nats per code. Parameters stay
    replicated, the batch is split over the mesh and XLA all-reduces the gradients."""
    codes_per_frame = network.tokens - 1

    def step(state, batch):
        key = jax.random.fold_in(jax.random.wrap_key_data(state["rng"], impl=DROPOUT_RNG), state["step"])

        def loss_fn(params):
            log_p, _, _ = network.apply(
                {"params": params}, batch["codes"], batch["task"], train=True, rngs={"dropout": key}
            )
            return -log_p.mean() / codes_per_frame

        loss, grads = jax.value_and_grad(loss_fn)(state["params"])
        updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        count = state["step"] + 1
        decay = jnp.minimum(config.ema_decay, (1.0 + count) / (10.0 + count))
        new_state = {
            "params": params,
            "ema": ema_update(state["ema"], params, decay),
            "opt_state": opt_state,
            "step": count,
            "rng": state["rng"],
        }
        return new_state, loss

    replicated, split = replicated_sharding(mesh), batch_sharding(mesh)
    return jax.jit(step, in_shardings=(replicated, split), out_shardings=(replicated, replicated), donate_argnums=0)


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
        network, optimizer = compiled.train_network, make_optimizer(compiled.config)
        train_step = make_train_step(network, optimizer, compiled.config, mesh)
        return network, optimizer, train_step, make_eval_step(compiled.network, mesh)

    return compiled.function(("train", mesh), build)


def check_store(store: EpisodeStore, name: str, vocab_size: int, grid: tuple[int, int], num_tasks: int) -> None:
    """Every episode must hold ``int[T,h,w]`` codes in range, with a known task id."""
    for i, codes in enumerate(store.arrays):
        try:
            check_codes(codes, f"{name} episode {i}", ndim=3, vocab_size=vocab_size, grid=grid)
        except ContractError as exc:
            raise DatasetError(f"{exc} (re-encode the dataset with this tokenizer)") from exc
    ids = np.asarray(store.task_ids)
    if ids.size and (ids.min() < 0 or ids.max() >= num_tasks):
        raise DatasetError(f"{name} episodes: task ids {sorted(set(ids.tolist()))} outside the {num_tasks} known tasks")


def fixed_val_batches(
    val: EpisodeStore, config: Config, batch: int, seed: int, process: int
) -> list[dict[str, np.ndarray]]:
    """The same validation clips at every evaluation (empty when ``val`` has no full clip)."""
    if not len(val) or val.lengths.max() < (config.seq_len - 1) * config.frame_skip + 1:
        return []
    sampler = ClipSampler(val, batch, config.seq_len, config.frame_skip, seed, process)
    sampler.rng = np.random.default_rng([seed, process, 2])
    return [sampler.sample() for _ in range(config.eval_batches)]


def sampler_path(manager: CheckpointManager, step: int, process: int) -> Any:
    return manager.directory / f"sampler_{step:08d}_process{process}.json"


def save_checkpoint(
    manager: CheckpointManager,
    step: int,
    state: dict[str, Any],
    sampler: ClipSampler,
    description: dict[str, Any],
    metrics: dict[str, float],
    process: int,
) -> None:
    """Process 0 writes the (replicated) state with its sampler's state; every other process
    writes only its own sampler state beside it (each host draws its own share of the batch)."""
    tree = to_host(state)
    if process == 0:
        manager.save(step, tree, {"model": description, "sampler": sampler.state(), "metrics": metrics})
    else:
        atomic_write_json(sampler_path(manager, step, process), sampler.state())


def check_data(model: ARTransformer, train: EpisodeStore, val: EpisodeStore) -> None:
    """Both splits hold codes of this model's vocabulary and grid; training episodes hold a clip."""
    config, grid, vocab = model.config, model.code_grid, model.vocab_size
    check_store(train, "train", vocab, grid, model.num_tasks)
    if len(val):
        check_store(val, "val", vocab, grid, model.num_tasks)
    try:
        train.check_length(config.seq_len, config.frame_skip, "training clip")
    except DatasetError as exc:
        raise DatasetError(
            f"ar-transformer: {exc}; collect longer episodes or lower --set video_model.seq_len"
        ) from exc


def restore(
    manager: CheckpointManager, state: Any, sampler: ClipSampler, description: dict[str, Any], process: int
) -> tuple[Any, dict[str, float]]:
    """``(state, metrics)`` of the newest checkpoint (restoring ``sampler`` too), or ``(state, {})``
    when there is none; a checkpoint of another model or dataset is refused."""
    restored = manager.restore(template=to_host(state))
    if restored is None:
        return state, {}
    step, state, meta = restored
    if meta.get("model") != description:
        raise WorkdirError(
            f"{manager.path(step)}: checkpoint of another model or dataset ({meta.get('model')}); "
            f"delete {manager.directory} to train from scratch"
        )
    sampler.restore(meta["sampler"] if process == 0 else read_json(sampler_path(manager, step, process)))
    print(f"ar-transformer: resuming from step {step}", file=sys.stderr)
    return state, dict(meta.get("metrics", {}))


def val_bits_per_code(
    eval_step: Any, params: Any, batches: list[dict[str, np.ndarray]], mesh: Any, codes: int
) -> float:
    """Bits per code of the fixed validation clips (every process's share), ``codes`` per frame."""
    total = sum(float(eval_step(params, shard_batch(b, mesh))) for b in batches)
    frames = sum(b["codes"].shape[0] * b["codes"].shape[1] for b in batches) * jax.process_count()
    return total / (frames * codes) / math.log(2)


def fit(
    model: ARTransformer, train: EpisodeStore, val: EpisodeStore, ctx: StageContext
) -> tuple[Any, dict[str, float]]:
    """Train ``model`` (its shape already set); returns (EMA weights, final metrics)."""
    config = model.config
    check_data(model, train, val)
    mesh = training_mesh(config.batch_size, "video_model.batch_size", config.distributed())
    local_batch = config.batch_size // jax.process_count()
    seed, process = int(ctx.seed), jax.process_index()
    network, optimizer, train_step, eval_step = training_functions(model.compiled, mesh)
    sampler = ClipSampler(train, local_batch, config.seq_len, config.frame_skip, seed, process)
    manager = CheckpointManager(ctx.directory / CHECKPOINTS, keep=config.keep_checkpoints)
    description = model.describe()
    state, last = restore(manager, init_state(network, optimizer, seed), sampler, description, process)
    state = replicate(state, mesh)
    val_batches = fixed_val_batches(val, config, local_batch, seed, process)
    if not val_batches:
        print("ar-transformer: no validation episode holds a full clip; logging train metrics only", file=sys.stderr)
    codes_per_frame = model.code_grid[0] * model.code_grid[1]

    start = int(jax.device_get(state["step"]))
    losses: list[float] = []
    bar = progress_bar(
        range(start, config.steps),
        initial=start,
        total=config.steps,
        desc="fit ar-transformer",
        unit="step",
        enabled=ctx.progress,
    )
    for index in bar:
        state, loss = train_step(state, shard_batch(sampler.sample(), mesh))
        done = index + 1
        losses.append(assert_finite(loss, "ar-transformer training loss", done))
        checkpoint = done % config.checkpoint_every == 0 or done == config.steps
        # Logging windows close at every checkpoint, so a resumed run logs the same numbers.
        if done % config.log_every == 0 or checkpoint:
            last["train_bits_per_code"] = float(np.mean(losses)) / math.log(2)
            record = {"train_bits_per_code": last["train_bits_per_code"]}
            if val_batches and (done % config.eval_every == 0 or done == config.steps):
                bits = val_bits_per_code(eval_step, state["ema"], val_batches, mesh, codes_per_frame)
                last["val_bits_per_code"] = record["val_bits_per_code"] = bits
            ctx.metrics.log(done, record)
            bar.set_postfix({k.replace("_bits_per_code", ""): f"{v:.3f}" for k, v in record.items()})
            losses = []
        if checkpoint:
            save_checkpoint(manager, done, state, sampler, description, last, process)
    bar.close()
    last["steps"] = float(config.steps)
    return to_host(state["ema"]), last
