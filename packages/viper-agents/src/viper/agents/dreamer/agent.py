"""DreamerV3 (Hafner et al. 2023) as a viper agent: acts, records replay, trains, checkpoints.

One :meth:`DreamerAgent.train` call is one gradient update of the world model on a replayed
batch of sequences followed by one actor-critic update in imagination from every posterior
state of that batch (and, with ``explore``, one update of the disagreement ensemble and its
critic). The loop calls it ``train_ratio / (batch_size * batch_length)`` times per env step.
"""

from __future__ import annotations

import numpy as np
import torch

from viper.agents.base import Checkpointed, TorchAgent
from viper.agents.dreamer.behavior import Behavior
from viper.agents.dreamer.config import DreamerConfig
from viper.agents.dreamer.world_model import WorldModel, features
from viper.agents.torchutils import Optimizer
from viper.core.errors import ConfigError
from viper.core.protocols import EnvStep


class DreamerAgent(TorchAgent):
    """DreamerV3 for ``Box`` (continuous) and ``Discrete`` action spaces, from images and/or
    vectors. See :class:`DreamerConfig` for every option and the presets."""

    Config = DreamerConfig
    name = "dreamer"
    discrete_actions = True
    rng_stream = 7
    config: DreamerConfig

    def build(self) -> None:
        config = self.config
        self.updates_per_step = config.train_ratio / (config.batch_size * config.batch_length)
        self.train_start = int(config.prefill)
        if config.replay_capacity < config.batch_length:
            raise ConfigError(
                f"--set agent.replay_capacity={config.replay_capacity}: must hold one batch_length sequence"
            )
        self.wm = WorldModel(self.spec, self.actions.size, config).to(self.device)
        self.behavior = Behavior(self.wm, self.actions.size, self.actions.discrete, config).to(self.device)
        self.model_opt = Optimizer("model", self.wm.parameters(), config.model_lr, config.model_eps, config.model_clip)

    def checkpointed(self) -> Checkpointed:
        return Checkpointed(
            modules={"wm": self.wm, "behavior": self.behavior},
            optimizers={"model": self.model_opt.opt, **self.behavior.optimizers()},
        )

    # -- acting ----------------------------------------------------------------------------

    def policy(self, image: torch.Tensor | None, vector: torch.Tensor | None, step: EnvStep, mode: str) -> np.ndarray:
        batch = len(step.is_first)
        # The latent state and last action per env carry over between steps of one mode.
        carry = self.episodes.get(mode)
        if carry is None or carry["deter"].shape[0] != batch:
            carry = self._initial_carry(batch)
        is_first = torch.as_tensor(step.is_first, device=self.device)
        embed = self.wm.encoder(image, vector)
        state = {"deter": carry["deter"], "stoch": carry["stoch"]}
        post, _ = self.wm.rssm.obs_step(state, carry["action"], embed, is_first, self.generator)
        policy = self.behavior.actor(features(post))
        if mode == "eval" and not self.config.eval_sample:
            action = policy.mode()
        else:
            action = policy.rsample(self.generator)
        if mode == "train" and self.env_steps < self.config.prefill:
            action = self._random_actions(batch)
        self.episodes[mode] = {"deter": post["deter"], "stoch": post["stoch"], "action": action}
        if self.actions.discrete:
            return action.argmax(-1).cpu().numpy()
        return np.clip(action.cpu().numpy(), -1.0, 1.0).astype(np.float32)

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
        metrics.update(self.behavior.train_step(self.wm, post, data, self.generator))
        self.updates += 1
        metrics["replay_steps"] = float(len(self.replay))
        return metrics
