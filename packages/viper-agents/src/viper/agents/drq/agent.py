"""DrQ-v2 (Yarats et al. 2021) as a viper agent.

DDPG with clipped double Q-learning and n-step returns, exploration noise on a schedule, a
conv encoder trained only through the critic's loss, and random-shift augmentation of every
replayed image. With vector observations (``obs_keys=state``) the encoder is an MLP and no
augmentation is applied. One :meth:`DrQAgent.train` call is one update (critic, then actor,
then the target critic); the loop calls it every ``update_every`` env steps.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from viper.agents.base import Checkpointed, TorchAgent
from viper.agents.drq.config import DrQConfig, parse_schedule
from viper.agents.drq.networks import Actor, Critic, Encoder, noisy_action, random_shift
from viper.agents.torchutils import Optimizer
from viper.core.protocols import EnvStep

__all__ = ["DrQAgent", "random_shift"]  # random_shift: the augmentation, tested from here


class DrQAgent(TorchAgent):
    """DrQ-v2 for continuous (``Box``) actions from images or vectors."""

    Config = DrQConfig
    name = "drq"
    discrete_actions = False
    rng_stream = 11
    config: DrQConfig

    def build(self) -> None:
        config = self.config
        self.updates_per_step = 1.0 / config.update_every
        self.train_start = int(config.seed_steps)
        self.std = parse_schedule(config.std_schedule)
        self.frames_per_step = config.frame_stack if self.spec.images else 1
        self.encoder = Encoder(self.spec, self.frames_per_step, config.state_hidden).to(self.device)
        self.actor = Actor(self.encoder.size, self.actions.size, config).to(self.device)
        self.critic = Critic(self.encoder.size, self.actions.size, config).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        # One Adam over encoder and critic equals DrQ-v2's two (Adam is per parameter).
        params = [*self.encoder.parameters(), *self.critic.parameters()]
        self.critic_opt = Optimizer("critic", params, config.lr, 1e-8, 0.0)
        self.actor_opt = Optimizer("actor", self.actor.parameters(), config.lr, 1e-8, 0.0)

    def checkpointed(self) -> Checkpointed:
        return Checkpointed(
            modules={
                "encoder": self.encoder,
                "actor": self.actor,
                "critic": self.critic,
                "critic_target": self.critic_target,
            },
            optimizers={"critic": self.critic_opt.opt, "actor": self.actor_opt.opt},
        )

    # -- acting ----------------------------------------------------------------------------

    def observe(self, image: np.ndarray | None, step: EnvStep, mode: str) -> np.ndarray | None:
        """Keep the last ``frame_stack`` frames per env (the first frame repeated at a reset)."""
        is_first = np.asarray(step.is_first, bool)
        c = image.shape[-1]
        stack = self.episodes.get(mode)
        if stack is None or stack.shape[0] != image.shape[0]:
            stack = np.repeat(image, self.frames_per_step, -1)
        else:
            stack = np.concatenate([stack[..., c:], image], -1)
            stack[is_first] = np.repeat(image[is_first], self.frames_per_step, -1)
        self.episodes[mode] = stack
        return stack

    def replay_reward(self, reward: np.ndarray) -> np.ndarray:
        return reward * np.float32(self.config.reward_scale)

    def policy(self, image: torch.Tensor | None, vector: torch.Tensor | None, step: EnvStep, mode: str) -> np.ndarray:
        mean = self.actor(self.encoder(image, vector))
        if mode == "eval":
            action = mean
        elif self.env_steps < self.config.random_steps:
            action = torch.rand(mean.shape, generator=self.generator, device=self.device) * 2 - 1
        else:
            action = noisy_action(mean, self.std(self.env_steps), None, self.generator)
        return action.clamp(-1, 1).cpu().numpy().astype(np.float32)

    # -- learning --------------------------------------------------------------------------

    def _encode(self, batch: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
        image = batch.get(f"{prefix}/image")
        if image is not None:
            image = random_shift(image, self.config.shift_pad, self.generator)
        return self.encoder(image, batch.get(f"{prefix}/vector"))

    def train(self) -> dict[str, float]:
        c = self.config
        if self.replay.size < 2:
            return {}
        keys = tuple(k for k in ("image", "vector") if k in self.replay.spec)
        sample = self.replay.sample_nstep(c.batch_size, c.nstep, c.discount, self.rng, keys)
        batch = {k: torch.as_tensor(v, device=self.device) for k, v in sample.items()}
        std = self.std(self.env_steps)

        # Critic (and encoder): clipped double-Q n-step TD targets from the target critic.
        h = self._encode(batch, "obs")
        with torch.no_grad():
            h_next = self._encode(batch, "next")
            next_action = noisy_action(self.actor(h_next), std, c.std_clip, self.generator)
            target_q1, target_q2 = self.critic_target(h_next, next_action)
            target = batch["reward"] + batch["discount"] * torch.min(target_q1, target_q2)
        q1, q2 = self.critic(h, batch["action"])
        critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        metrics = self.critic_opt.step(critic_loss)

        # Actor: maximise min(Q1, Q2) of its (noisy) action; the encoder is not updated here.
        action = noisy_action(self.actor(h.detach()), std, c.std_clip, self.generator)
        actor_q1, actor_q2 = self.critic(h.detach(), action)
        metrics.update(self.actor_opt.step(-torch.min(actor_q1, actor_q2).mean()))

        with torch.no_grad():
            for target_param, param in zip(self.critic_target.parameters(), self.critic.parameters()):
                target_param.lerp_(param, c.critic_tau)
        self.updates += 1
        metrics.update(
            q_mean=float(q1.detach().mean()),
            target_mean=float(target.mean()),
            batch_reward=float(batch["reward"].mean()),
            std=float(std),
        )
        return metrics
