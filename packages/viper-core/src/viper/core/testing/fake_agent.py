"""``fake`` agent: seeded random exploration around a learned preference, trained by a toy rule.

It keeps the agent contract in miniature: Box or Discrete actions, per-mode behaviour
(``train`` explores and records, ``eval`` acts greedily and records nothing), finite metrics,
and a checkpoint (preference, recorded rewards, counters, RNG state) that :meth:`FakeAgent.load`
restores exactly.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from viper.core.atomic import atomic_save_npz, load_npz
from viper.core.config import Options, option
from viper.core.errors import ConfigError, WorkdirError


@dataclasses.dataclass
class FakeAgentConfig(Options):
    """Options of the ``fake`` agent (``--set agent.FIELD=VALUE``)."""

    SECTION: ClassVar[str] = "agent"

    updates_per_step: float = option(0.5, ge=0)
    """Calls of ``train`` per env step (the replay ratio)."""
    train_start: int = option(8, ge=0)
    """Env steps collected before the first ``train``."""
    learning_rate: float = option(0.1, gt=0)
    """Step size of the preference update."""


class FakeAgent:
    """See the module docstring (:class:`~viper.core.protocols.Agent`)."""

    Config = FakeAgentConfig

    def __init__(self, config: FakeAgentConfig | None, obs_space: Any, act_space: Any, seed: int) -> None:
        import gymnasium as gym

        self.config = config or FakeAgentConfig()
        if isinstance(act_space, gym.spaces.Discrete):
            self.discrete, shape = True, (int(act_space.n),)
        elif isinstance(act_space, gym.spaces.Box):
            self.discrete, shape = False, tuple(act_space.shape)
        else:
            raise ConfigError(f"fake agent: supports Box and Discrete action spaces, got {act_space}")
        self.act_space = act_space
        self.updates_per_step = float(self.config.updates_per_step)
        self.train_start = int(self.config.train_start)
        self.rng = np.random.default_rng(seed)
        self.preference = np.zeros(shape, np.float32)
        self.rewards: list[float] = []
        self.updates = 0

    def act(self, step: Any, mode: str = "train") -> np.ndarray:
        n = len(step.is_first)
        if mode == "train":
            self.rewards.extend(np.asarray(step.reward)[~np.asarray(step.is_first)].tolist())
            noise = self.rng.normal(0.0, 1.0, (n, *self.preference.shape)).astype(np.float32)
        else:
            noise = np.zeros((n, *self.preference.shape), np.float32)
        scores = self.preference + noise
        if self.discrete:
            return scores.argmax(-1).astype(np.int64)
        low, high = self.act_space.low, self.act_space.high
        return np.clip(scores, low, high).astype(self.act_space.dtype)

    def train(self) -> dict[str, float]:
        target = float(np.tanh(np.mean(self.rewards[-50:]))) if self.rewards else 0.0
        loss = float(np.mean((self.preference - target) ** 2))
        self.preference += self.config.learning_rate * (target - self.preference)
        self.updates += 1
        return {"loss": loss}

    def save(self, directory: Path) -> None:
        arrays = {"preference": self.preference, "rewards": np.asarray(self.rewards, np.float32)}
        atomic_save_npz(Path(directory) / "fake-agent.npz", arrays)
        state = {"updates": self.updates, "rng": self.rng.bit_generator.state}
        (Path(directory) / "fake-agent.json").write_text(json.dumps(state))

    def load(self, directory: Path) -> None:
        try:
            arrays = load_npz(Path(directory) / "fake-agent.npz")
            state = json.loads((Path(directory) / "fake-agent.json").read_text())
            preference = arrays["preference"]
        except (OSError, ValueError, KeyError) as exc:
            raise WorkdirError(f"{directory}: cannot restore the fake agent ({exc})") from exc
        if preference.shape != self.preference.shape:
            raise WorkdirError(f"{directory}: the fake agent was saved for another action space")
        self.preference = preference.astype(np.float32)
        self.rewards = arrays["rewards"].tolist()
        self.updates = int(state["updates"])
        self.rng.bit_generator.state = state["rng"]
