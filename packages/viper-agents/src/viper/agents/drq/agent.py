"""DrQ-v2 (Yarats et al. 2021) and DrQ (Kostrikov et al. 2020) as one viper agent.

Both learn clipped double Q-functions from n-step returns, with a conv encoder trained only
through the critic's loss and random-shift augmentation of every replayed image. They differ in
the actor (``config.algorithm``):

- ``drqv2``: DDPG, a deterministic actor explored with Gaussian noise on a schedule (TD3-style
  clipped noise on the target and actor-update actions);
- ``drq``: SAC, a tanh-squashed Gaussian actor; the targets and the actor's loss carry the entropy
  bonus ``-alpha log pi``, and alpha is learned so the policy's entropy tends to ``-|A|``.

With vector observations (``obs_keys=state``) the encoder is an MLP and no augmentation is
applied. One :meth:`DrQAgent.train` call is one update (critic, then actor and temperature,
then the target critic); the loop calls it every ``update_every`` env steps. Evaluation acts
with the actor's mean either way.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from viper.agents.base import Checkpointed, TorchAgent
from viper.agents.drq.config import DrQConfig
from viper.agents.drq.networks import Actor, Critic, GaussianActor, Temperature, noisy_action
from viper.agents.encoders import Encoder, random_shift
from viper.agents.schedules import parse_schedule
from viper.agents.torchutils import Optimizer
from viper.core.protocols import EnvStep

__all__ = ["DrQAgent", "random_shift"]  # random_shift: the augmentation, tested from here


class DrQAgent(TorchAgent):
    """DrQ-v2 or DrQ for continuous (``Box``) actions from images or vectors."""

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
        self.encoder = Encoder(
            self.spec, self.frames_per_step, config.state_hidden, config.conv_channels, config.encoder
        ).to(self.device)
        self.sac = config.algorithm == "drq"
        actor = GaussianActor if self.sac else Actor
        self.actor = actor(self.encoder.size, self.actions.size, config).to(self.device)
        self.critic = Critic(self.encoder.size, self.actions.size, config).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        # One Adam over encoder and critic equals DrQ-v2's two (Adam is per parameter).
        params = [*self.encoder.parameters(), *self.critic.parameters()]
        self.critic_opt = Optimizer("critic", params, config.lr, 1e-8, 0.0)
        self.actor_opt = Optimizer("actor", self.actor.parameters(), config.lr, 1e-8, 0.0)
        if self.sac:
            self.temperature = Temperature(config.init_temperature).to(self.device)
            self.alpha_opt = Optimizer("alpha", self.temperature.parameters(), config.lr, 1e-8, 0.0)
            self.target_entropy = -float(self.actions.size)

    def checkpointed(self) -> Checkpointed:
        modules = {
            "encoder": self.encoder,
            "actor": self.actor,
            "critic": self.critic,
            "critic_target": self.critic_target,
        }
        optimizers = {"critic": self.critic_opt.opt, "actor": self.actor_opt.opt}
        if self.sac:
            modules["temperature"] = self.temperature
            optimizers["alpha"] = self.alpha_opt.opt
        return Checkpointed(modules=modules, optimizers=optimizers)

    # -- acting ----------------------------------------------------------------------------

    def replay_reward(self, reward: np.ndarray) -> np.ndarray:
        return reward * np.float32(self.config.reward_scale)

    def policy(self, image: torch.Tensor | None, vector: torch.Tensor | None, step: EnvStep, mode: str) -> np.ndarray:
        h = self.encoder(image, vector)
        mean = torch.tanh(self.actor(h)[0]) if self.sac else self.actor(h)
        if mode == "eval":
            action = mean
        elif self.env_steps < self.config.random_steps:
            action = torch.rand(mean.shape, generator=self.generator, device=self.device) * 2 - 1
        elif self.sac:
            action = self.actor.sample(h, self.generator)[0]
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
            if self.sac:  # soft value: the entropy bonus of the next action joins the bootstrap
                next_action, next_log_prob = self.actor.sample(h_next, self.generator)
                next_q = torch.min(*self.critic_target(h_next, next_action)) - self.temperature() * next_log_prob
            else:
                next_action = noisy_action(self.actor(h_next), std, c.std_clip, self.generator)
                next_q = torch.min(*self.critic_target(h_next, next_action))
            target = batch["reward"] + batch["discount"] * next_q
        q1, q2 = self.critic(h, batch["action"])
        critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        metrics = self.critic_opt.step(critic_loss)

        # Actor: maximise min(Q1, Q2) of its action (plus the entropy bonus with SAC); the
        # encoder is not updated here.
        if self.sac:
            action, log_prob = self.actor.sample(h.detach(), self.generator)
            alpha = self.temperature()
            actor_q = torch.min(*self.critic(h.detach(), action))
            metrics.update(self.actor_opt.step((alpha.detach() * log_prob - actor_q).mean()))
            # d loss / d log_alpha = alpha * (entropy - target): alpha falls while the policy's
            # entropy is above the target and rises once it drops below.
            entropy = -log_prob.detach()
            metrics.update(self.alpha_opt.step((alpha * (entropy - self.target_entropy)).mean()))
            extra = {"alpha": float(alpha.detach()), "entropy": float(entropy.mean())}
        else:
            action = noisy_action(self.actor(h.detach()), std, c.std_clip, self.generator)
            metrics.update(self.actor_opt.step(-torch.min(*self.critic(h.detach(), action)).mean()))
            extra = {"std": float(std)}

        with torch.no_grad():
            for target_param, param in zip(self.critic_target.parameters(), self.critic.parameters()):
                target_param.lerp_(param, c.critic_tau)
        self.updates += 1
        metrics.update(
            q_mean=float(q1.detach().mean()),
            target_mean=float(target.mean()),
            batch_reward=float(batch["reward"].mean()),
            **extra,
        )
        return metrics
