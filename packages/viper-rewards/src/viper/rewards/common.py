"""Input checks and frame handling shared by every reward in this package (numpy only)."""

from __future__ import annotations

import numpy as np

from viper.core.checks import check_batch, check_finite, check_frames
from viper.core.dataset import apply_mask
from viper.core.errors import ContractError
from viper.core.protocols import RewardContext, StepBatch


def stream_task_ids(task_ids: np.ndarray | None, num_envs: int, context: RewardContext, name: str) -> np.ndarray:
    """``int32[num_envs]`` indices into ``context.tasks`` (None means task 0 everywhere)."""
    if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise ContractError(f"{name}: num_envs must be a positive integer, got {num_envs!r}")
    num_tasks = max(1, len(context.tasks))
    if task_ids is None:
        return np.zeros(num_envs, np.int32)
    ids = np.asarray(task_ids)
    if ids.ndim == 0:
        ids = np.full(num_envs, int(ids))
    if not np.issubdtype(ids.dtype, np.integer) or ids.shape != (num_envs,):
        raise ContractError(
            f"{name}: task_ids must be None, an int or int[{num_envs}], got {ids.dtype}{list(ids.shape)}"
        )
    if ids.min() < 0 or ids.max() >= num_tasks:
        raise ContractError(
            f"{name}: task ids must index the context's tasks {list(context.tasks) or ['<one task>']}, got {ids.tolist()}"
        )
    return ids.astype(np.int32)


def check_step(
    batch: StepBatch, num_envs: int, task_ids: np.ndarray, image_size: tuple[int, int], name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validate one :class:`StepBatch` against a stream; returns ``(frames, is_first)``."""
    if not isinstance(batch, StepBatch):
        raise ContractError(f"{name}: step() takes a viper.core.protocols.StepBatch, got {type(batch).__name__}")
    frames = check_frames(batch.frames, f"{name}: StepBatch.frames", ndim=4, size=image_size)
    check_batch(len(frames), num_envs, f"{name}: StepBatch.frames (stream made for {num_envs} envs)")
    is_first = np.asarray(batch.is_first)
    if is_first.shape != (num_envs,):
        raise ContractError(f"{name}: StepBatch.is_first must be bool[{num_envs}], got shape {list(is_first.shape)}")
    if batch.task_ids is not None:
        ids = np.asarray(batch.task_ids)
        if ids.shape != (num_envs,):
            raise ContractError(f"{name}: StepBatch.task_ids must be int[{num_envs}], got shape {list(ids.shape)}")
        if not np.array_equal(ids, task_ids):
            raise ContractError(
                f"{name}: StepBatch.task_ids {ids.tolist()} differ from the stream's {task_ids.tolist()}; "
                f"an env's task is fixed for a stream (make a new stream for new tasks)"
            )
    return frames, is_first.astype(bool)


def check_sequences(frames: object, task_ids: np.ndarray | None, context: RewardContext, name: str):
    """Validate a relabel call: ``frames uint8[B,T,H,W,3]``; returns ``(frames, task_ids int32[B])``."""
    frames = check_frames(frames, f"{name}: frames", ndim=5, size=tuple(context.image_size))
    if frames.shape[1] < 1:
        raise ContractError(f"{name}: frames hold no time step (T=0)")
    return frames, stream_task_ids(task_ids, frames.shape[0], context, f"{name}.relabel")


def masked(frames: np.ndarray, task_ids: np.ndarray, context: RewardContext) -> np.ndarray:
    """Frames with each env's task mask applied (hidden pixels zeroed), as the models were trained.

    ``frames`` is ``[B, ..., H, W, 3]`` with ``task_ids int[B]``.
    """
    if not context.image_masks:
        return frames
    out = frames
    for task_id in np.unique(task_ids):
        task = context.tasks[int(task_id)] if context.tasks else None
        mask = context.image_masks.get(task) if task is not None else None
        if mask is None:
            continue
        if out is frames:
            out = frames.copy()
        rows = task_ids == task_id
        out[rows] = apply_mask(frames[rows], mask)
    return out


def resize(frames: np.ndarray, size: int) -> np.ndarray:
    """Square-resize ``[..., H, W, 3]`` frames to ``size`` by block averaging (or nearest pixel when
    ``size`` does not divide the frame); returns float32 in [0, 1]."""
    h, w = frames.shape[-3:-1]
    x = frames.astype(np.float32) / 255.0
    if (h, w) == (size, size):
        return x
    if h % size == 0 and w % size == 0:
        fh, fw = h // size, w // size
        x = x.reshape(*x.shape[:-3], size, fh, size, fw, 3)
        return x.mean(axis=(-4, -2))
    rows = (np.arange(size) * h // size).astype(int)
    cols = (np.arange(size) * w // size).astype(int)
    return x[..., rows, :, :][..., :, cols, :]


def raise_non_finite(values: np.ndarray, what: str, step: int) -> np.ndarray:
    """Raise :class:`NonFiniteError` naming the step and the env if ``values float[B]`` is not finite."""
    return check_finite(
        values,
        what,
        step=step,
        over="env",
        hint="refusing to pass it to the agent (check the video model's checkpoint and the frames this env rendered)",
    )
