"""Validation of arrays crossing a component boundary (DESIGN.md: numpy at the boundary).

Each helper raises :class:`~viper.core.errors.ContractError` naming the argument, what was
expected and what arrived, so a misused component says how to use it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

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


def check_finite(
    values: Any,
    name: str,
    *,
    step: int | str | None = None,
    over: str | None = None,
    hint: str = "",
) -> Any:
    """Raise :class:`~viper.core.errors.NonFiniteError` if ``values`` holds NaN or inf; return
    ``values`` unchanged.

    ``values`` is one of

    * an array: the message names the first bad value and its index, or with ``over`` the entry
      of the leading axis (``over="env"``: "for env 2");
    * a scalar, e.g. a loss: "NAME became nan at step 4" (without ``step``: "NAME is nan");
    * a mapping (nested mappings, lists and named tuples too) of scalars or arrays, e.g. metrics or
      a weights tree: names the key path ("NAME: loss = nan", "NAME: params/dense/kernel: ...");
      integer, boolean and ``None`` leaves are skipped.

    ``step`` says when: an int reads "step N", a string is used as written ("env step 8").
    ``hint`` (what was kept, what the user can do) ends the message after "; ".
    Every NaN check of viper goes through here, so every such error reads the same way.
    """
    from viper.core.errors import NonFiniteError

    when = "" if step is None else f" at step {step}" if isinstance(step, int) else f" at {step}"
    tail = f"; {hint}" if hint else ""
    if isinstance(values, (Mapping, list, tuple)):
        for path, leaf in _leaves(values, ()):
            array = np.asarray(leaf)
            if not np.issubdtype(array.dtype, np.inexact) or np.isfinite(array).all():
                continue
            key = "/".join(path)
            if array.ndim == 0:
                raise NonFiniteError(f"{name}: {key} = {_number(array)}{when}{tail}")
            check_finite(array, f"{name}: {key}", step=step, over=over, hint=hint)
        return values
    array = np.asarray(values)
    bad = ~np.isfinite(array)
    if not bad.any():
        return values
    if array.ndim == 0:
        verb = "became" if when else "is"
        raise NonFiniteError(f"{name} {verb} {_number(array)}{when}{tail}")
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    where = f" for {over} {index[0]}" if over else ""
    if not over or array.ndim > 1:
        where += f", index {index}"
    raise NonFiniteError(f"{name}: non-finite value {_number(array[index])}{when}{where}{tail}")


def _number(value: Any) -> str:
    value = np.asarray(value)
    return str(value.item()) if np.iscomplexobj(value) else str(float(value))


def _leaves(tree: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """``(key path, leaf)`` of a nested mapping/sequence, without importing jax."""
    if tree is None:
        return
    if isinstance(tree, Mapping):
        items = [(str(k), v) for k, v in tree.items()]
    elif isinstance(tree, tuple) and hasattr(tree, "_fields"):  # a named tuple (optax states)
        items = list(zip(tree._fields, tree))
    elif isinstance(tree, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(tree)]
    else:
        yield path, tree
        return
    for key, value in items:
        yield from _leaves(value, (*path, key))


def check_batch(actual: int, expected: int, name: str) -> None:
    if actual != expected:
        raise ContractError(f"{name}: expected a batch of {expected} (one per env), got {actual}")
