"""The dqn agent's Q-network: an image encoder (the Nature DQN's convs, or DrQ's for small
images) and vectors read as they are, then one hidden layer into Q-values per action, split
into value and advantage streams when dueling."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from viper.agents.dqn.config import DQNConfig
from viper.agents.drq.networks import Encoder
from viper.agents.spaces import ObsSpec
from viper.core.errors import ConfigError

NATURE_MIN_SIDE = 36
"""The smallest image side the Nature convs (8x8 stride 4, 4x4 stride 2, 3x3) leave a pixel of."""


_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601, as ALE's grayscale screens


def gray_spec(spec: ObsSpec) -> ObsSpec:
    """``spec`` with every RGB image as one luminance channel."""
    images = {}
    for key, (height, width, channels) in spec.images.items():
        if channels != 3:
            raise ConfigError(f"--set agent.grayscale=true needs RGB images; {key!r} has {channels} channels")
        images[key] = (height, width, 1)
    return dataclasses.replace(spec, images=images)


def luminance(images: np.ndarray) -> np.ndarray:
    """``uint8[B,H,W,3k]`` (k RGB images stacked on channels) -> ``uint8[B,H,W,k]``."""
    *lead, channels = images.shape
    rgb = images.reshape(*lead, channels // 3, 3).astype(np.float32)
    return np.rint(rgb @ _LUMA).astype(np.uint8)


def _out_side(side: int) -> int:
    side = (side - 8) // 4 + 1
    side = (side - 4) // 2 + 1
    return side - 2


class NatureEncoder(nn.Module):
    """Images: the Nature DQN's three convs (32, 64, 64 channels) + ReLU, flattened; vectors are
    appended as they are."""

    def __init__(self, spec: ObsSpec, frame_stack: int) -> None:
        super().__init__()
        self.spec = spec
        self.size = spec.vector_size
        if spec.images:
            height, width, channels = spec.image_shape()
            if min(height, width) < NATURE_MIN_SIDE:
                raise ConfigError(
                    f"--set agent.encoder=nature needs images of at least {NATURE_MIN_SIDE} pixels a side, got "
                    f"{height}x{width}; use --set agent.encoder=drq for small images"
                )
            self.convnet = nn.Sequential(
                nn.Conv2d(channels * frame_stack, 32, 8, stride=4), nn.ReLU(),
                nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
                nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            )  # fmt: skip
            self.size += 64 * _out_side(height) * _out_side(width)
            for layer in self.convnet:
                if isinstance(layer, nn.Conv2d):
                    nn.init.orthogonal_(layer.weight, nn.init.calculate_gain("relu"))
                    nn.init.zeros_(layer.bias)

    def forward(self, image: torch.Tensor | None, vector: torch.Tensor | None) -> torch.Tensor:
        parts = []
        if self.spec.images:
            x = image.permute(0, 3, 1, 2).float() / 255.0 - 0.5
            parts.append(self.convnet(x).flatten(1))
        if self.spec.vectors:
            parts.append(vector)
        return torch.cat(parts, -1)


def _linear(inputs: int, outputs: int, gain: float = 2**0.5) -> nn.Linear:
    layer = nn.Linear(inputs, outputs)
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class QNetwork(nn.Module):
    """Observations -> ``Q[B, actions]``."""

    def __init__(self, spec: ObsSpec, frame_stack: int, actions: int, config: DQNConfig) -> None:
        super().__init__()
        if config.encoder == "nature":
            self.encoder: nn.Module = NatureEncoder(spec, frame_stack)
        else:
            self.encoder = Encoder(spec, frame_stack, state_hidden=0)
        size, hidden = self.encoder.size, config.hidden
        self.dueling = config.dueling
        self.advantage = nn.Sequential(_linear(size, hidden), nn.ReLU(), _linear(hidden, actions, 1.0))
        if self.dueling:
            self.value = nn.Sequential(_linear(size, hidden), nn.ReLU(), _linear(hidden, 1, 1.0))

    def forward(self, image: torch.Tensor | None, vector: torch.Tensor | None) -> torch.Tensor:
        h = self.encoder(image, vector)
        advantage = self.advantage(h)
        if not self.dueling:
            return advantage
        # Centring the advantages makes value and advantage identifiable (Wang et al. 2016).
        return self.value(h) + advantage - advantage.mean(-1, keepdim=True)
