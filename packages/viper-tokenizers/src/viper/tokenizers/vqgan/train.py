"""``VQGANTokenizer.fit``: data-parallel training with checkpoints, resume and evaluation.

Each step's global batch is drawn from the episode store with a generator seeded by
``(seed, step)``, the same on every process, and each process reads only its rows of it; the
step's randomness is ``fold_in(rng, step)``. So a run resumed from a checkpoint continues exactly
as if it had never stopped, and N processes train on the batches one process would (the same
parameters up to float summation order).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from viper.core.atomic import atomic_write_bytes
from viper.core.checks import check_finite
from viper.core.config import to_dict
from viper.core.dataset import EpisodeStore, process_rows
from viper.core.errors import DatasetError, NonFiniteError
from viper.core.jaxtools import (
    CheckpointManager,
    assert_finite,
    data_parallel_step,
    replicate,
    shard_batch,
    to_host,
    training_mesh,
)
from viper.core.progress import progress_bar
from viper.core.statistics import median_frame
from viper.tokenizers.vqgan.perceptual import PerceptualLoss
from viper.tokenizers.vqgan.train_step import VQGANModel, code_usage, psnr

CHECKPOINTS = "checkpoints"
GRID_FILE = "reconstructions.png"
BACKGROUND_FILE = "background.png"


def _check_data(train: EpisodeStore, val: EpisodeStore, ctx: Any, image_size: int) -> None:
    if len(train) == 0 or train.num_frames == 0:
        raise DatasetError("fit-tokenizer: the training split holds no frames")
    for name, store in (("training", train), ("validation", val)):
        for array in store.arrays:
            if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3:
                got = f"{array.dtype}{list(array.shape)}" if isinstance(array, np.ndarray) else type(array).__name__
                raise DatasetError(f"fit-tokenizer: {name} episodes must hold uint8[T,H,W,3] frames, got {got}")
            if array.shape[1:3] != (image_size, image_size):
                raise DatasetError(
                    f"fit-tokenizer: the dataset's frames are {array.shape[1]}x{array.shape[2]} but "
                    f"tokenizer.image_size={image_size}; pass --set tokenizer.image_size={array.shape[1]} "
                    f"(square frames only) or resize the videos"
                )
    size = ctx.options.get("image_size")
    if size is not None and tuple(size) != (image_size, image_size):
        raise DatasetError(
            f"fit-tokenizer: the dataset is {size[0]}x{size[1]} but tokenizer.image_size={image_size}; "
            f"pass --set tokenizer.image_size={size[0]}"
        )


def _fixed_frames(store: EpisodeStore, count: int, seed: int) -> np.ndarray:
    """``count`` frames drawn without replacement, the same every call (for evaluation)."""
    lengths = store.lengths
    count = min(count, int(lengths.sum()))
    picks = np.sort(np.random.default_rng(seed).choice(int(lengths.sum()), count, replace=False))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    episodes = np.searchsorted(starts, picks, side="right") - 1
    return np.stack([store.arrays[e][p - starts[e]] for e, p in zip(episodes, picks)])


def save_grid(path: Path, originals: np.ndarray, reconstructions: np.ndarray, gap: int = 2) -> None:
    """A PNG with originals on the top row and their reconstructions below."""
    import imageio.v3 as iio

    n, h, w, _ = originals.shape
    grid = np.full((2 * h + 3 * gap, n * w + (n + 1) * gap, 3), 255, np.uint8)
    for row, images in enumerate((originals, reconstructions)):
        top = gap + row * (h + gap)
        for i, image in enumerate(images):
            left = gap + i * (w + gap)
            grid[top : top + h, left : left + w] = image
    atomic_write_bytes(path, iio.imwrite("<bytes>", grid, extension=".png"))


def evaluate(tokenizer: Any, frames: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    """PSNR and codebook usage of ``frames`` through the public encode/decode."""
    codes = tokenizer.encode(frames)
    recon = tokenizer.decode(codes)
    perplexity, dead = code_usage(codes, tokenizer.vocab_size)
    l1 = float(np.mean(np.abs(frames.astype(np.float32) - recon.astype(np.float32)))) / 127.5
    return {"psnr": psnr(frames, recon), "l1": l1, "perplexity": perplexity, "dead_codes": dead}, recon


def fit(tokenizer: Any, train: EpisodeStore, val: EpisodeStore, ctx: Any) -> dict[str, Any]:
    """Train ``tokenizer`` in place; checkpoints go to ``ctx.directory/checkpoints``.

    Returns the final evaluation: ``val_psnr`` (dB), ``val_l1``, ``perplexity`` and ``dead_codes``
    of the codes of the validation frames (the training frames when ``val`` is empty), ``steps``.
    """
    cfg = tokenizer.config
    _check_data(train, val, ctx, cfg.image_size)
    perceptual = PerceptualLoss(cfg.perceptual_weights) if cfg.perceptual_weights else None
    mesh = training_mesh(cfg.batch_size, "tokenizer.batch_size", cfg.distributed())
    rows = process_rows(cfg.batch_size, jax.process_index(), jax.process_count())
    lead = jax.process_index() == 0
    model = VQGANModel(cfg, perceptual)
    directory = Path(ctx.directory)
    checkpoints = CheckpointManager(directory / CHECKPOINTS, keep=cfg.keep_checkpoints)
    start, state = _restore(checkpoints, model, ctx.seed, lead)
    state = replicate(state, mesh)
    perceptual_params = replicate(perceptual.params, mesh) if perceptual else None
    steps = {
        adversarial: data_parallel_step(functools.partial(model.train_step, adversarial=adversarial), mesh)
        for adversarial in (False, True)
    }

    background = _background(train, cfg, ctx.seed, directory if lead else None)
    background = replicate(background, mesh) if background is not None else None
    eval_on = "val" if val.num_frames else "train"
    eval_frames = _fixed_frames(val if val.num_frames else train, cfg.val_frames, ctx.seed + 1)

    def run_eval(step: int) -> dict[str, float]:
        tokenizer.set_weights(to_host({"params": state["params"], "codebook": state["codebook"]}))
        scores, recon = evaluate(tokenizer, eval_frames)
        if lead:
            ctx.metrics.log(step, {f"{eval_on}_{k}": v for k, v in scores.items()})
            grid = min(cfg.grid_frames, len(eval_frames))
            if grid:
                save_grid(directory / GRID_FILE, eval_frames[:grid], recon[:grid])
        return scores

    def sample(step: int) -> np.ndarray:
        # the third seed word was the process index; 0 keeps one-process runs' batches unchanged
        rng = np.random.default_rng([ctx.seed, step, 0])
        clips, _ = train.sample_clips(rng, cfg.batch_size, 1, rows=rows)
        return clips[:, 0]

    bar = progress_bar(total=cfg.steps, initial=start, desc="tokenizer", unit="step", enabled=ctx.progress)
    scores: dict[str, float] | None = None
    train_seconds, frames_seen = 0.0, 0  # throughput of the steps alone, without evaluations
    try:
        for step in range(start, cfg.steps):
            done = step + 1
            adversarial = step >= cfg.disc_start
            t0 = time.perf_counter()
            state, metrics = steps[adversarial](state, shard_batch(sample(step), mesh), perceptual_params, background)
            loss = _finite_loss(metrics["loss"], done, checkpoints)
            train_seconds += time.perf_counter() - t0
            frames_seen += cfg.batch_size
            bar.update(1)
            scores = None
            if lead and (done % cfg.log_every == 0 or done == cfg.steps):
                values = {k: float(v) for k, v in to_host(metrics).items()}
                values.update(frames_per_s=frames_seen / max(train_seconds, 1e-9), adversarial=float(adversarial))
                ctx.metrics.log(done, values)
                bar.set_postfix(loss=f"{loss:.4f}", l1=f"{values['recon_l1']:.4f}", ppl=f"{values['perplexity']:.0f}")
                train_seconds, frames_seen = 0.0, 0
            if done % cfg.eval_every == 0 or done == cfg.steps:
                scores = run_eval(done)
                bar.set_postfix(loss=f"{loss:.4f}", psnr=f"{scores['psnr']:.2f}")
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                host_state = to_host(state)
                check_finite(
                    host_state,
                    "tokenizer weights",
                    step=done,
                    hint=f"the last good checkpoint is kept in {checkpoints.directory}",
                )
                if lead:
                    checkpoints.save(done, host_state, {"config": to_dict(cfg)})
    finally:
        bar.close()
    if scores is None:  # resumed a finished run, or stopped between evaluations
        scores = run_eval(max(start, cfg.steps))
    return _summary(scores, cfg.codebook_size, eval_on, cfg.steps)


def _background(train: EpisodeStore, cfg: Any, seed: int, directory: Path | None) -> np.ndarray | None:
    """The per-pixel median of up to 1024 training frames when the foreground is weighted (saved
    as ``background.png`` beside the checkpoints, so a user sees what counted as background)."""
    if cfg.foreground_weight <= 0:
        return None
    background = median_frame(_fixed_frames(train, 1024, seed + 2))
    if directory is not None:
        import imageio.v3 as iio

        atomic_write_bytes(directory / BACKGROUND_FILE, iio.imwrite("<bytes>", background, extension=".png"))
    return background


def _restore(checkpoints: CheckpointManager, model: VQGANModel, seed: int, lead: bool) -> tuple[int, Any]:
    """``(step, state)`` of the newest checkpoint, or ``(0, a fresh state)``."""
    restored = checkpoints.restore(model.state_shapes(seed))
    if restored is None:
        return 0, model.init_state(seed)
    start, state, _ = restored
    if lead:
        print(f"tokenizer: resuming from step {start} ({checkpoints.path(start)})")
    return start, state


def _finite_loss(loss: Any, step: int, checkpoints: CheckpointManager) -> float:
    """The step's loss as a float; a NaN/inf names the last good checkpoint and what to change."""
    try:
        return assert_finite(loss, "tokenizer loss", step)
    except NonFiniteError as exc:
        last = checkpoints.latest_step()
        kept = f"step {last} in {checkpoints.directory}" if last is not None else "none was written yet"
        raise NonFiniteError(
            f"{exc} (last good checkpoint: {kept}); lower tokenizer.learning_rate or set tokenizer.max_grad_norm"
        ) from None


def _summary(scores: dict[str, float], codebook_size: int, eval_on: str, steps: int) -> dict[str, Any]:
    """The stage's result from the final evaluation (see :func:`fit`)."""
    return {
        "val_psnr": scores["psnr"],
        "val_l1": scores["l1"],
        "perplexity": scores["perplexity"],
        "dead_codes": scores["dead_codes"],
        "codebook_usage": 1.0 - scores["dead_codes"] / codebook_size,
        "evaluated_on": eval_on,
        "steps": steps,
    }
