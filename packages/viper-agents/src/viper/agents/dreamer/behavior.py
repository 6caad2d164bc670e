"""DreamerV3's actor-critic, learned in imagination, and the Plan2Explore bonus."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from viper.agents.dreamer.config import DreamerConfig
from viper.agents.dreamer.dists import BoundedNormal, OneHotActions, TwoHot
from viper.agents.dreamer.world_model import TwoHotHead, WorldModel, bound_action, features
from viper.agents.torchutils import Optimizer, mlp, out_linear


class Actor(nn.Module):
    def __init__(self, feat: int, action_size: int, discrete: bool, config: DreamerConfig) -> None:
        super().__init__()
        self.discrete, self.config = discrete, config
        self.net = mlp(feat, config.layers, config.hidden)
        scale = 1.0 if config.actor_outscale is None else config.actor_outscale
        self.out = out_linear(config.hidden, action_size if discrete else 2 * action_size, scale)

    def forward(self, feat: torch.Tensor) -> BoundedNormal | OneHotActions:
        x = self.out(self.net(feat))
        if self.discrete:
            return OneHotActions(x, self.config.unimix)
        mean, std = x.chunk(2, -1)
        return BoundedNormal(mean, std, self.config.actor_min_std, self.config.actor_max_std)


class Critic(nn.Module):
    """A two-hot value head with a slow (EMA) copy that regularises it."""

    def __init__(self, feat: int, config: DreamerConfig) -> None:
        super().__init__()
        self.net = TwoHotHead(feat, config)
        self.slow = copy.deepcopy(self.net).requires_grad_(False)

    def forward(self, feat: torch.Tensor) -> TwoHot:
        return self.net(feat)

    @torch.no_grad()
    def update_slow(self, fraction: float) -> None:
        for slow, fast in zip(self.slow.parameters(), self.net.parameters()):
            slow.lerp_(fast, fraction)


class ReturnNorm(nn.Module):
    """EMA of the 5th and 95th return percentiles; advantages are divided by
    ``max(1, P95 - P5)`` so large returns shrink but small ones are not amplified."""

    def __init__(self, config: DreamerConfig) -> None:
        super().__init__()
        self.decay, self.low_q, self.high_q = config.retnorm_decay, config.retnorm_low / 100, config.retnorm_high / 100
        self.register_buffer("low", torch.zeros(()))
        self.register_buffer("high", torch.zeros(()))

    @torch.no_grad()
    def update(self, returns: torch.Tensor) -> None:
        flat = returns.detach().flatten().float()
        quantiles = torch.quantile(flat, torch.tensor([self.low_q, self.high_q], device=flat.device))
        self.low.mul_(self.decay).add_((1 - self.decay) * quantiles[0])
        self.high.mul_(self.decay).add_((1 - self.decay) * quantiles[1])

    def scale(self) -> torch.Tensor:
        return torch.clamp(self.high - self.low, min=1.0)


def replay_returns(
    reward: torch.Tensor, boot: torch.Tensor, is_last: torch.Tensor, is_terminal: torch.Tensor, config: DreamerConfig
) -> torch.Tensor:
    """Lambda-returns along replayed sequences ``[B,T]``: ``reward[t]`` is the reward into step
    t and ``boot[t]`` the imagined lambda-return from step t. Returns ``[B,T-1]`` for steps
    0..T-2: ``R_t = r_{t+1} + gamma c_{t+1} ((1 - l_{t+1}) lambda R_{t+1} + (1 - (1 - l_{t+1})
    lambda) boot_{t+1})`` with ``c = 1 - is_terminal``, ``l = is_last`` (an episode's end
    stops the recursion) and ``R_{T-1} = boot_{T-1}``."""
    live = config.discount * (1.0 - is_terminal[:, 1:].float())
    lam = config.return_lambda * (1.0 - is_last[:, 1:].float())
    out = [boot[:, -1]]
    for t in reversed(range(reward.shape[1] - 1)):
        out.append(reward[:, t + 1] + live[:, t] * ((1 - lam[:, t]) * boot[:, t + 1] + lam[:, t] * out[-1]))
    return torch.stack(out[::-1][:-1], 1)


def lambda_returns(
    reward: torch.Tensor, value: torch.Tensor, cont: torch.Tensor, config: DreamerConfig
) -> torch.Tensor:
    """``reward [H,N]`` (into states 1..H), ``value [H+1,N]``, ``cont [H+1,N]`` -> returns of
    states 0..H-1: ``R_t = r_t + gamma c_{t+1} ((1 - lambda) v_{t+1} + lambda R_{t+1})``, ``R_H = v_H``."""
    discount = config.discount * cont[1:]
    lam = config.return_lambda
    out = [value[-1]]
    for t in reversed(range(reward.shape[0])):
        out.append(reward[t] + discount[t] * ((1 - lam) * value[t + 1] + lam * out[-1]))
    return torch.stack(out[::-1][:-1])


class Disagreement(nn.Module):
    """Plan2Explore: ``explore_models`` MLPs predict the next latent (one-hot ``stoch``) from
    (features, action); their std, averaged over dims, is the intrinsic reward."""

    def __init__(self, feat: int, action_size: int, target: int, config: DreamerConfig) -> None:
        super().__init__()
        self.members = nn.ModuleList(
            nn.Sequential(mlp(feat + action_size, config.layers, config.hidden), out_linear(config.hidden, target))
            for _ in range(config.explore_models)
        )

    def predict(self, feat: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        # Bounded as the dynamics bound it: the ensemble only ever trained on actions in [-1, 1],
        # so a raw sample of 3 would read as novelty the actor could chase by widening its std.
        x = torch.cat([feat, bound_action(action)], -1)
        return torch.stack([m(x) for m in self.members])

    def loss(self, post: dict[str, torch.Tensor], action: torch.Tensor) -> torch.Tensor:
        feat = features(post).detach()
        target = post["stoch"].flatten(-2).detach()[:, 1:]
        pred = self.predict(feat[:, :-1], action[:, :-1])
        return ((pred - target) ** 2).sum(-1).mean((1, 2)).sum()

    def reward(self, feat: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        # Differentiable in (feat, action): continuous actors backpropagate through it too.
        return self.predict(feat, action).std(0).mean(-1)


class Behavior(nn.Module):
    """Actor, critic(s) and normalisers; :meth:`train` runs one imagination update."""

    def __init__(self, wm: WorldModel, action_size: int, discrete: bool, config: DreamerConfig) -> None:
        super().__init__()
        self.config, self.discrete = config, discrete
        self.reinforce = discrete or config.actor_grad == "reinforce"
        feat = wm.rssm.feat_size
        self.actor = Actor(feat, action_size, discrete, config)
        self.critic = Critic(feat, config)
        self.retnorm = ReturnNorm(config)
        c = config
        self.actor_opt = Optimizer("actor", self.actor.parameters(), c.actor_lr, c.ac_eps, c.ac_clip)
        self.critic_opt = Optimizer("critic", self.critic.net.parameters(), c.critic_lr, c.ac_eps, c.ac_clip)
        if c.actor_entropy_target is not None:
            self.log_entropy_weight = nn.Parameter(torch.tensor(math.log(c.actor_entropy)))
            self.entropy_opt = Optimizer("entropy_weight", [self.log_entropy_weight], c.actor_entropy_lr, c.ac_eps, 0)
        if config.explore:
            self.disag = Disagreement(feat, action_size, c.stoch * c.classes, config)
            self.expl_critic = Critic(feat, config)
            self.expl_retnorm = ReturnNorm(config)
            self.disag_opt = Optimizer("disag", self.disag.parameters(), c.explore_lr, c.ac_eps, c.ac_clip)
            self.expl_critic_opt = Optimizer(
                "expl_critic", self.expl_critic.net.parameters(), c.critic_lr, c.ac_eps, c.ac_clip
            )

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = {"actor": self.actor_opt.opt, "critic": self.critic_opt.opt}
        if self.config.actor_entropy_target is not None:
            opts["entropy_weight"] = self.entropy_opt.opt
        if self.config.explore:
            opts.update(disag=self.disag_opt.opt, expl_critic=self.expl_critic_opt.opt)
        return opts

    def imagine(
        self, wm: WorldModel, start: dict[str, torch.Tensor], generator: torch.Generator
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Roll the actor out for ``imag_horizon`` steps from every start state; returns states
        ``[H+1, N, ...]`` and the actions taken at each ``[H+1, N, A]``."""
        state = {"deter": start["deter"], "stoch": start["stoch"]}
        states, actions = [state], []
        for _ in range(self.config.imag_horizon):
            action = self.actor(features(state).detach()).rsample(generator)
            actions.append(action)
            state = wm.rssm.img_step(state, action, generator)
            states.append({"deter": state["deter"], "stoch": state["stoch"]})
        actions.append(self.actor(features(state).detach()).rsample(generator))
        traj = {k: torch.stack([s[k] for s in states]) for k in ("deter", "stoch")}
        return traj, torch.stack(actions)

    def train_step(
        self,
        wm: WorldModel,
        post: dict[str, torch.Tensor],
        data: dict[str, torch.Tensor],
        generator: torch.Generator,
    ) -> dict[str, float]:
        c = self.config
        is_terminal, action = data["is_terminal"], data["action"]
        metrics: dict[str, float] = {}
        if c.explore:
            metrics.update(self.disag_opt.step(self.disag.loss(post, action)))

        # Imagine from every posterior state of the batch. Backprop actors differentiate the
        # returns through the (frozen) dynamics; REINFORCE ones only need the sampled actions.
        start = {k: post[k].detach().reshape(-1, *post[k].shape[2:]) for k in ("deter", "stoch")}
        wm.requires_grad_(False)
        try:
            with torch.set_grad_enabled(not self.reinforce):
                traj, actions = self.imagine(wm, start, generator)
                feat = features(traj)
                reward = wm.reward(feat[1:]).mean()
                cont = (wm.cont(feat).squeeze(-1) > 0).float()
                cont = torch.cat([1.0 - is_terminal.reshape(1, -1).float(), cont[1:]], 0)
                weight = (torch.cumprod(c.discount * cont, 0) / c.discount).detach()
                value = self.critic(feat).mean()
                ret = lambda_returns(reward, value, cont, c)
                self.retnorm.update(ret)
                adv = (ret - value[:-1]) / self.retnorm.scale()
                metrics.update(return_mean=float(ret.detach().mean()), retnorm_scale=float(self.retnorm.scale()))
                if c.explore:
                    expl_reward = self.disag.reward(feat[1:], actions[1:])
                    expl_value = self.expl_critic(feat).mean()
                    expl_ret = lambda_returns(expl_reward, expl_value, cont, c)
                    self.expl_retnorm.update(expl_ret)
                    expl_adv = (expl_ret - expl_value[:-1]) / self.expl_retnorm.scale()
                    # Each term's spread before mixing says which one steers the actor: the
                    # novelty return's range sits under the floor of 1, so it is not scaled up.
                    metrics.update(
                        expl_reward=float(expl_reward.detach().mean()),
                        expl_return=float(expl_ret.detach().mean()),
                        expl_retnorm_scale=float(self.expl_retnorm.scale()),
                        adv_task_std=float(adv.detach().std()),
                        adv_expl_std=float(expl_adv.detach().std()),
                    )
                    adv = (adv + c.explore_weight * expl_adv) / (1 + c.explore_weight)
        finally:
            wm.requires_grad_(True)

        # Actor: maximise normalised advantages plus entropy.
        policy = self.actor(feat[:-1].detach())
        entropy = policy.entropy()
        if self.reinforce:
            objective = policy.log_prob(actions[:-1].detach()) * adv.detach()
        else:
            objective = adv
        entropy_weight = c.actor_entropy
        if c.actor_entropy_target is not None:
            entropy_weight = float(self.log_entropy_weight.detach().exp())
            gap = c.actor_entropy_target - float(entropy.detach().mean())
            metrics.update(self.entropy_opt.step(-self.log_entropy_weight * gap))
            metrics["entropy_weight"] = entropy_weight
        actor_loss = -((objective + entropy_weight * entropy) * weight[:-1]).mean()
        metrics.update(self.actor_opt.step(actor_loss))

        # Critic(s): two-hot regression on lambda-returns, regularised toward the slow critic.
        replay = None
        if c.replay_value_scale:
            # The imagined return from each replayed state bootstraps the replayed rewards.
            boot = ret[0].detach().reshape(is_terminal.shape)
            replay_ret = replay_returns(data["reward"], boot, data["is_last"], is_terminal, c)
            replay_feat = features(post).detach()[:, :-1]
            replay = (replay_feat, replay_ret, (~data["is_last"][:, :-1]).float())
            metrics["replay_return_mean"] = float(replay_ret.mean())
        metrics.update(self._critic_step(self.critic, self.critic_opt, feat, ret, weight, replay))
        if c.explore:
            metrics.update(self._critic_step(self.expl_critic, self.expl_critic_opt, feat, expl_ret, weight))
        metrics.update(
            imag_reward=float(reward.detach().mean()),
            adv_mean=float(adv.detach().mean()),
            adv_std=float(adv.detach().std()),
            policy_entropy=float(entropy.detach().mean()),
            value_mean=float(value.detach().mean()),
        )
        return metrics

    def _critic_step(
        self,
        critic: Critic,
        opt: Optimizer,
        feat: torch.Tensor,
        ret: torch.Tensor,
        weight: torch.Tensor,
        replay: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """``replay``: replayed features ``[B,T-1,F]``, their returns and weights ``[B,T-1]``."""
        loss = (self._critic_loss(critic, feat[:-1].detach(), ret) * weight[:-1]).mean()
        if replay is not None:
            replay_feat, replay_ret, replay_weight = replay
            replay_loss = (self._critic_loss(critic, replay_feat, replay_ret) * replay_weight).mean()
            loss = loss + self.config.replay_value_scale * replay_loss
        out = opt.step(loss)
        if replay is not None:
            out[f"{opt.name}_replay_loss"] = float(replay_loss.detach())
        critic.update_slow(self.config.slow_critic_fraction)
        return out

    def _critic_loss(self, critic: Critic, feat: torch.Tensor, ret: torch.Tensor) -> torch.Tensor:
        dist = critic(feat)
        slow_target = critic.slow(feat).mean().detach()
        return -dist.log_prob(ret.detach()) - self.config.slow_critic_scale * dist.log_prob(slow_target)
