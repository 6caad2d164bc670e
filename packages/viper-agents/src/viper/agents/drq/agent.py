"""DrQ-v2 (Yarats et al. 2021) as a viper agent.

DDPG with clipped double Q-learning and n-step returns, exploration noise on a schedule, a
conv encoder trained only through the critic's loss, and random-shift augmentation of every
replayed image. With vector observations (``obs_keys=state``) the encoder is an MLP and no
augmentation is applied. One :meth:`DrQAgent.train` call is one update (critic, then actor,
then the target critic); the loop calls it every ``update_every`` env steps.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from viper.agents.checkpoint import CheckpointedAgent
from viper.agents.drq.config import DrQConfig, parse_schedule
from viper.agents.replay import Replay
from viper.agents.spaces import ObsSpec, action_spec, select_observations
from viper.agents.torchutils import Optimizer, resolve_device
from viper.core.checks import check_batch
from viper.core.protocols import EnvStep


def _init(module: nn.Module) -> None:
    """DrQ-v2's initialisation: orthogonal weights (ReLU gain for convs), zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.orthogonal_(module.weight.data)
        nn.init.zeros_(module.bias.data)
    elif isinstance(module, nn.Conv2d):
        nn.init.orthogonal_(module.weight.data, nn.init.calculate_gain("relu"))
        nn.init.zeros_(module.bias.data)


class Encoder(nn.Module):
    """Images: four 3x3 convs (32 channels, the first with stride 2) + ReLU, flattened.
    Vectors: one hidden ReLU layer. Both feed the actor's and the critic's trunks."""

    def __init__(self, spec: ObsSpec, frame_stack: int, state_hidden: int) -> None:
        super().__init__()
        self.spec = spec
        self.size = 0
        if spec.images:
            height, width, channels = spec.image_shape()
            self.convnet = nn.Sequential(
                nn.Conv2d(channels * frame_stack, 32, 3, stride=2), nn.ReLU(),
                nn.Conv2d(32, 32, 3, stride=1), nn.ReLU(),
                nn.Conv2d(32, 32, 3, stride=1), nn.ReLU(),
                nn.Conv2d(32, 32, 3, stride=1), nn.ReLU(),
            )  # fmt: skip
            side = lambda n: (n - 3) // 2 + 1 - 6  # noqa: E731
            self.size += 32 * side(height) * side(width)
        if spec.vectors:
            self.mlp = nn.Sequential(nn.Linear(spec.vector_size, state_hidden), nn.ReLU())
            self.size += state_hidden
        self.apply(_init)

    def forward(self, image: torch.Tensor | None, vector: torch.Tensor | None) -> torch.Tensor:
        parts = []
        if self.spec.images:
            x = image.permute(0, 3, 1, 2).float() / 255.0 - 0.5
            parts.append(self.convnet(x).flatten(1))
        if self.spec.vectors:
            parts.append(self.mlp(vector))
        return torch.cat(parts, -1)


def trunk(inputs: int, feature_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, feature_dim), nn.LayerNorm(feature_dim), nn.Tanh())


def head(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, outputs)
    )


class Actor(nn.Module):
    def __init__(self, repr_dim: int, action_size: int, config: DrQConfig) -> None:
        super().__init__()
        self.trunk = trunk(repr_dim, config.feature_dim)
        self.policy = head(config.feature_dim, config.hidden, action_size)
        self.apply(_init)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """The mean action in ``[-1, 1]``."""
        return torch.tanh(self.policy(self.trunk(h)))


class Critic(nn.Module):
    """Two Q-functions on a shared trunk (clipped double Q-learning)."""

    def __init__(self, repr_dim: int, action_size: int, config: DrQConfig) -> None:
        super().__init__()
        self.trunk = trunk(repr_dim, config.feature_dim)
        self.q1 = head(config.feature_dim + action_size, config.hidden, 1)
        self.q2 = head(config.feature_dim + action_size, config.hidden, 1)
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


class DrQAgent(CheckpointedAgent):
    """DrQ-v2 for continuous (``Box``) actions from images or vectors."""

    Config = DrQConfig
    name = "drq"

    def __init__(self, config: DrQConfig | None, obs_space: Any, act_space: Any, seed: int = 0) -> None:
        self.config = config = config if config is not None else DrQConfig()
        self.actions = action_spec(act_space, "drq", discrete_ok=False)
        self.spec = select_observations(obs_space, config.obs_keys, "drq")
        self.device = resolve_device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.updates_per_step = 1.0 / config.update_every
        self.train_start = int(config.seed_steps)
        self.std = parse_schedule(config.std_schedule)
        self.stack = config.frame_stack if self.spec.images else 1

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = Encoder(self.spec, self.stack, config.state_hidden).to(self.device)
            self.actor = Actor(self.encoder.size, self.actions.size, config).to(self.device)
            self.critic = Critic(self.encoder.size, self.actions.size, config).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        # One Adam over encoder and critic equals DrQ-v2's two (Adam is per parameter).
        params = [*self.encoder.parameters(), *self.critic.parameters()]
        self.critic_opt = Optimizer("critic", params, config.lr, 1e-8, 0.0)
        self.actor_opt = Optimizer("actor", self.actor.parameters(), config.lr, 1e-8, 0.0)
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.rng = np.random.default_rng([seed, 11])
        self.replay = Replay(self._replay_spec(), config.replay_capacity)
        self.frames: dict[str, np.ndarray] = {}  # per mode: the stacked frames of each env
        self.env_steps = 0
        self.updates = 0

    def _replay_spec(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        spec: dict[str, tuple[tuple[int, ...], Any]] = {"action": ((self.actions.size,), np.float32)}
        if self.spec.images:
            h, w, c = self.spec.image_shape()
            spec["image"] = ((h, w, c * self.stack), np.uint8)
        if self.spec.vectors:
            spec["vector"] = ((self.spec.vector_size,), np.float32)
        return spec

    # -- acting ----------------------------------------------------------------------------

    def _stacked(self, image: np.ndarray, is_first: np.ndarray, mode: str) -> np.ndarray:
        """Keep the last ``frame_stack`` frames per env (the first frame repeated at a reset)."""
        c = image.shape[-1]
        stack = self.frames.get(mode)
        if stack is None or stack.shape[0] != image.shape[0]:
            stack = np.repeat(image, self.stack, -1)
        else:
            stack = np.concatenate([stack[..., c:], image], -1)
            stack[is_first] = np.repeat(image[is_first], self.stack, -1)
        self.frames[mode] = stack
        return stack

    @torch.no_grad()
    def act(self, step: EnvStep, mode: str = "train") -> np.ndarray:
        if mode not in ("train", "eval"):
            raise ValueError(f"drq.act: mode must be 'train' or 'eval', got {mode!r}")
        image, vector = self.spec.split(step.obs)
        batch = len(step.is_first)
        check_batch(len(step.reward), batch, "drq.act: step.reward")
        if image is not None:
            image = self._stacked(np.asarray(image), np.asarray(step.is_first, bool), mode)
        h = self.encoder(self._tensor(image), self._tensor(vector))
        mean = self.actor(h)
        if mode == "eval":
            action = mean
        elif self.env_steps < self.config.random_steps:
            action = torch.rand(mean.shape, generator=self.generator, device=self.device) * 2 - 1
        else:
            action = noisy_action(mean, self.std(self.env_steps), None, self.generator)
        chosen = action.clamp(-1, 1).cpu().numpy().astype(np.float32)
        if mode == "train":
            record = {
                "action": chosen,
                "reward": np.asarray(step.reward, np.float32) * np.float32(self.config.reward_scale),
                "is_first": np.asarray(step.is_first, bool),
                "is_last": np.asarray(step.is_last, bool),
                "is_terminal": np.asarray(step.is_terminal, bool),
            }
            if image is not None:
                record["image"] = image
            if vector is not None:
                record["vector"] = vector
            self.replay.add(record)
            self.env_steps += batch
        return self.actions.to_env(chosen)

    def _tensor(self, array: np.ndarray | None) -> torch.Tensor | None:
        return None if array is None else torch.as_tensor(np.ascontiguousarray(array), device=self.device)

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

    # -- checkpoints -----------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return dict(
            agent=self.name,
            config=dataclasses.asdict(self.config),
            modules={
                "encoder": self.encoder,
                "actor": self.actor,
                "critic": self.critic,
                "critic_target": self.critic_target,
            },
            optimizers={"critic": self.critic_opt.opt, "actor": self.actor_opt.opt},
            generators={"torch": self.generator},
            rngs={"replay": self.rng},
        )

    def _forget_episodes(self) -> None:
        self.frames = {}
