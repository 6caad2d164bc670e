"""The distributions DreamerV3 predicts with, written against an explicit torch.Generator."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from viper.agents.torchutils import symexp


def unimix_logits(logits: torch.Tensor, unimix: float) -> torch.Tensor:
    """Mix ``unimix`` of the uniform distribution into a categorical (keeps KLs and log-probs
    bounded, the paper's 1%)."""
    if not unimix:
        return torch.log_softmax(logits, -1)
    probs = torch.softmax(logits, -1)
    probs = (1 - unimix) * probs + unimix / logits.shape[-1]
    return torch.log(probs)


def sample_onehot(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One-hot sample with straight-through gradients (``sample + probs - sg(probs)``)."""
    probs = torch.softmax(logits, -1)
    # Inverse-CDF sampling: one uniform per categorical (much cheaper than torch.multinomial).
    uniform = torch.rand((*probs.shape[:-1], 1), generator=generator, device=probs.device, dtype=probs.dtype)
    index = (probs.detach().cumsum(-1) < uniform).sum(-1).clamp(max=probs.shape[-1] - 1)
    sample = F.one_hot(index, probs.shape[-1]).to(probs.dtype)
    return sample + probs - probs.detach()


def categorical_kl(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) summed over the last two axes (latent variables x classes)."""
    logp, logq = torch.log_softmax(logits_p, -1), torch.log_softmax(logits_q, -1)
    return (logp.exp() * (logp - logq)).sum((-2, -1))


def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    logp = torch.log_softmax(logits, -1)
    return -(logp.exp() * logp).sum(-1)


class TwoHot:
    """Categorical over fixed bins ``symexp(linspace(-20, 20, n))``: predictions are the
    expected bin value; the loss is cross-entropy with the target spread over its two
    neighbouring bins (DreamerV3's reward and critic outputs, robust to any reward scale)."""

    def __init__(self, logits: torch.Tensor, bins: torch.Tensor) -> None:
        self.logits = logits
        self.bins = bins
        self.probs = torch.softmax(logits, -1)

    def mean(self) -> torch.Tensor:
        # A symmetric sum so that uniform probabilities give exactly 0 (zero-initialised heads).
        n = self.bins.shape[0]
        m = (n - 1) // 2
        p, b = self.probs, self.bins
        left = (p[..., :m] * b[:m]).flip(-1)
        right = p[..., m + 1 :] * b[m + 1 :]
        return p[..., m] * b[m] + (left + right).sum(-1)

    def log_prob(self, target: torch.Tensor) -> torch.Tensor:
        target = target.detach()
        n = self.bins.shape[0]
        # below: the last bin <= target; above: the next one (both clipped to the range).
        below = (torch.bucketize(target, self.bins, right=True) - 1).clamp(0, n - 1)
        above = (below + 1).clamp(max=n - 1)
        outside = (target < self.bins[0]) | (target >= self.bins[-1])
        to_below = (self.bins[below] - target).abs()
        to_above = (self.bins[above] - target).abs()
        total = to_below + to_above
        weight_below = torch.where(outside, torch.ones_like(target), to_above / torch.where(outside, 1.0, total))
        logp = torch.log_softmax(self.logits, -1)
        lp_below = logp.gather(-1, below[..., None]).squeeze(-1)
        lp_above = logp.gather(-1, above[..., None]).squeeze(-1)
        return weight_below * lp_below + (1 - weight_below) * lp_above


def twohot_bins(n: int, device: torch.device) -> torch.Tensor:
    """``n`` (odd) bins ``symexp(linspace(-20, 20, n))``, built from one half so that they are
    exactly symmetric with an exact 0 in the middle."""
    half = symexp(torch.linspace(-20.0, 0.0, (n - 1) // 2 + 1, device=device))
    return torch.cat([half, -half[:-1].flip(0)])


class BoundedNormal:
    """Normal(tanh(mean), std) with std in ``[min_std, max_std]`` (DreamerV3's continuous
    actor). Samples are unbounded; the env clips them to ``[-1, 1]`` and the RSSM scales
    actions beyond 1 back (``action_clip``)."""

    def __init__(self, raw_mean: torch.Tensor, raw_std: torch.Tensor, min_std: float, max_std: float) -> None:
        self.mean = torch.tanh(raw_mean)
        self.std = (max_std - min_std) * torch.sigmoid(raw_std + 2.0) + min_std
        self.min_std, self.max_std = min_std, max_std

    def rsample(self, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * noise

    def mode(self) -> torch.Tensor:
        return self.mean

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        var = self.std**2
        return (-((value - self.mean) ** 2) / (2 * var) - torch.log(self.std) - 0.5 * math.log(2 * math.pi)).sum(-1)

    def entropy(self) -> torch.Tensor:
        return (0.5 + 0.5 * math.log(2 * math.pi) + torch.log(self.std)).sum(-1)


class OneHotActions:
    """Categorical actions as one-hot vectors with unimix; REINFORCE gradients (the sample is
    straight-through but DreamerV3 trains discrete actors with log-probabilities)."""

    def __init__(self, logits: torch.Tensor, unimix: float) -> None:
        self.logits = unimix_logits(logits, unimix)

    def rsample(self, generator: torch.Generator) -> torch.Tensor:
        return sample_onehot(self.logits, generator)

    def mode(self) -> torch.Tensor:
        return F.one_hot(self.logits.argmax(-1), self.logits.shape[-1]).to(self.logits.dtype)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return (value * torch.log_softmax(self.logits, -1)).sum(-1)

    def entropy(self) -> torch.Tensor:
        return categorical_entropy(self.logits)
