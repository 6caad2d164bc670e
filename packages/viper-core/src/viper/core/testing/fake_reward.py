"""``fake`` reward: a frame's mean brightness in ``[0, 1]`` times ``scale`` (stateless)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from viper.core.checks import check_batch, check_frames
from viper.core.config import Options


@dataclasses.dataclass
class FakeRewardConfig(Options):
    """Options of the ``fake`` reward (``--set reward.FIELD=VALUE``)."""

    SECTION: ClassVar[str] = "reward"

    scale: float = 1.0
    """Multiplies the brightness."""


class FakeReward:
    """See the module docstring (:class:`~viper.core.protocols.Reward`)."""

    Config = FakeRewardConfig
    needs: frozenset[str] = frozenset()

    def __init__(self, config: FakeRewardConfig | None = None, context: Any = None) -> None:
        self.config = config or FakeRewardConfig()

    def brightness(self, frames: np.ndarray) -> np.ndarray:
        return (frames.astype(np.float32).mean((-3, -2, -1)) / 255.0 * self.config.scale).astype(np.float32)

    def stream(self, num_envs: int, task_ids: np.ndarray | None = None) -> FakeRewardStream:
        return FakeRewardStream(self, num_envs)

    def relabel(
        self, frames: np.ndarray, task_ids: np.ndarray | None = None, task_reward: np.ndarray | None = None
    ) -> np.ndarray:
        return self.brightness(check_frames(frames, "frames", ndim=5))


class FakeRewardStream:
    def __init__(self, reward: FakeReward, num_envs: int) -> None:
        self.reward, self.num_envs = reward, num_envs

    def step(self, batch: Any) -> np.ndarray:
        frames = check_frames(batch.frames, "batch.frames", ndim=4)
        check_batch(len(frames), self.num_envs, "batch.frames")
        return self.reward.brightness(frames)
