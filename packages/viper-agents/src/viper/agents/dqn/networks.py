"""The dqn agent's Q-network: the shared encoder (the Nature DQN's convs, or DrQ's for small
images; vectors read as they are), then one hidden layer into Q-values per action, split into
value and advantage streams when dueling; and the grayscale conversion of its inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from viper.agents.dqn.config import DQNConfig
from viper.agents.encoders import Encoder
from viper.agents.spaces import ObsSpec
from viper.core.errors import ConfigError

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


def _linear(inputs: int, outputs: int, gain: float = 2**0.5) -> nn.Linear:
    layer = nn.Linear(inputs, outputs)
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class QNetwork(nn.Module):
    """Observations -> ``Q[B, actions]``."""

    def __init__(self, spec: ObsSpec, frame_stack: int, actions: int, config: DQNConfig) -> None:
        super().__init__()
        self.encoder = Encoder(spec, frame_stack, state_hidden=0, conv=config.encoder)
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
