"""Optional reward scaling: running mean/std (Welford/Chan) or symlog, then a constant scale."""

from __future__ import annotations

from typing import Literal

import numpy as np

from viper.core.errors import ConfigError

Normalization = Literal["none", "symlog", "running"]


class RunningMeanStd:
    """Mean and variance of every value seen so far, merged batch by batch (Chan et al.)."""

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = float(epsilon)  # a tiny prior count keeps the first batch's std defined

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64)
        n = x.shape[0]
        if n == 0:
            return
        mean, var = x.mean(0), x.var(0)
        delta = mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + var * n + delta**2 * self.count * n / total) / total
        self.count = total

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.var)


def symlog(x: np.ndarray) -> np.ndarray:
    """``sign(x) * log(1 + |x|)``: squashes large magnitudes, keeps sign and order (DreamerV3)."""
    return np.sign(x) * np.log1p(np.abs(x))


class Normalizer:
    """Applies one :data:`Normalization` and a scale to rewards ``float32[...]``.

    ``running`` standardises with statistics of every reward the online form produced so far
    (updated before normalising each step); the batch form uses the current statistics without
    updating them, so relabelling stored data never shifts what the agent sees online.

    ``baseline`` (a raw reward, optional) is the zero point: the output is ``N(x) - N(baseline)``
    under the same statistics, so a raw reward above it stays positive whatever the normalisation
    (``running`` then scales ``x - baseline`` by the running std without re-centring it).
    """

    def __init__(
        self, kind: str = "none", scale: float = 1.0, option: str = "normalize", baseline: float | None = None
    ) -> None:
        if kind not in ("none", "symlog", "running"):
            raise ConfigError(f"{option}: expected 'none', 'symlog' or 'running', got {kind!r}")
        if not np.isfinite(scale):
            raise ConfigError(f"{option}: scale must be finite, got {scale!r}")
        if baseline is not None and not np.isfinite(baseline):
            raise ConfigError(f"{option}: the reward's baseline must be finite, got {baseline!r}")
        self.kind, self.scale = kind, float(scale)
        self.baseline = None if baseline is None else float(baseline)
        self.stats = RunningMeanStd()

    def __call__(self, rewards: np.ndarray, update: bool) -> np.ndarray:
        x = np.asarray(rewards, np.float64)
        if self.kind == "running" and update:
            self.stats.update(x.reshape(-1))
        x = self._transform(x)
        if self.baseline is not None:
            x = x - self._transform(np.float64(self.baseline))
        return (self.scale * x).astype(np.float32)

    def _transform(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "symlog":
            return symlog(x)
        if self.kind == "running":
            return (x - self.stats.mean) / (self.stats.std + 1e-8)
        return x
