"""Building the reward the agent maximises from reward components.

``build_reward("viper", ...)`` resolves the component, fills its Config from options and calls
``factory(config, context)``. :class:`WeightedSum` combines several rewards (e.g. VIPER plus an
exploration bonus) so that the runner and agents see a single :class:`~viper.core.protocols.Reward`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from viper.core.components import make_config
from viper.core.errors import ContractError
from viper.core.plugins import PluginHost, get_host
from viper.core.protocols import Reward, RewardContext, StepBatch


def build_reward(
    name: str,
    context: RewardContext,
    options: dict[str, Any] | None = None,
    host: PluginHost | None = None,
) -> Reward:
    """Instantiate reward component ``name`` for ``context``."""
    host = host or get_host()
    config = make_config("reward", name, options, host)
    factory = host.load("reward", name)
    return factory(config, context)


class WeightedSum:
    """``sum_i weight_i * reward_i``, in both the online and the batch form."""

    def __init__(self, parts: Sequence[tuple[Reward, float]]) -> None:
        if not parts:
            raise ContractError("WeightedSum: needs at least one (reward, weight) pair")
        self.parts = list(parts)
        self.needs = frozenset().union(*(r.needs for r, _ in self.parts))

    def stream(self, num_envs: int, task_ids: np.ndarray | None = None) -> _WeightedStream:
        return _WeightedStream([(r.stream(num_envs, task_ids), w) for r, w in self.parts], num_envs)

    def relabel(self, frames: np.ndarray, task_ids: np.ndarray | None = None, task_reward: np.ndarray | None = None) -> np.ndarray:
        total = np.zeros(frames.shape[:2], np.float32)
        for reward, weight in self.parts:
            total += np.float32(weight) * reward.relabel(frames, task_ids, task_reward)
        return total


class _WeightedStream:
    def __init__(self, streams: list[tuple[Any, float]], num_envs: int) -> None:
        self.streams = streams
        self.num_envs = num_envs

    def step(self, batch: StepBatch) -> np.ndarray:
        total = np.zeros(self.num_envs, np.float32)
        for stream, weight in self.streams:
            total += np.float32(weight) * stream.step(batch)
        return total
