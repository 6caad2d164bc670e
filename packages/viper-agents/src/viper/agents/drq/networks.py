"""DrQ-v2's networks and its two sampling tricks: the encoder, actor and twin critic,
truncated-noise actions and random-shift augmentation (Yarats et al. 2021); and DrQ's
(Kostrikov et al. 2020) tanh-squashed Gaussian actor with its entropy temperature."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from viper.agents.drq.config import DrQConfig
from viper.agents.spaces import ObsSpec


def _init(module: nn.Module) -> None:
    """DrQ-v2's initialisation: orthogonal weights (ReLU gain for convs), zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.orthogonal_(module.weight.data)
        nn.init.zeros_(module.bias.data)
    elif isinstance(module, nn.Conv2d):
        nn.init.orthogonal_(module.weight.data, nn.init.calculate_gain("relu"))
        nn.init.zeros_(module.bias.data)


class Encoder(nn.Module):
    """Images: four 3x3 convs (``channels`` each, 32 in DrQ; the first with stride 2) + ReLU, flattened.
    Vectors: one hidden ReLU layer, or the vector itself with ``state_hidden=0``. Both feed the
    actor's and the critic's trunks."""

    def __init__(self, spec: ObsSpec, frame_stack: int, state_hidden: int, channels: int = 32) -> None:
        super().__init__()
        self.spec = spec
        self.size = 0
        if spec.images:
            height, width, image_channels = spec.image_shape()
            self.convnet = nn.Sequential(
                nn.Conv2d(image_channels * frame_stack, channels, 3, stride=2), nn.ReLU(),
                nn.Conv2d(channels, channels, 3, stride=1), nn.ReLU(),
                nn.Conv2d(channels, channels, 3, stride=1), nn.ReLU(),
                nn.Conv2d(channels, channels, 3, stride=1), nn.ReLU(),
            )  # fmt: skip
            side = lambda n: (n - 3) // 2 + 1 - 6  # noqa: E731
            self.size += channels * side(height) * side(width)
        if spec.vectors:
            if state_hidden:
                self.mlp = nn.Sequential(nn.Linear(spec.vector_size, state_hidden), nn.ReLU())
            else:
                self.mlp = nn.Identity()
            self.size += state_hidden or spec.vector_size
        self.apply(_init)

    def forward(self, image: torch.Tensor | None, vector: torch.Tensor | None) -> torch.Tensor:
        parts = []
        if self.spec.images:
            x = image.permute(0, 3, 1, 2).float() / 255.0 - 0.5
            parts.append(self.convnet(x).flatten(1))
        if self.spec.vectors:
            parts.append(self.mlp(vector))
        return torch.cat(parts, -1)


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
        self.apply(_init)

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
        self.apply(_init)

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
        self.apply(_init)

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


def random_shift(images: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """``uint8[N,H,W,C]`` -> the same images shifted by up to ``pad`` pixels each way (edges
    replicated), one random integer shift per image."""
    n, h, w, _ = images.shape
    x = F.pad(images.permute(0, 3, 1, 2).float(), (pad, pad, pad, pad), mode="replicate")
    shift = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator, device=images.device)
    rows = (shift[:, :1] + torch.arange(h, device=images.device))[:, :, None]
    cols = (shift[:, 1:] + torch.arange(w, device=images.device))[:, None, :]
    batch = torch.arange(n, device=images.device)[:, None, None]
    return x.permute(0, 2, 3, 1)[batch, rows, cols]  # [N,H,W,C] float in [0, 255]
