"""DQN (Mnih et al. 2015) as a viper agent, with the double and dueling changes and n-step
returns; for ``Discrete`` action spaces (Atari, or any discrete env) from images or vectors.

One :meth:`DQNAgent.train` call is one update: sample n-step transitions, regress Q(s, a) on
``r + gamma^n Q_target(s', a*)`` with the Huber loss (``a*`` chosen by the online network
with ``double``, by the target network otherwise), and copy the online network into the
target network every ``target_every`` updates. Acting is epsilon-greedy on ``epsilon`` while
training, with ``eval_epsilon`` in evaluation. Replayed images are randomly shifted (DrQ-epsilon)
unless ``shift_pad=0``; ``grayscale`` turns RGB images into luminance before stacking.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from viper.agents.base import Checkpointed, TorchAgent
from viper.agents.dqn.config import DQNConfig
from viper.agents.dqn.networks import QNetwork, gray_spec, luminance
from viper.agents.encoders import random_shift
from viper.agents.schedules import parse_schedule
from viper.agents.torchutils import Optimizer
from viper.core.errors import ConfigError
from viper.core.protocols import EnvStep

__all__ = ["DQNAgent"]


class DQNAgent(TorchAgent):
    """Double, dueling, n-step DQN for discrete actions."""

    Config = DQNConfig
    name = "dqn"
    discrete_actions = True
    rng_stream = 13
    config: DQNConfig

    def build(self) -> None:
        config = self.config
        if not self.actions.discrete:
            raise ConfigError(
                f"dqn supports only Discrete action spaces; this env has {self.actions.size} continuous action "
                "dims. Use --agent drq (or dreamer) for continuous actions."
            )
        self.updates_per_step = 1.0 / config.update_every
        self.train_start = int(config.seed_steps)
        self.epsilon = parse_schedule(config.epsilon, "agent.epsilon")
        self.frames_per_step = config.frame_stack if self.spec.images else 1
        if config.grayscale and self.spec.images:
            self.spec = gray_spec(self.spec)
        self.q = QNetwork(self.spec, self.frames_per_step, self.actions.size, config).to(self.device)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.opt = Optimizer("q", self.q.parameters(), config.lr, 1.5e-4, config.grad_clip)

    def checkpointed(self) -> Checkpointed:
        return Checkpointed(modules={"q": self.q, "q_target": self.q_target}, optimizers={"q": self.opt.opt})

    # -- acting ----------------------------------------------------------------------------

    def observe(self, image: np.ndarray | None, step: EnvStep, mode: str) -> np.ndarray | None:
        if image is not None and self.config.grayscale:
            image = luminance(image)
        return super().observe(image, step, mode)

    def replay_reward(self, reward: np.ndarray) -> np.ndarray:
        reward = reward * np.float32(self.config.reward_scale)
        if self.config.reward_clip:
            reward = np.clip(reward, -self.config.reward_clip, self.config.reward_clip)
        return reward.astype(np.float32)

    def policy(self, image: torch.Tensor | None, vector: torch.Tensor | None, step: EnvStep, mode: str) -> np.ndarray:
        greedy = self.q(image, vector).argmax(-1)
        epsilon = self.config.eval_epsilon if mode == "eval" else self.epsilon(self.env_steps)
        if epsilon <= 0:
            return greedy.cpu().numpy().astype(np.int64)
        n = greedy.shape[0]
        explore = torch.rand(n, generator=self.generator, device=self.device) < epsilon
        random = torch.randint(0, self.actions.size, (n,), generator=self.generator, device=self.device)
        return torch.where(explore, random, greedy).cpu().numpy().astype(np.int64)

    # -- learning --------------------------------------------------------------------------

    def _inputs(self, batch: dict[str, torch.Tensor], prefix: str) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        image = batch.get(f"{prefix}/image")
        if image is not None and self.config.shift_pad:
            image = random_shift(image, self.config.shift_pad, self.generator)
        return image, batch.get(f"{prefix}/vector")

    def train(self) -> dict[str, float]:
        c = self.config
        if self.replay.size < 2:
            return {}
        keys = tuple(k for k in ("image", "vector") if k in self.replay.spec)
        sample = self.replay.sample_nstep(c.batch_size, c.nstep, c.discount, self.rng, keys)
        batch = {k: torch.as_tensor(v, device=self.device) for k, v in sample.items()}

        with torch.no_grad():
            next_inputs = self._inputs(batch, "next")
            next_q = self.q_target(*next_inputs)
            if c.double:
                choice = self.q(*next_inputs).argmax(-1, keepdim=True)
                bootstrap = next_q.gather(-1, choice).squeeze(-1)
            else:
                bootstrap = next_q.max(-1).values
            target = batch["reward"] + batch["discount"] * bootstrap
        q = self.q(*self._inputs(batch, "obs")).gather(-1, batch["action"].long()[:, None]).squeeze(-1)
        metrics = self.opt.step(F.smooth_l1_loss(q, target))

        self.updates += 1
        if self.updates % c.target_every == 0:
            self.q_target.load_state_dict(self.q.state_dict())
        metrics.update(
            q_mean=float(q.detach().mean()),
            target_mean=float(target.mean()),
            batch_reward=float(batch["reward"].mean()),
            epsilon=float(self.epsilon(self.env_steps)),
        )
        return metrics
