"""DrQ-v2's networks and its sampling trick: the actor and twin critic and truncated-noise actions
(Yarats et al. 2021; the encoder and random shifts are :mod:`viper.agents.encoders`'); and DrQ's
(Kostrikov et al. 2020) tanh-squashed Gaussian actor with its entropy temperature."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from viper.agents.drq.config import DrQConfig
from viper.agents.encoders import orthogonal_init


def trunk(inputs: int, feature_dim: int) -> tuple[nn.Module, int]:
    """DrQ-v2's LayerNorm+tanh bottleneck and its output size; ``feature_dim=0``: none (the
    heads read the encoder's output, as plain SAC's MLPs read a state vector)."""
    if not feature_dim:
        return nn.Identity(), inputs
    return nn.Sequential(nn.Linear(inputs, feature_dim), nn.LayerNorm(feature_dim), nn.Tanh()), feature_dim


def head(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, outputs)
    )


class Actor(nn.Module):
    def __init__(self, repr_dim: int, action_size: int, config: DrQConfig) -> None:
        super().__init__()
        self.trunk, features = trunk(repr_dim, config.feature_dim)
        self.policy = head(features, config.hidden, action_size)
        self.apply(orthogonal_init)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """The mean action in ``[-1, 1]``."""
        return torch.tanh(self.policy(self.trunk(h)))


class GaussianActor(nn.Module):
    """DrQ's (SAC's) policy: a Gaussian squashed by tanh, its log-std bounded softly."""

    LOG_STD_MIN, LOG_STD_MAX = -10.0, 2.0  # DrQ's bounds: std from 4.5e-5 to 7.4

    def __init__(self, repr_dim: int, action_size: int, config: DrQConfig) -> None:
        super().__init__()
        self.trunk, features = trunk(repr_dim, config.feature_dim)
        self.policy = head(features, config.hidden, 2 * action_size)
        self.apply(orthogonal_init)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The Gaussian's mean and log-std before the tanh."""
        mean, log_std = self.policy(self.trunk(h)).chunk(2, -1)
        low, high = self.LOG_STD_MIN, self.LOG_STD_MAX
        return mean, low + 0.5 * (high - low) * (torch.tanh(log_std) + 1)

    def sample(self, h: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action in ``(-1, 1)`` and its log-probability (summed over dims)."""
        mean, log_std = self(h)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        u = mean + noise * log_std.exp()
        gaussian = -0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
        # log(1 - tanh(u)^2) in a form that stays finite for large |u|.
        squash = 2 * (math.log(2) - u - F.softplus(-2 * u))
        return torch.tanh(u), (gaussian - squash).sum(-1)


class Temperature(nn.Module):
    """SAC's entropy temperature alpha, learned as its log (a module so checkpoints hold it)."""

    def __init__(self, initial: float) -> None:
        super().__init__()
        self.log_alpha = nn.Parameter(torch.tensor(math.log(initial)))

    def forward(self) -> torch.Tensor:
        return self.log_alpha.exp()


class Critic(nn.Module):
    """Two Q-functions on a shared trunk (clipped double Q-learning)."""

    def __init__(self, repr_dim: int, action_size: int, config: DrQConfig) -> None:
        super().__init__()
        self.trunk, features = trunk(repr_dim, config.feature_dim)
        self.q1 = head(features + action_size, config.hidden, 1)
        self.q2 = head(features + action_size, config.hidden, 1)
        self.apply(orthogonal_init)

    def forward(self, h: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.trunk(h), action], -1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


def noisy_action(mean: torch.Tensor, std: float, clip: float | None, generator: torch.Generator) -> torch.Tensor:
    """``mean + N(0, std)`` with the noise clipped to ``clip``; the action is kept inside
    ``(-1, 1)`` with a straight-through gradient (DrQ-v2's truncated normal sample)."""
    noise = torch.randn(mean.shape, generator=generator, device=mean.device) * std
    if clip is not None:
        noise = noise.clamp(-clip, clip)
    action = mean + noise
    clamped = action.clamp(-1.0 + 1e-6, 1.0 - 1e-6)
    return action - action.detach() + clamped.detach()
