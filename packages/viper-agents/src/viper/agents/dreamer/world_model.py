"""DreamerV3's world model: encoder, RSSM, decoder, reward and continuation heads."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from viper.agents.dreamer.config import DreamerConfig
from viper.agents.dreamer.dists import TwoHot, categorical_kl, sample_onehot, twohot_bins, unimix_logits
from viper.agents.spaces import ObsSpec
from viper.agents.torchutils import ChannelNorm, NormLinear, mlp, out_linear, symlog, trunc_normal_
from viper.core.errors import ConfigError

MIN_RES = 4  # the CNN halves the image down to 4x4


def bound_action(action: torch.Tensor) -> torch.Tensor:
    """Scale actions beyond ``[-1, 1]`` (the actor's unbounded normal samples) back onto the
    bound, as the official code does: every model that reads an imagined action sees what the
    env would execute, while the gradient still reaches the sample."""
    return action / torch.clamp(action.abs().detach(), min=1.0)


class Encoder(nn.Module):
    """Images -> stride-2 convs (depth doubling, LayerNorm, SiLU) down to 4x4, flattened;
    vectors -> symlog -> MLP. Outputs are concatenated."""

    def __init__(self, spec: ObsSpec, config: DreamerConfig) -> None:
        super().__init__()
        self.spec = spec
        self.size = 0
        if spec.images:
            height, width, channels = spec.image_shape()
            stages = _cnn_stages(height, width)
            layers, depth = [], config.cnn_depth
            for _ in range(stages):
                conv = nn.Conv2d(channels, depth, 4, 2, 1, bias=False)
                trunc_normal_(conv.weight)
                layers += [conv, ChannelNorm(depth), nn.SiLU()]
                channels, depth = depth, depth * 2
            self.cnn = nn.Sequential(*layers)
            self.size += channels * MIN_RES * MIN_RES
        if spec.vectors:
            self.mlp = mlp(spec.vector_size, config.layers, config.hidden)
            self.size += config.hidden

    def forward(self, image: torch.Tensor | None, vector: torch.Tensor | None) -> torch.Tensor:
        """``image uint8[..., H, W, C]``, ``vector float[..., n]`` -> ``float[..., size]``."""
        outputs = []
        if self.spec.images:
            lead = image.shape[:-3]
            x = image.reshape(-1, *image.shape[-3:]).permute(0, 3, 1, 2).float() / 255.0 - 0.5
            outputs.append(self.cnn(x).reshape(*lead, -1))
        if self.spec.vectors:
            outputs.append(self.mlp(symlog(vector)))
        return torch.cat(outputs, -1)


class Decoder(nn.Module):
    """Features -> images (transposed convs up from 4x4, MSE summed over pixels) and vectors
    (MLP predicting symlog values, squared error summed)."""

    def __init__(self, spec: ObsSpec, config: DreamerConfig, feat: int) -> None:
        super().__init__()
        self.spec = spec
        if spec.images:
            height, width, channels = spec.image_shape()
            stages = _cnn_stages(height, width)
            depth = config.cnn_depth * 2 ** (stages - 1)
            self.cnn_in = out_linear(feat, depth * MIN_RES * MIN_RES)
            self.depth = depth
            layers = []
            for i in range(stages):
                last = i == stages - 1
                out = channels if last else depth // 2
                conv = nn.ConvTranspose2d(depth, out, 4, 2, 1, bias=last)
                trunc_normal_(conv.weight)
                layers.append(conv)
                if not last:
                    layers += [ChannelNorm(out), nn.SiLU()]
                depth = out
            self.cnn = nn.Sequential(*layers)
        if spec.vectors:
            self.mlp = nn.Sequential(
                mlp(feat, config.layers, config.hidden), out_linear(config.hidden, spec.vector_size)
            )

    def loss(
        self, feat: torch.Tensor, image: torch.Tensor | None, vector: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        losses = {}
        if self.spec.images:
            lead = feat.shape[:-1]
            x = self.cnn_in(feat.reshape(-1, feat.shape[-1])).reshape(-1, self.depth, MIN_RES, MIN_RES)
            pred = self.cnn(x).permute(0, 2, 3, 1) + 0.5
            target = image.reshape(-1, *image.shape[-3:]).float() / 255.0
            losses["image"] = ((pred - target) ** 2).sum((1, 2, 3)).reshape(lead)
        if self.spec.vectors:
            losses["vector"] = ((self.mlp(feat) - symlog(vector)) ** 2).sum(-1)
        return losses

    def predict_image(self, feat: torch.Tensor) -> torch.Tensor:
        lead = feat.shape[:-1]
        x = self.cnn_in(feat.reshape(-1, feat.shape[-1])).reshape(-1, self.depth, MIN_RES, MIN_RES)
        pred = (self.cnn(x).permute(0, 2, 3, 1) + 0.5).clamp(0, 1)
        return pred.reshape(*lead, *pred.shape[1:])


def _cnn_stages(height: int, width: int) -> int:
    stages = int(round(math.log2(height / MIN_RES))) if height >= 2 * MIN_RES else 0
    if height != width or stages < 1 or MIN_RES * 2**stages != height:
        raise ConfigError(
            f"dreamer: image observations must be square with a side of 4 * 2^k pixels (8, 16, 32, 64, 128...), "
            f"got {height}x{width}; render the env at such a size (e.g. --size 64)"
        )
    return stages


class RSSM(nn.Module):
    """Recurrent state-space model with 32x32 categorical latents (DreamerV3).

    State: ``deter float[..., deter]`` (GRU) and ``stoch float[..., stoch, classes]`` (one-hot).
    ``img_step`` predicts the prior from the previous state and action; ``obs_step`` also
    sees the observation embedding and returns the posterior.
    """

    def __init__(self, config: DreamerConfig, action_size: int, embed: int) -> None:
        super().__init__()
        self.deter, self.stoch, self.classes = config.deter, config.stoch, config.classes
        self.unimix = config.unimix
        hidden = config.hidden
        self.initial_deter = nn.Parameter(torch.zeros(config.deter))  # learned initial state
        self.img_in = NormLinear(self.stoch * self.classes + action_size, hidden)
        gru = nn.Linear(config.deter + hidden, 3 * config.deter, bias=False)
        trunc_normal_(gru.weight)
        self.gru = nn.Sequential(gru, nn.LayerNorm(3 * config.deter, eps=1e-3))
        self.img_out = NormLinear(config.deter, hidden)
        self.img_stats = out_linear(hidden, self.stoch * self.classes)
        self.obs_out = NormLinear(config.deter + embed, hidden)
        self.obs_stats = out_linear(hidden, self.stoch * self.classes)

    @property
    def feat_size(self) -> int:
        return self.deter + self.stoch * self.classes

    def initial(self, batch: int) -> dict[str, torch.Tensor]:
        deter = torch.tanh(self.initial_deter).expand(batch, -1)
        logits = self._logits(self.img_stats(self.img_out(deter)))
        stoch = F.one_hot(logits.argmax(-1), self.classes).to(deter.dtype)
        return {"deter": deter, "stoch": stoch, "logits": logits}

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return unimix_logits(x.reshape(*x.shape[:-1], self.stoch, self.classes), self.unimix)

    def img_step(
        self, state: dict[str, torch.Tensor], action: torch.Tensor, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        x = self.img_in(torch.cat([state["stoch"].flatten(-2), bound_action(action)], -1))
        reset, cand, update = self.gru(torch.cat([state["deter"], x], -1)).chunk(3, -1)
        reset = torch.sigmoid(reset)
        cand = torch.tanh(reset * cand)
        update = torch.sigmoid(update - 1)
        deter = update * cand + (1 - update) * state["deter"]
        logits = self._logits(self.img_stats(self.img_out(deter)))
        return {"deter": deter, "stoch": sample_onehot(logits, generator), "logits": logits}

    def obs_step(
        self,
        state: dict[str, torch.Tensor],
        action: torch.Tensor,
        embed: torch.Tensor,
        is_first: torch.Tensor,
        generator: torch.Generator,
        initial: dict[str, torch.Tensor] | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Reset where ``is_first`` (learned initial state, zero action), then prior and posterior."""
        keep = (~is_first).to(embed.dtype)[:, None]
        initial = initial if initial is not None else self.initial(len(is_first))
        state = {
            "deter": state["deter"] * keep + initial["deter"] * (1 - keep),
            "stoch": state["stoch"] * keep[..., None] + initial["stoch"] * (1 - keep[..., None]),
        }
        prior = self.img_step(state, action * keep, generator)
        logits = self._logits(self.obs_stats(self.obs_out(torch.cat([prior["deter"], embed], -1))))
        post = {"deter": prior["deter"], "stoch": sample_onehot(logits, generator), "logits": logits}
        return post, prior

    def observe(
        self,
        embed: torch.Tensor,
        prev_action: torch.Tensor,
        is_first: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """``embed [B,T,E]``, ``prev_action [B,T,A]`` (the action before each step),
        ``is_first bool[B,T]`` -> posteriors and priors ``[B,T,...]``."""
        batch, length = is_first.shape
        initial = self.initial(batch)
        state = initial
        posts, priors = [], []
        for t in range(length):
            post, prior = self.obs_step(state, prev_action[:, t], embed[:, t], is_first[:, t], generator, initial)
            posts.append(post)
            priors.append(prior)
            state = post
        stack = lambda items: {k: torch.stack([s[k] for s in items], 1) for k in items[0]}  # noqa: E731
        return stack(posts), stack(priors)

    def kl_losses(
        self, post: dict[str, torch.Tensor], prior: dict[str, torch.Tensor], free: float
    ) -> dict[str, torch.Tensor]:
        """KL balancing with free bits: dyn trains the prior, rep the posterior."""
        dyn = categorical_kl(post["logits"].detach(), prior["logits"])
        rep = categorical_kl(post["logits"], prior["logits"].detach())
        return {"dyn": torch.clamp(dyn, min=free), "rep": torch.clamp(rep, min=free), "kl": dyn.detach()}


def reward_head_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Whether the reward head predicts anything but a constant: its mean and std over the
    batch beside the replayed rewards', and their correlation (0 while it predicts a constant;
    a sparse reward that the head never learned shows as ``reward_pred_std`` near 0)."""
    pred, target = pred.flatten().double(), target.flatten().double()
    pred_std, target_std = pred.std(), target.std()
    cov = ((pred - pred.mean()) * (target - target.mean())).mean()
    corr = cov / (pred_std * target_std) if pred_std > 1e-8 and target_std > 1e-8 else torch.zeros(())
    return {
        "reward_pred_mean": float(pred.mean()),
        "reward_pred_std": float(pred_std),
        "reward_pred_max": float(pred.max()),
        "reward_target_mean": float(target.mean()),
        "reward_target_std": float(target_std),
        "reward_pred_corr": float(corr),
    }


def features(state: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([state["deter"], state["stoch"].flatten(-2)], -1)


class TwoHotHead(nn.Module):
    """MLP -> two-hot logits over symexp bins; the output layer starts at zero (predicts 0)."""

    def __init__(self, inputs: int, config: DreamerConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(mlp(inputs, config.layers, config.hidden), out_linear(config.hidden, config.bins, 0.0))
        self.register_buffer("bins", twohot_bins(config.bins, torch.device("cpu")), persistent=False)

    def forward(self, x: torch.Tensor) -> TwoHot:
        return TwoHot(self.net(x), self.bins)


class WorldModel(nn.Module):
    def __init__(self, spec: ObsSpec, action_size: int, config: DreamerConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(spec, config)
        self.rssm = RSSM(config, action_size, self.encoder.size)
        feat = self.rssm.feat_size
        self.decoder = Decoder(spec, config, feat)
        self.reward = TwoHotHead(feat, config)
        self.cont = nn.Sequential(mlp(feat, config.layers, config.hidden), out_linear(config.hidden, 1))

    def loss(
        self, data: dict[str, torch.Tensor], generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, float]]:
        """``data``: ``image``/``vector``, ``action``, ``reward``, ``is_first``, ``is_terminal``
        ``[B,T,...]`` where ``action[t]`` was taken at step t. Returns the loss, the posterior
        states and metrics."""
        embed = self.encoder(data.get("image"), data.get("vector"))
        action = data["action"]
        prev_action = torch.cat([torch.zeros_like(action[:, :1]), action[:, :-1]], 1)
        post, prior = self.rssm.observe(embed, prev_action, data["is_first"], generator)
        feat = features(post)
        c = self.config
        losses = self.decoder.loss(feat, data.get("image"), data.get("vector"))
        reward_dist = self.reward(feat)
        losses["reward"] = -reward_dist.log_prob(data["reward"])
        cont_target = 1.0 - data["is_terminal"].float()
        losses["cont"] = F.binary_cross_entropy_with_logits(self.cont(feat).squeeze(-1), cont_target, reduction="none")
        kl = self.rssm.kl_losses(post, prior, c.free_nats)
        losses["dyn"], losses["rep"] = kl["dyn"], kl["rep"]
        scales = {"dyn": c.dyn_scale, "rep": c.rep_scale}
        total = sum(scales.get(k, 1.0) * v for k, v in losses.items()).mean()
        metrics = {f"{k}_loss": float(v.detach().mean()) for k, v in losses.items()}
        metrics["kl"] = float(kl["kl"].mean())
        metrics.update(reward_head_metrics(reward_dist.mean().detach(), data["reward"]))
        metrics["prior_entropy"] = float(-(prior["logits"].exp() * prior["logits"]).sum((-2, -1)).mean().detach())
        metrics["post_entropy"] = float(-(post["logits"].exp() * post["logits"]).sum((-2, -1)).mean().detach())
        return total, post, metrics
