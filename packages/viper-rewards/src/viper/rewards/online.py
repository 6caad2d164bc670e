"""What the rewards trained online (``rnd``, ``amp``) share: a ring buffer of recent agent inputs
and the schedule on which a stream trains (numpy only)."""

from __future__ import annotations

import numpy as np

from viper.core.errors import ConfigError


class RecentBuffer:
    """The newest ``capacity`` items (fixed shape and dtype) with an int task id each."""

    def __init__(self, capacity: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
        if capacity < 1:
            raise ConfigError(f"buffer_size {capacity}: expected at least 1")
        self.items = np.zeros((capacity, *shape), dtype)
        self.tasks = np.zeros(capacity, np.int32)
        self.capacity, self.size, self.cursor = capacity, 0, 0

    def __len__(self) -> int:
        return self.size

    def add(self, items: np.ndarray, tasks: np.ndarray) -> None:
        for item, task in zip(items, tasks):
            self.items[self.cursor] = item
            self.tasks[self.cursor] = task
            self.cursor = (self.cursor + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        index = rng.integers(0, self.size, size=n)
        return self.items[index], self.tasks[index]


class Schedule:
    """Train ``updates`` minibatches every ``every`` stream steps once ``warmup`` items are stored.

    Counted per stream step (one step = one frame from each env), so the update-to-data ratio is
    ``updates * batch_size / (every * num_envs)`` samples per new frame.
    """

    def __init__(self, every: int, updates: int, warmup: int, option: str) -> None:
        if every < 1 or updates < 0 or warmup < 1:
            raise ConfigError(
                f"{option}: update_every must be >= 1, updates >= 0 and batch_size >= 1 "
                f"(got {every}, {updates}, {warmup})"
            )
        self.every, self.updates, self.warmup = every, updates, warmup

    def due(self, step: int, stored: int) -> int:
        """How many updates to run after stream step ``step`` (1-based) with ``stored`` items."""
        if stored < self.warmup or step % self.every:
            return 0
        return self.updates
