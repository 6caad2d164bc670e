"""Image and vector encoders shared by the model-free agents (drq, dqn), and random-shift
augmentation: DrQ's four 3x3 convs (Yarats et al. 2021), the Nature DQN's three (Mnih et al.
2015) or convs read out as keypoints (a spatial softmax, Levine et al. 2016) for images, a hidden
layer or the vector itself for vectors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from viper.agents.spaces import ObsSpec
from viper.core.errors import ConfigError

NATURE_MIN_SIDE = 36
"""The smallest image side the Nature convs (8x8 stride 4, 4x4 stride 2, 3x3) leave a pixel of."""


def orthogonal_init(module: nn.Module) -> None:
    """DrQ-v2's initialisation: orthogonal weights (ReLU gain for convs), zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.orthogonal_(module.weight.data)
        nn.init.zeros_(module.bias.data)
    elif isinstance(module, nn.Conv2d):
        nn.init.orthogonal_(module.weight.data, nn.init.calculate_gain("relu"))
        nn.init.zeros_(module.bias.data)


def _drq_layers(channels_in: int, channels: int, convs: int) -> tuple[list[nn.Module], Callable[[int], int]]:
    """DrQ's 3x3 convs (the first with stride 2), each followed by a ReLU, and the side length
    an image side of ``n`` pixels comes out at."""
    layers: list[nn.Module] = [nn.Conv2d(channels_in, channels, 3, stride=2), nn.ReLU()]
    for _ in range(convs - 1):
        layers += [nn.Conv2d(channels, channels, 3, stride=1), nn.ReLU()]
    return layers, lambda n: (n - 3) // 2 + 1 - 2 * (convs - 1)


def _drq_convs(channels_in: int, channels: int, height: int, width: int) -> tuple[nn.Sequential, int]:
    layers, side = _drq_layers(channels_in, channels, 4)
    return nn.Sequential(*layers), channels * side(height) * side(width)


def _nature_convs(channels_in: int, height: int, width: int) -> tuple[nn.Sequential, int]:
    if min(height, width) < NATURE_MIN_SIDE:
        raise ConfigError(
            f"--set agent.encoder=nature needs images of at least {NATURE_MIN_SIDE} pixels a side, got "
            f"{height}x{width}; use --set agent.encoder=drq for small images"
        )
    convnet = nn.Sequential(
        nn.Conv2d(channels_in, 32, 8, stride=4), nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
    )  # fmt: skip
    side = lambda n: ((n - 8) // 4 + 1 - 4) // 2 + 1 - 2  # noqa: E731
    return convnet, 64 * side(height) * side(width)


class SpatialSoftmax(nn.Module):
    """``[N, C, H, W]`` feature maps -> ``[N, 2C]``: each channel's softmax over positions read
    out as its expected ``(x, y)`` in ``[-1, 1]`` (a keypoint), with a learned temperature."""

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.log_temperature = nn.Parameter(torch.zeros(()))
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
        # Derived from the shape alone, so kept out of checkpoints.
        self.register_buffer("grid", torch.stack([xs.flatten(), ys.flatten()], -1), persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(features.flatten(2) / self.log_temperature.exp(), -1)
        return (weights @ self.grid).flatten(1)


def _keypoint_convs(channels_in: int, channels: int, height: int, width: int) -> tuple[nn.Sequential, int]:
    layers, side = _drq_layers(channels_in, channels, 3)
    if min(side(height), side(width)) < 2:
        raise ConfigError(
            f"--set agent.encoder=keypoints needs images of at least 13 pixels a side, got {height}x{width}"
        )
    # The last conv keeps no ReLU, so a channel's map can be negative away from what it detects
    # and its softmax stays peaked.
    return nn.Sequential(*layers[:-1], SpatialSoftmax(side(height), side(width))), 2 * channels


class Encoder(nn.Module):
    """Images (``frame_stack`` frames on channels, scaled to [-0.5, 0.5]): ``conv="drq"``, four
    3x3 convs of ``channels`` each (32 in DrQ; the first with stride 2), or ``conv="nature"``, the
    Nature DQN's 32/64/64 convs; + ReLU, flattened. ``conv="keypoints"``: three of DrQ's convs
    read out by a spatial softmax, two coordinates per channel: where things are, which is what
    a position-controlled task needs, in ``2 * channels`` numbers instead of thousands. Vectors:
    one hidden ReLU layer of ``state_hidden`` units, or the vector itself with
    ``state_hidden=0``. Output: both, concatenated."""

    def __init__(
        self,
        spec: ObsSpec,
        frame_stack: int,
        state_hidden: int,
        channels: int = 32,
        conv: Literal["drq", "nature", "keypoints"] = "drq",
    ) -> None:
        super().__init__()
        self.spec = spec
        self.size = 0
        if spec.images:
            height, width, image_channels = spec.image_shape()
            if conv == "nature":
                self.convnet, size = _nature_convs(image_channels * frame_stack, height, width)
            elif conv == "keypoints":
                self.convnet, size = _keypoint_convs(image_channels * frame_stack, channels, height, width)
            else:
                self.convnet, size = _drq_convs(image_channels * frame_stack, channels, height, width)
            self.size += size
        if spec.vectors:
            if state_hidden:
                self.mlp = nn.Sequential(nn.Linear(spec.vector_size, state_hidden), nn.ReLU())
            else:
                self.mlp = nn.Identity()
            self.size += state_hidden or spec.vector_size
        self.apply(orthogonal_init)

    def forward(self, image: torch.Tensor | None, vector: torch.Tensor | None) -> torch.Tensor:
        parts = []
        if self.spec.images:
            x = image.permute(0, 3, 1, 2).float() / 255.0 - 0.5
            parts.append(self.convnet(x).flatten(1))
        if self.spec.vectors:
            parts.append(self.mlp(vector))
        return torch.cat(parts, -1)


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
