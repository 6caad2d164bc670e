"""Small PyTorch helpers shared by the agents: devices, symlog, layers, a checked optimiser."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from viper.core.checks import check_finite
from viper.core.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"--set agent.device={name!r}: {exc}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--set agent.device={name!r}: this torch build sees no CUDA device; use auto or cpu")
    return device


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(torch.abs(x))


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(torch.abs(x))


def trunc_normal_(weight: torch.Tensor, scale: float = 1.0) -> None:
    """DreamerV3's initialiser: truncated normal with variance ``scale / mean(fan_in, fan_out)``
    (``scale = 0`` gives zeros, used for the reward and value outputs)."""
    if scale == 0.0:
        nn.init.zeros_(weight)
        return
    if weight.ndim == 2:
        fan_in, fan_out = weight.shape[1], weight.shape[0]
    else:  # conv [out, in, k, k] or transposed [in, out, k, k]: the same average either way
        space = math.prod(weight.shape[2:])
        fan_in, fan_out = weight.shape[1] * space, weight.shape[0] * space
    std = math.sqrt(scale / ((fan_in + fan_out) / 2)) / 0.87962566103423978
    with torch.no_grad():
        nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)


class NormLinear(nn.Sequential):
    """Linear (no bias) -> LayerNorm (eps 1e-3) -> SiLU, DreamerV3's hidden layer."""

    def __init__(self, inputs: int, units: int) -> None:
        linear = nn.Linear(inputs, units, bias=False)
        trunc_normal_(linear.weight)
        super().__init__(linear, nn.LayerNorm(units, eps=1e-3), nn.SiLU())


def mlp(inputs: int, layers: int, units: int) -> nn.Sequential:
    """``layers`` NormLinear blocks (the output layer is added by the head)."""
    blocks = []
    for _ in range(layers):
        blocks.append(NormLinear(inputs, units))
        inputs = units
    return nn.Sequential(*blocks)


def out_linear(inputs: int, outputs: int, scale: float = 1.0) -> nn.Linear:
    layer = nn.Linear(inputs, outputs)
    trunc_normal_(layer.weight, scale)
    nn.init.zeros_(layer.bias)
    return layer


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of an NCHW tensor (what DreamerV3 applies after convs)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class Optimizer:
    """Adam with global-norm gradient clipping that refuses non-finite losses and gradients
    (:func:`viper.core.checks.check_finite`) before touching the parameters (so the last good state survives a NaN)."""

    def __init__(self, name: str, params: Iterable[nn.Parameter], lr: float, eps: float, clip: float) -> None:
        self.name = name
        self.params = [p for p in params if p.requires_grad]
        self.opt = torch.optim.Adam(self.params, lr=lr, eps=eps)
        self.clip = clip

    def step(self, loss: torch.Tensor, retain_graph: bool = False) -> dict[str, float]:
        value = check_finite(float(loss.detach()), f"{self.name} loss")
        self.opt.zero_grad(set_to_none=True)
        grads = torch.autograd.grad(loss, self.params, retain_graph=retain_graph, allow_unused=True)
        for param, grad in zip(self.params, grads):
            param.grad = grad
        norm = float(torch.nn.utils.clip_grad_norm_(self.params, self.clip if self.clip else float("inf")))
        check_finite(norm, f"{self.name} gradient norm")
        self.opt.step()
        return {f"{self.name}_loss": value, f"{self.name}_grad_norm": norm}
