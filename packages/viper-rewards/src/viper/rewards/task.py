"""``task``: the environment's own reward, the oracle baseline the paper compares against."""

from __future__ import annotations

from typing import Any

import numpy as np

from viper.core.checks import check_batch
from viper.core.errors import ContractError
from viper.core.protocols import RewardContext, StepBatch


class TaskReward:
    """Passes ``info["task_reward"]`` through unchanged. Using it means the agent learns from the
    environment's reward, not from videos: it is an upper bound for comparison, not VIPER."""

    needs = frozenset({"task_reward"})

    def __init__(self, config: Any = None, context: RewardContext | None = None) -> None:
        self.context = context

    def stream(self, num_envs: int, task_ids: np.ndarray | None = None) -> _TaskStream:
        return _TaskStream(num_envs)

    def relabel(
        self, frames: np.ndarray, task_ids: np.ndarray | None = None, task_reward: np.ndarray | None = None
    ) -> np.ndarray:
        if task_reward is None:
            raise ContractError("task reward: relabel needs task_reward float32[B,T] (the env's own rewards)")
        rewards = np.asarray(task_reward, np.float32)
        if rewards.shape != frames.shape[:2]:
            raise ContractError(
                f"task reward: task_reward shape {rewards.shape} does not match frames' [B,T] {frames.shape[:2]}"
            )
        return rewards.copy()


class _TaskStream:
    def __init__(self, num_envs: int) -> None:
        self.num_envs = num_envs

    def step(self, batch: StepBatch) -> np.ndarray:
        check_batch(len(batch.task_reward), self.num_envs, "task reward: batch.task_reward")
        if np.any(batch.is_first) and np.any(np.asarray(batch.task_reward)[batch.is_first] != 0):
            raise ContractError("task reward: an episode's first frame must carry task_reward 0")
        return np.asarray(batch.task_reward, np.float32).copy()
