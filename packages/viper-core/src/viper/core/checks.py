"""Validation of arrays crossing a component boundary (DESIGN.md: numpy at the boundary).

Each helper raises :class:`~viper.core.errors.ContractError` naming the argument, what was
expected and what arrived, so a misused component says how to use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from viper.core.errors import ContractError


def _describe(x: object) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype}{list(x.shape)}"
    return type(x).__name__


def check_frames(
    frames: object,
    name: str = "frames",
    *,
    ndim: int | Sequence[int] = 4,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Frames must be ``uint8[..., H, W, 3]`` with ``ndim`` dimensions and, if given, ``H, W == size``."""
    ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    lead = {3: "", 4: "N,", 5: "B,T,"}
    expected = " or ".join(f"uint8[{lead.get(n, '...,')}H,W,3]" for n in ndims)
    if not isinstance(frames, np.ndarray):
        raise ContractError(f"{name}: expected a numpy array {expected}, got {_describe(frames)}")
    if frames.dtype != np.uint8 or frames.ndim not in ndims or frames.shape[-1] != 3:
        raise ContractError(f"{name}: expected {expected}, got {_describe(frames)}")
    if size is not None and tuple(frames.shape[-3:-1]) != tuple(size):
        raise ContractError(
            f"{name}: expected {size[0]}x{size[1]} frames, got {frames.shape[-3]}x{frames.shape[-2]} "
            f"(resize the frames or use a component built for this resolution)"
        )
    return frames


def check_codes(
    codes: object,
    name: str = "codes",
    *,
    ndim: int | Sequence[int] = 3,
    vocab_size: int | None = None,
    grid: tuple[int, int] | None = None,
) -> np.ndarray:
    """Codes must be integer ``[..., h, w]`` in ``[0, vocab_size)``; returned as int32."""
    ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if not isinstance(codes, np.ndarray) or not np.issubdtype(codes.dtype, np.integer) or codes.ndim not in ndims:
        raise ContractError(
            f"{name}: expected an int32 array with {' or '.join(map(str, ndims))} dims, got {_describe(codes)}"
        )
    if grid is not None and tuple(codes.shape[-2:]) != tuple(grid):
        raise ContractError(f"{name}: expected a {grid[0]}x{grid[1]} code grid per frame, got {_describe(codes)}")
    if vocab_size is not None and codes.size:
        lo, hi = int(codes.min()), int(codes.max())
        if lo < 0 or hi >= vocab_size:
            raise ContractError(f"{name}: codes must lie in [0, {vocab_size}), got values in [{lo}, {hi}]")
    return codes.astype(np.int32, copy=False)


def check_tasks(tasks: object, batch: int, num_tasks: int, name: str = "task") -> np.ndarray:
    """Task ids: ``None`` (task 0), an int, or ``int[batch]`` in ``[0, num_tasks)``."""
    if tasks is None:
        return np.zeros(batch, np.int32)
    arr = np.asarray(tasks)
    if arr.ndim == 0:
        arr = np.full(batch, int(arr), np.int32)
    if not np.issubdtype(arr.dtype, np.integer) or arr.shape != (batch,):
        raise ContractError(f"{name}: expected None, an int or int[{batch}], got {_describe(arr)}")
    if arr.size and (arr.min() < 0 or arr.max() >= num_tasks):
        raise ContractError(
            f"{name}: task ids must lie in [0, {num_tasks}) (the tasks the model was trained on), got {arr.tolist()}"
        )
    return arr.astype(np.int32, copy=False)


def check_finite(values: np.ndarray, name: str, *, step: int | None = None) -> np.ndarray:
    """Raise if ``values`` holds NaN or inf, naming the first bad index (and step)."""
    from viper.core.errors import NonFiniteError

    bad = ~np.isfinite(values)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at step {step}" if step is not None else ""
        raise NonFiniteError(f"{name}: non-finite value {values[index]!r}{where}, index {index}")
    return values


def check_batch(actual: int, expected: int, name: str) -> None:
    if actual != expected:
        raise ContractError(f"{name}: expected a batch of {expected} (one per env), got {actual}")
