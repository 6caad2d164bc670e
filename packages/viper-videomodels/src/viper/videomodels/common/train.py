"""Training pieces the code-sequence video models share: clip sampling with a saveable random
state, the optimizer, the data checks, resumable checkpoints (the weights' state, the sampler's
state, the last metrics) and the step loop with its logging and checkpoint windows.

A run killed at any point and restarted continues exactly as if it had never stopped: the loop
logs and checkpoints at steps that do not depend on where it resumed, and every random draw of a
step is derived from the checkpointed state.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from viper.core.checks import check_codes
from viper.core.dataset import process_rows
from viper.core.errors import ContractError, DatasetError, WorkdirError
from viper.core.jaxtools import CheckpointManager, assert_finite, ema_update, replicate, shard_batch, to_host
from viper.core.jaxtools.mesh import batch_sharding, replicated_sharding
from viper.core.progress import progress_bar

if TYPE_CHECKING:
    from viper.core.dataset import EpisodeStore
    from viper.core.workdir import StageContext
    from viper.videomodels.common.model import CodeSequenceModel

CHECKPOINTS = "checkpoints"
#: Dropout masks come from XLA's RngBitGenerator: on CPU every threefry dropout site costs
#: seconds of compile time, and its bits are the same however the batch is sharded (tested).
DROPOUT_RNG = "rbg"


class ClipSampler:
    """Random training clips from an episode store, with a saveable random state.

    Every process draws the same global batch of ``batch`` clips (one generator, seeded alike
    everywhere) and reads only its ``rows`` of it (:func:`viper.core.dataset.process_rows`), so N
    processes train on exactly the batches one process would; the state is the same on every
    process."""

    def __init__(
        self, store: EpisodeStore, batch: int, length: int, stride: int, seed: int, rows: slice | None = None
    ) -> None:
        self.store, self.batch, self.length, self.stride, self.rows = store, batch, length, stride, rows
        # the middle seed word was the process index; 0 keeps one-process runs' clips unchanged
        self.rng = np.random.default_rng([seed, 0, 1])

    def sample(self) -> dict[str, np.ndarray]:
        clips, tasks = self.store.sample_clips(self.rng, self.batch, self.length, self.stride, rows=self.rows)
        return {"codes": clips.reshape(len(clips), self.length, -1).astype(np.int32), "task": tasks.astype(np.int32)}

    def state(self) -> dict[str, Any]:
        return self.rng.bit_generator.state

    def restore(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state


def make_optimizer(config: Any) -> optax.GradientTransformation:
    """AdamW (decay on weight matrices and embeddings only) after global-norm clipping, from the
    Config's ``learning_rate``, ``warmup_steps``, ``weight_decay`` and ``grad_clip``.

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


def ema_state(params: Any, optimizer: optax.GradientTransformation, seed: int) -> dict[str, Any]:
    """The training state of a model whose likelihoods use an EMA of its weights, with a dropout key."""
    return {
        "params": params,
        "ema": jax.tree_util.tree_map(jnp.array, params),
        "opt_state": optimizer.init(params),
        "step": jnp.zeros((), jnp.int32),
        "rng": jax.random.key_data(jax.random.key(seed + 1, impl=DROPOUT_RNG)),
    }


def ema_step(state: dict[str, Any], grads: Any, optimizer: optax.GradientTransformation, ema_decay: float) -> Any:
    """Inside a jitted step: the :func:`ema_state` after one optimizer step on ``grads``; its EMA
    decay is ``min(ema_decay, (1 + step) / (10 + step))`` so short runs are not dominated by the init."""
    updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    count = state["step"] + 1
    decay = jnp.minimum(ema_decay, (1.0 + count) / (10.0 + count))
    return {
        "params": params,
        "ema": ema_update(state["ema"], params, decay),
        "opt_state": opt_state,
        "step": count,
        "rng": state["rng"],
    }


def jit_train_step(step: Any, mesh: Any) -> Any:
    """``step(state, batch) -> (state, loss)`` jitted data parallel: the state stays replicated
    (and is donated), the batch is split over the mesh and XLA all-reduces the gradients."""
    replicated, split = replicated_sharding(mesh), batch_sharding(mesh)
    return jax.jit(step, in_shardings=(replicated, split), out_shardings=(replicated, replicated), donate_argnums=0)


# -- data checks ----------------------------------------------------------------------------


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


def check_data(model: CodeSequenceModel, train: EpisodeStore, val: EpisodeStore, stride: int, option: str) -> None:
    """Both splits hold codes of ``model``'s vocabulary and grid; training episodes hold a clip of
    ``config.seq_len`` frames at ``stride`` (else the error names ``--set video_model.OPTION``)."""
    check_store(train, "train", model.vocab_size, model.code_grid, model.num_tasks)
    if len(val):
        check_store(val, "val", model.vocab_size, model.code_grid, model.num_tasks)
    try:
        train.check_length(model.config.seq_len, stride, "training clip")
    except DatasetError as exc:
        raise DatasetError(f"{model.NAME}: {exc}; collect longer episodes or lower --set video_model.{option}") from exc


def fixed_val_batches(
    name: str, val: EpisodeStore, config: Any, batch: int, seed: int, rows: slice | None = None, stride: int = 1
) -> list[dict[str, np.ndarray]]:
    """The same ``config.eval_batches`` validation clips of ``config.seq_len`` frames at ``stride``
    at every evaluation (empty, said on stderr, when ``val`` has no full clip): global batches of
    ``batch`` clips of which this process holds ``rows``."""
    if not len(val) or val.lengths.max() < (config.seq_len - 1) * stride + 1:
        print(f"{name}: no validation episode holds a full clip; logging train metrics only", file=sys.stderr)
        return []
    sampler = ClipSampler(val, batch, config.seq_len, stride, seed, rows)
    sampler.rng = np.random.default_rng([seed, 0, 2])
    return [sampler.sample() for _ in range(config.eval_batches)]


# -- checkpoints ----------------------------------------------------------------------------


def save_checkpoint(
    manager: CheckpointManager,
    step: int,
    state: dict[str, Any],
    sampler: ClipSampler,
    description: dict[str, Any],
    metrics: dict[str, float],
    process: int,
) -> None:
    """Process 0 alone writes the (replicated) state with the sampler's state, which is the same
    on every process (each draws the global batch and keeps its rows); a multi-process run
    therefore needs a workdir every process sees."""
    tree = to_host(state)
    if process == 0:
        manager.save(step, tree, {"model": description, "sampler": sampler.state(), "metrics": metrics})


def restore(
    manager: CheckpointManager,
    state: Any,
    sampler: ClipSampler,
    description: dict[str, Any],
    name: str,
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
    sampler.restore(meta["sampler"])
    print(f"{name}: resuming from step {step}", file=sys.stderr)
    return state, dict(meta.get("metrics", {}))


# -- the step loop --------------------------------------------------------------------------


def mean_bits(losses: list[float]) -> float:
    """Bits of a window of losses in nats."""
    return float(np.mean(losses)) / math.log(2)


def bits_postfix(name: str, value: float) -> tuple[str, str]:
    """``train_bits_per_code`` -> ``("train", "1.234")`` for the progress bar."""
    return name.replace("_bits_per_code", ""), f"{value:.3f}"


def val_bits_per_code(
    eval_step: Any, params: Any, batches: list[dict[str, np.ndarray]], mesh: Any, codes: int, scored: int | None
) -> float:
    """Bits per code of the fixed validation clips (every process's share), ``codes`` per frame;
    ``scored`` frames of each clip carry the loss (None: every frame)."""
    total = sum(float(eval_step(params, shard_batch(b, mesh))) for b in batches)
    frames = sum(b["codes"].shape[0] * (scored or b["codes"].shape[1]) for b in batches) * jax.process_count()
    return total / (frames * codes) / math.log(2)


def run_training(
    model: CodeSequenceModel,
    train: EpisodeStore,
    val: EpisodeStore,
    ctx: StageContext,
    mesh: Any,
    initial_state: Any,
    train_step: Any,
    *,
    stride: int,
    train_metric: tuple[str, Callable[[list[float]], float]],
    validate: tuple[str, Callable[[Any, list[dict[str, np.ndarray]]], float]],
    postfix: Callable[[str, float], tuple[str, str]],
) -> tuple[Any, dict[str, float]]:
    """What every code model's ``fit`` does once its network and compiled step exist: sample clips
    at ``stride``, resume from the newest checkpoint (or ``initial_state``), fix the validation
    clips and run :func:`train_loop`; ``validate`` is (name, (state, validation clips) -> value).
    Returns the final state and the newest metrics."""
    config = model.config
    seed, process = int(ctx.seed), jax.process_index()
    rows = process_rows(config.batch_size, process, jax.process_count())
    sampler = ClipSampler(train, config.batch_size, config.seq_len, stride, seed, rows)
    manager = CheckpointManager(ctx.directory / CHECKPOINTS, keep=config.keep_checkpoints)
    description = model.describe()
    state, last = restore(manager, initial_state, sampler, description, model.NAME)
    state = replicate(state, mesh)
    val_batches = fixed_val_batches(model.NAME, val, config, config.batch_size, seed, rows, stride)
    name, measure = validate
    state = train_loop(
        model.NAME, config, ctx, state, train_step, sampler, mesh, manager, description, process, last,
        train_metric=train_metric,
        validate=(name, lambda state: measure(state, val_batches)) if val_batches else None,
        postfix=postfix,
    )  # fmt: skip
    return state, last


def train_loop(
    name: str,
    config: Any,
    ctx: StageContext,
    state: Any,
    train_step: Any,
    sampler: ClipSampler,
    mesh: Any,
    manager: CheckpointManager,
    description: dict[str, Any],
    process: int,
    last: dict[str, float],
    train_metric: tuple[str, Callable[[list[float]], float]],
    validate: tuple[str, Callable[[Any], float]] | None,
    postfix: Callable[[str, float], tuple[str, str]],
) -> Any:
    """Run ``train_step`` from the state's step to ``config.steps``; returns the final state.

    Every ``log_every`` steps and at every checkpoint the ``train_metric`` (its name and how the
    window's losses make it) is logged, with ``validate``'s (name, state -> value) every
    ``eval_every`` steps and at the end; ``last`` holds the newest of each. ``postfix`` turns a
    metric into the progress bar's ``(label, text)``.
    """
    start = int(jax.device_get(state["step"]))
    losses: list[float] = []
    bar = progress_bar(
        range(start, config.steps), initial=start, total=config.steps, desc=f"fit {name}", unit="step",
        enabled=ctx.progress,
    )  # fmt: skip
    for index in bar:
        state, loss = train_step(state, shard_batch(sampler.sample(), mesh))
        done = index + 1
        losses.append(assert_finite(loss, f"{name} training loss", done))
        checkpoint = done % config.checkpoint_every == 0 or done == config.steps
        # Logging windows close at every checkpoint, so a resumed run logs the same numbers.
        if done % config.log_every == 0 or checkpoint:
            last[train_metric[0]] = train_metric[1](losses)
            record = {train_metric[0]: last[train_metric[0]]}
            if validate is not None and (done % config.eval_every == 0 or done == config.steps):
                last[validate[0]] = record[validate[0]] = validate[1](state)
            ctx.metrics.log(done, record)
            bar.set_postfix(dict(postfix(k, v) for k, v in record.items()))
            losses = []
        if checkpoint:
            save_checkpoint(manager, done, state, sampler, description, last, process)
    bar.close()
    last["steps"] = float(config.steps)
    return state
