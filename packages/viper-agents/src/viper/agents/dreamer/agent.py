"""DreamerV3 (Hafner et al. 2023) as a viper agent: acts, records replay, trains, checkpoints.

One :meth:`DreamerAgent.train` call is one gradient update of the world model on a replayed
batch of sequences followed by one actor-critic update in imagination from every posterior
state of that batch (and, with ``explore``, one update of the disagreement ensemble and its
critic). The loop calls it ``train_ratio / (batch_size * batch_length)`` times per env step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from viper.agents.checkpoint import CheckpointedAgent
from viper.agents.dreamer.behavior import Behavior
from viper.agents.dreamer.config import DreamerConfig
from viper.agents.dreamer.world_model import WorldModel, features
from viper.agents.replay import Replay
from viper.agents.spaces import action_spec, select_observations
from viper.agents.torchutils import Optimizer, resolve_device
from viper.core.checks import check_batch
from viper.core.errors import ConfigError
from viper.core.protocols import EnvStep


class DreamerAgent(CheckpointedAgent):
    """DreamerV3 for ``Box`` (continuous) and ``Discrete`` action spaces, from images and/or
    vectors. See :class:`DreamerConfig` for every option and the presets."""

    Config = DreamerConfig
    name = "dreamer"

    def __init__(self, config: DreamerConfig | None, obs_space: Any, act_space: Any, seed: int = 0) -> None:
        self.config = config = config if config is not None else DreamerConfig()
        self.spec = select_observations(obs_space, config.obs_keys, "dreamer")
        self.actions = action_spec(act_space, "dreamer", discrete_ok=True)
        self.device = resolve_device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.updates_per_step = config.train_ratio / (config.batch_size * config.batch_length)
        self.train_start = int(config.prefill)
        if config.replay_capacity < config.batch_length:
            raise ConfigError(
                f"--set agent.replay_capacity={config.replay_capacity}: must hold one batch_length sequence"
            )

        # Weights are initialised from `seed` without touching torch's global generator.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.wm = WorldModel(self.spec, self.actions.size, config).to(self.device)
            self.behavior = Behavior(self.wm, self.actions.size, self.actions.discrete, config).to(self.device)
        self.model_opt = Optimizer("model", self.wm.parameters(), config.model_lr, config.model_eps, config.model_clip)
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.rng = np.random.default_rng([seed, 7])
        self.replay = Replay(self._replay_spec(), config.replay_capacity)
        self.carry: dict[str, dict[str, torch.Tensor]] = {}  # per mode: latent state and last action
        self.env_steps = 0
        self.updates = 0

    def _replay_spec(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        spec: dict[str, tuple[tuple[int, ...], Any]] = {}
        if self.spec.images:
            spec["image"] = (self.spec.image_shape(), np.uint8)
        if self.spec.vectors:
            spec["vector"] = ((self.spec.vector_size,), np.float32)
        spec["action"] = ((), np.int64) if self.actions.discrete else ((self.actions.size,), np.float32)
        return spec

    # -- acting ----------------------------------------------------------------------------

    @torch.no_grad()
    def act(self, step: EnvStep, mode: str = "train") -> np.ndarray:
        if mode not in ("train", "eval"):
            raise ValueError(f"dreamer.act: mode must be 'train' or 'eval', got {mode!r}")
        image, vector = self.spec.split(step.obs)
        batch = len(step.is_first)
        check_batch(len(step.reward), batch, "dreamer.act: step.reward")
        carry = self.carry.get(mode)
        if carry is None or carry["deter"].shape[0] != batch:
            carry = self._initial_carry(batch)
        is_first = torch.as_tensor(step.is_first, device=self.device)
        embed = self.wm.encoder(self._tensor(image), self._tensor(vector))
        state = {"deter": carry["deter"], "stoch": carry["stoch"]}
        post, _ = self.wm.rssm.obs_step(state, carry["action"], embed, is_first, self.generator)
        policy = self.behavior.actor(features(post))
        if mode == "eval" and not self.config.eval_sample:
            action = policy.mode()
        else:
            action = policy.rsample(self.generator)
        if mode == "train" and self.env_steps < self.config.prefill:
            action = self._random_actions(batch)
        self.carry[mode] = {"deter": post["deter"], "stoch": post["stoch"], "action": action}

        if self.actions.discrete:
            chosen = action.argmax(-1).cpu().numpy()
        else:
            chosen = np.clip(action.cpu().numpy(), -1.0, 1.0).astype(np.float32)
        if mode == "train":
            record = {
                "action": chosen,
                "reward": np.asarray(step.reward, np.float32),
                "is_first": np.asarray(step.is_first, bool),
                "is_last": np.asarray(step.is_last, bool),
                "is_terminal": np.asarray(step.is_terminal, bool),
            }
            if image is not None:
                record["image"] = image
            if vector is not None:
                record["vector"] = vector
            self.replay.add(record)
            self.env_steps += batch
        return self.actions.to_env(chosen)

    def _initial_carry(self, batch: int) -> dict[str, torch.Tensor]:
        state = self.wm.rssm.initial(batch)
        return {
            "deter": state["deter"],
            "stoch": state["stoch"],
            "action": torch.zeros(batch, self.actions.size, device=self.device),
        }

    def _random_actions(self, batch: int) -> torch.Tensor:
        if self.actions.discrete:
            index = torch.randint(0, self.actions.size, (batch,), generator=self.generator, device=self.device)
            return torch.nn.functional.one_hot(index, self.actions.size).float()
        return torch.rand(batch, self.actions.size, generator=self.generator, device=self.device) * 2 - 1

    def _tensor(self, array: np.ndarray | None) -> torch.Tensor | None:
        return None if array is None else torch.as_tensor(np.ascontiguousarray(array), device=self.device)

    # -- learning --------------------------------------------------------------------------

    def train(self) -> dict[str, float]:
        c = self.config
        if self.replay.size < c.batch_length:
            return {}
        batch = self.replay.sample_sequences(c.batch_size, c.batch_length, self.rng)
        batch["is_first"][:, 0] = True  # every sequence starts from the learned initial state
        data = {k: torch.as_tensor(v, device=self.device) for k, v in batch.items()}
        if self.actions.discrete:
            data["action"] = torch.nn.functional.one_hot(data["action"], self.actions.size).float()
        loss, post, metrics = self.wm.loss(data, self.generator)
        metrics.update(self.model_opt.step(loss))
        metrics.update(self.behavior.train_step(self.wm, post, data["is_terminal"], data["action"], self.generator))
        self.updates += 1
        metrics["replay_steps"] = float(len(self.replay))
        return metrics

    # -- checkpoints -----------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        optimizers = {"model": self.model_opt.opt, **self.behavior.optimizers()}
        return dict(
            agent=self.name,
            config=dataclasses.asdict(self.config),
            modules={"wm": self.wm, "behavior": self.behavior},
            optimizers=optimizers,
            generators={"torch": self.generator},
            rngs={"replay": self.rng},
        )

    def _forget_episodes(self) -> None:
        self.carry = {}
