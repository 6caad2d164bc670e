"""The online scorer: each env's last frame is all the history a first-order model needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from viper.core.checks import check_batch

if TYPE_CHECKING:
    from viper_countmodel.model import CountTransitions


class TransitionStream:
    """``step(codes int32[num_envs,h,w], is_first bool[num_envs]) -> float32[num_envs]`` nats,
    equal to :meth:`CountTransitions.log_prob` over each env's episode. ``is_first[i]`` forgets
    env ``i``'s last frame, so that frame is scored as an episode's first."""

    def __init__(self, model: CountTransitions, num_envs: int, tasks: np.ndarray) -> None:
        self.model, self.num_envs, self.tasks = model, num_envs, tasks
        positions = model.code_grid[0] * model.code_grid[1]
        self.last = np.zeros((num_envs, positions), np.int32)
        self.has_last = np.zeros(num_envs, bool)

    def step(self, codes: np.ndarray, is_first: np.ndarray) -> np.ndarray:
        codes = self.model.check_codes(codes, "codes", 3)
        check_batch(len(codes), self.num_envs, "codes")
        is_first = np.asarray(is_first, bool).reshape(self.num_envs)
        flat = codes.reshape(self.num_envs, -1)
        tables, config = self.model.tables, self.model.config
        follows = self.has_last & ~is_first
        out = np.zeros(self.num_envs, np.float32)
        if follows.any():
            out[follows] = tables.log_prob(flat[follows], self.last[follows], self.tasks[follows], config)
        if (~follows).any():
            out[~follows] = tables.log_prob(flat[~follows], None, self.tasks[~follows], config)
        self.last[:] = flat
        self.has_last[:] = True
        return out
