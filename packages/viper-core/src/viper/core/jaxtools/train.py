"""Small training-loop helpers shared by the JAX trainers."""

from __future__ import annotations

from typing import Any

import jax

from viper.core.checks import check_finite


def ema_update(ema: Any, params: Any, decay: float) -> Any:
    """``ema <- decay * ema + (1 - decay) * params`` leaf by leaf (jit-friendly)."""
    return jax.tree_util.tree_map(lambda e, p: decay * e + (1.0 - decay) * p, ema, params)


def assert_finite(value: Any, what: str, step: int) -> float:
    """Block on a scalar (e.g. the loss) and raise :class:`~viper.core.errors.NonFiniteError`
    (via :func:`viper.core.checks.check_finite`) if it is NaN/inf; returns it as a float.

    Reading the loss every step also keeps XLA from queueing many steps ahead, which can
    deadlock sharded CPU runs.
    """
    number = float(jax.device_get(value))
    return check_finite(number, what, step=step, hint="the last good checkpoint is kept")
