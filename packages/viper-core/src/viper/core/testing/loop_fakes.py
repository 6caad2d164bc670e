"""A numpy agent and reward for testing the training loop without torch or jax. Shipped test
utilities for plugin authors and our own tests."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_save_npz, load_npz
from viper.core.errors import ConfigError, WorkdirError
from viper.core.protocols import EnvStep, StepBatch


class RecordingAgent:
    """Acts with seeded uniform noise around a learned bias; ``train`` nudges the bias toward the
    sign of the mean recorded reward. Records every train-mode step it is handed."""

    @dataclasses.dataclass
    class Config:
        updates_per_step: float = 0.5
        """Replay ratio."""
        train_start: int = 4
        """Steps before training."""
        nan_at_update: int = -1
        """Return a NaN loss at this update (-1: never)."""

    def __init__(self, config: Config | None, obs_space: Any, act_space: Any, seed: int) -> None:
        import gymnasium as gym

        if not isinstance(act_space, gym.spaces.Box):
            raise ConfigError(f"RecordingAgent supports Box action spaces, got {act_space}")
        self.config = config or self.Config()
        self.updates_per_step = self.config.updates_per_step
        self.train_start = self.config.train_start
        self.act_space = act_space
        self.rng = np.random.default_rng(seed)
        self.bias = np.zeros(act_space.shape, np.float32)
        self.updates = 0
        self.rewards: list[float] = []
        self.steps: list[EnvStep] = []  # every train-mode step (copied), for the tests
        self.eval_steps: list[EnvStep] = []

    def act(self, step: EnvStep, mode: str = "train") -> np.ndarray:
        copy = EnvStep(
            obs={k: v.copy() for k, v in step.obs.items()},
            reward=step.reward.copy(),
            is_first=step.is_first.copy(),
            is_last=step.is_last.copy(),
            is_terminal=step.is_terminal.copy(),
        )
        n = len(step.is_first)
        if mode == "eval":
            self.eval_steps.append(copy)
            return np.ones((n, *self.act_space.shape), np.float32)  # always move right
        self.steps.append(copy)
        self.rewards.extend(step.reward[~step.is_first].tolist())
        noise = self.rng.uniform(-1, 1, (n, *self.act_space.shape)).astype(np.float32)
        return np.clip(noise + self.bias, -1, 1)

    def train(self) -> dict[str, float]:
        if self.updates == self.config.nan_at_update:
            return {"loss": float("nan")}
        target = float(np.sign(np.mean(self.rewards[-50:]))) if self.rewards else 0.0
        loss = float(np.mean((self.bias - target) ** 2))
        self.bias += 0.1 * (target - self.bias) + self.rng.normal(0, 0.01, self.bias.shape).astype(np.float32)
        self.updates += 1
        return {"loss": loss, "bias": float(self.bias.mean())}

    def save(self, directory: Path) -> None:
        atomic_save_npz(directory / "weights.npz", {"bias": self.bias, "rewards": np.asarray(self.rewards, np.float32)})
        (directory / "state.json").write_text(
            json.dumps({"updates": self.updates, "rng": self.rng.bit_generator.state})
        )

    def load(self, directory: Path) -> None:
        try:
            arrays = load_npz(directory / "weights.npz")
            state = json.loads((directory / "state.json").read_text())
        except (OSError, ValueError) as exc:
            raise WorkdirError(f"{directory}: corrupt agent checkpoint ({exc})") from exc
        if arrays["bias"].shape != self.bias.shape:
            raise WorkdirError(f"{directory}: bias has shape {arrays['bias'].shape}, expected {self.bias.shape}")
        self.bias = arrays["bias"]
        self.rewards = arrays["rewards"].tolist()
        self.updates = state["updates"]
        self.rng.bit_generator.state = state["rng"]


class FrameReward:
    """Mean brightness of the frame in [0, 1]; records the batch sizes it was called with."""

    needs = frozenset()

    def __init__(self, config: Any = None, context: Any = None, nan_at: int = -1) -> None:
        self.calls: list[int] = []
        self.nan_at = nan_at

    def stream(self, num_envs: int, task_ids: np.ndarray | None = None) -> FrameReward._Stream:
        return self._Stream(self, num_envs)

    def relabel(self, frames, task_ids=None, task_reward=None):
        return frames.mean(axis=(2, 3, 4)).astype(np.float32) / 255

    class _Stream:
        def __init__(self, parent: FrameReward, num_envs: int) -> None:
            self.parent, self.num_envs, self.count = parent, num_envs, 0

        def step(self, batch: StepBatch) -> np.ndarray:
            assert batch.frames.shape[0] == self.num_envs
            self.parent.calls.append(batch.frames.shape[0])
            out = batch.frames.reshape(self.num_envs, -1).mean(1).astype(np.float32) / 255 * 100
            self.count += 1
            if self.count == self.parent.nan_at:
                out[1 % self.num_envs] = np.nan
            return out
