"""What every torch agent shares: device, seeding, acting with replay recording, checkpoints.

A subclass states its algorithm in four places and nothing else:

- :meth:`TorchAgent.build` creates its networks and optimisers (torch's global generator is
  seeded from the agent's seed for the call and restored afterwards);
- :meth:`TorchAgent.policy` picks actions for a batch of observations;
- :meth:`TorchAgent.train` is one update from :attr:`TorchAgent.replay`;
- :meth:`TorchAgent.checkpointed` names the modules and optimisers a checkpoint holds
  (:class:`Checkpointed`); the base adds its generators, counters, config and replay.

The checkpoint layout is :mod:`viper.agents.checkpoint`'s.
"""

from __future__ import annotations

import abc
import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from viper.agents.checkpoint import AgentState, check_meta, load_state, load_weights, save_state
from viper.agents.replay import Replay
from viper.agents.spaces import action_spec, select_observations
from viper.agents.torchutils import resolve_device
from viper.core.checks import check_batch
from viper.core.protocols import EnvStep

MODES = ("train", "eval")


@dataclasses.dataclass(frozen=True)
class Checkpointed:
    """The learned state a subclass puts in its checkpoint, each under a stable name (the name
    prefixes its tensors in the files, so renaming one breaks old checkpoints)."""

    modules: dict[str, torch.nn.Module]
    """Every module whose parameters and buffers are learned or tracked (target networks too)."""
    optimizers: dict[str, torch.optim.Optimizer]
    """Every torch optimiser; its moments go into ``optim.safetensors``."""


class TorchAgent(abc.ABC):
    """A :class:`viper.core.protocols.Agent` built from torch modules and a :class:`Replay`.

    The base owns ``config``, ``spec`` (observations read), ``actions`` (action space),
    ``device``, ``generator`` (torch, for sampling on ``device``), ``rng`` (numpy, for replay
    sampling), ``replay``, ``episodes`` (per-mode state between steps, dropped on load), and
    the counters ``env_steps`` and ``updates``. A checkpoint holds all of them but ``episodes``.
    """

    name: ClassVar[str]
    """The component name; also the ``--set agent.`` prefix in error messages."""
    Config: ClassVar[type]
    discrete_actions: ClassVar[bool]
    """Whether ``Discrete`` action spaces are supported (``Box`` always is)."""
    rng_stream: ClassVar[int]
    """Mixed with the seed for the numpy generator, so agents sample replay differently."""

    updates_per_step: float
    train_start: int

    def __init__(self, config: Any, obs_space: Any, act_space: Any, seed: int = 0) -> None:
        self.config = config = config if config is not None else self.Config()
        self.actions = action_spec(act_space, self.name, discrete_ok=self.discrete_actions)
        self.spec = select_observations(obs_space, config.obs_keys, self.name)
        self.device = resolve_device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        # Weights are initialised from `seed` without touching torch's global generator.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.build()
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.rng = np.random.default_rng([seed, self.rng_stream])
        self.replay = Replay(self.replay_spec(), config.replay_capacity)
        self.episodes: dict[str, Any] = {}
        self.env_steps = 0
        self.updates = 0

    # -- what a subclass provides ----------------------------------------------------------

    @abc.abstractmethod
    def build(self) -> None:
        """Create the networks (on :attr:`device`) and optimisers; set :attr:`updates_per_step`
        and :attr:`train_start`. Raise :class:`~viper.core.errors.ConfigError` for options that
        do not fit together."""

    @abc.abstractmethod
    def policy(self, image: torch.Tensor | None, vector: torch.Tensor | None, step: EnvStep, mode: str) -> np.ndarray:
        """Actions for the batch in the agent's own space (``float32[B, n]`` in ``[-1, 1]`` or
        ``int64[B]``); this is what the replay records. Per-env state between steps lives in
        ``self.episodes[mode]``."""

    @abc.abstractmethod
    def train(self) -> dict[str, float]:
        """One update; see :meth:`viper.core.protocols.Agent.train`."""

    @abc.abstractmethod
    def checkpointed(self) -> Checkpointed:
        """The modules and optimisers a checkpoint saves and restores."""

    frames_per_step: int = 1
    """How many env frames one recorded image holds (stacked on channels)."""

    def observe(self, image: np.ndarray | None, step: EnvStep, mode: str) -> np.ndarray | None:
        """The image the policy sees and the replay records: the last :attr:`frames_per_step`
        frames per env stacked on channels (the first frame repeated at a reset)."""
        if image is None or self.frames_per_step == 1:
            return image
        is_first = np.asarray(step.is_first, bool)
        c = image.shape[-1]
        stack = self.episodes.get(f"frames/{mode}")
        if stack is None or stack.shape[0] != image.shape[0]:
            stack = np.repeat(image, self.frames_per_step, -1)
        else:
            stack = np.concatenate([stack[..., c:], image], -1)
            stack[is_first] = np.repeat(image[is_first], self.frames_per_step, -1)
        self.episodes[f"frames/{mode}"] = stack
        return stack

    def replay_reward(self, reward: np.ndarray) -> np.ndarray:
        """The reward the replay records for ``step.reward``."""
        return reward

    # -- acting ----------------------------------------------------------------------------

    def replay_spec(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        spec: dict[str, tuple[tuple[int, ...], Any]] = {}
        if self.spec.images:
            height, width, channels = self.spec.image_shape()
            spec["image"] = ((height, width, channels * self.frames_per_step), np.uint8)
        if self.spec.vectors:
            spec["vector"] = ((self.spec.vector_size,), np.float32)
        spec["action"] = ((), np.int64) if self.actions.discrete else ((self.actions.size,), np.float32)
        return spec

    @torch.no_grad()
    def act(self, step: EnvStep, mode: str = "train") -> np.ndarray:
        if mode not in MODES:
            raise ValueError(f"{self.name}.act: mode must be 'train' or 'eval', got {mode!r}")
        image, vector = self.spec.split(step.obs)
        batch = len(step.is_first)
        check_batch(len(step.reward), batch, f"{self.name}.act: step.reward")
        if image is not None:
            image = self.observe(np.asarray(image), step, mode)
        chosen = self.policy(self.tensor(image), self.tensor(vector), step, mode)
        if mode == "train":
            self._record(step, chosen, image, vector)
            self.env_steps += batch
        return self.actions.to_env(chosen)

    def _record(self, step: EnvStep, chosen: np.ndarray, image: np.ndarray | None, vector: np.ndarray | None) -> None:
        record = {
            "action": chosen,
            "reward": self.replay_reward(np.asarray(step.reward, np.float32)),
            "is_first": np.asarray(step.is_first, bool),
            "is_last": np.asarray(step.is_last, bool),
            "is_terminal": np.asarray(step.is_terminal, bool),
        }
        if image is not None:
            record["image"] = image
        if vector is not None:
            record["vector"] = vector
        self.replay.add(record)

    def tensor(self, array: np.ndarray | None) -> torch.Tensor | None:
        """A numpy batch on :attr:`device` (``None`` stays ``None``)."""
        return None if array is None else torch.as_tensor(np.ascontiguousarray(array), device=self.device)

    # -- checkpoints -----------------------------------------------------------------------

    def _state(self) -> AgentState:
        learned = self.checkpointed()
        return AgentState(
            agent=self.name,
            config=dataclasses.asdict(self.config),
            modules=learned.modules,
            optimizers=learned.optimizers,
            generators={"torch": self.generator},
            rngs={"replay": self.rng},
            config_defaults={
                f.name: f.default for f in dataclasses.fields(self.config) if f.default is not dataclasses.MISSING
            },
        )

    def save(self, directory: Path) -> None:
        counters = {"env_steps": self.env_steps, "updates": self.updates}
        save_state(Path(directory), self._state(), counters)
        self.replay.save(Path(directory) / "replay")

    def load(self, directory: Path) -> None:
        directory = Path(directory)
        state = self._state()
        meta = check_meta(directory, state.agent, state.config, state.config_defaults)
        replay = Replay(self.replay_spec(), self.config.replay_capacity)
        replay.load(directory / "replay")  # read before changing anything
        counters = load_state(directory, state, meta)
        self.replay = replay
        self.env_steps = int(counters.get("env_steps", 0))
        self.updates = int(counters.get("updates", 0))
        self.episodes = {}

    def load_policy(self, directory: Path) -> None:
        """Restore only the weights (no replay, optimiser or counters): enough to act in
        ``eval`` mode, as :class:`viper.core.trained_agent.TrainedAgent` does."""
        load_weights(Path(directory), self._state())
