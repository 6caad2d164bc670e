"""A single-file, CleanRL-style SAC (torch) learning ``lite:reach`` from the VIPER reward.

Everything an RL researcher would change is in this file; viper contributes one line, the
``VectorRewardWrapper`` that replaces the vector env's rewards with the video model's
log-likelihood of each new frame (one batched reward step per vector step). The policy sees the
``state`` vector; the env's own reward stays in ``info["task_reward"]`` and is only logged.

    python examples/cleanrl_style.py --workdir runs/default --steps 20000 --num-envs 4

``--workdir`` must hold a trained tokenizer and video model of ``lite:reach`` (``viper-run``, or
``python examples/sb3_sac.py``, which builds one).

Measured on the ``quick`` models (seed 0, 4 envs, 10000 steps, 2 shared CPU cores): true return
85.0 over 10 evaluation episodes (the scripted expert: 89.5) in 202 s.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from viper.core.components import make_env
from viper.rewards import VectorRewardWrapper

ENV = "lite:reach"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs/default"))
    parser.add_argument("--steps", type=int, default=20_000, help="env steps, summed over envs")
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--buffer-size", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--tau", type=float, default=0.005)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--learning-starts", type=int, default=1_000)
    parser.add_argument("--updates-per-step", type=float, default=0.5, help="gradient updates per env step")
    parser.add_argument("--eval-episodes", type=int, default=10)
    return parser.parse_args()


def make_envs(workdir: Path, num_envs: int) -> gym.vector.VectorEnv:
    envs = gym.vector.SyncVectorEnv(
        [lambda: make_env(ENV)] * num_envs, autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP
    )
    return VectorRewardWrapper(envs, "viper", workdir, task=ENV, normalize="running")


class QNetwork(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(obs_dim + act_dim, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1)
        )

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, act], -1)).squeeze(-1)


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy (actions in [-1, 1], as lite's action space)."""

    def __init__(self, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(obs_dim, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU())
        self.mean, self.log_std = nn.Linear(256, act_dim), nn.Linear(256, act_dim)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.trunk(obs)
        mean, log_std = self.mean(h), self.log_std(h).clamp(-5, 2)
        normal = torch.distributions.Normal(mean, log_std.exp())
        raw = normal.rsample()
        action = torch.tanh(raw)
        log_prob = (normal.log_prob(raw) - torch.log(1 - action.pow(2) + 1e-6)).sum(-1)
        return action, log_prob, torch.tanh(mean)


class Replay:
    def __init__(self, size: int, obs_dim: int, act_dim: int) -> None:
        self.obs, self.next_obs = np.zeros((size, obs_dim), np.float32), np.zeros((size, obs_dim), np.float32)
        self.act, self.rew = np.zeros((size, act_dim), np.float32), np.zeros(size, np.float32)
        self.term = np.zeros(size, np.float32)
        self.size, self.n, self.i = size, 0, 0

    def add(self, obs, act, rew, next_obs, term) -> None:
        for row in range(len(obs)):
            self.obs[self.i], self.act[self.i], self.rew[self.i] = obs[row], act[row], rew[row]
            self.next_obs[self.i], self.term[self.i] = next_obs[row], term[row]
            self.i, self.n = (self.i + 1) % self.size, min(self.n + 1, self.size)

    def sample(self, batch: int, rng: np.random.Generator) -> list[torch.Tensor]:
        idx = rng.integers(0, self.n, batch)
        return [torch.as_tensor(x[idx]) for x in (self.obs, self.act, self.rew, self.next_obs, self.term)]


def evaluate(actor: Actor, episodes: int) -> float:
    """Mean true return of the deterministic policy on an env without the reward wrapper."""
    env, returns = make_env(ENV), []
    for i in range(episodes):
        obs, _ = env.reset(seed=10_000 + i)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                action = actor(torch.as_tensor(obs["state"][None]))[2][0].numpy()
            obs, reward, terminated, truncated, _ = env.step(action)
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    envs = make_envs(args.workdir, args.num_envs)
    obs_dim, act_dim = envs.single_observation_space["state"].shape[0], envs.single_action_space.shape[0]
    actor, q1, q2 = Actor(obs_dim, act_dim), QNetwork(obs_dim, act_dim), QNetwork(obs_dim, act_dim)
    q1_target, q2_target = QNetwork(obs_dim, act_dim), QNetwork(obs_dim, act_dim)
    q1_target.load_state_dict(q1.state_dict()), q2_target.load_state_dict(q2.state_dict())
    q_opt = torch.optim.Adam([*q1.parameters(), *q2.parameters()], lr=args.lr)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=args.lr)
    log_alpha = torch.zeros(1, requires_grad=True)
    alpha_opt, target_entropy = torch.optim.Adam([log_alpha], lr=args.lr), -float(act_dim)
    replay = Replay(args.buffer_size, obs_dim, act_dim)

    obs, _ = envs.reset(seed=[args.seed + i for i in range(args.num_envs)])
    reset_now = np.zeros(args.num_envs, bool)  # NEXT_STEP: these envs are reset by the next step call
    true_return, finished, started, owed, step = np.zeros(args.num_envs), [], time.time(), 0.0, 0
    while step < args.steps:
        if step < args.learning_starts:
            action = rng.uniform(-1, 1, (args.num_envs, act_dim)).astype(np.float32)
        else:
            with torch.no_grad():
                action = actor(torch.as_tensor(obs["state"]))[0].numpy()
        next_obs, reward, terminated, truncated, info = envs.step(action)
        keep = ~reset_now  # a reset step is no transition: its action was ignored
        replay.add(obs["state"][keep], action[keep], reward[keep], next_obs["state"][keep], terminated[keep])
        true_return += np.where(keep, info["task_reward"], 0.0)
        done = terminated | truncated
        finished += true_return[done].tolist()
        true_return[done] = 0.0
        obs, reset_now, step = next_obs, done, step + args.num_envs

        owed += args.updates_per_step * args.num_envs if step >= args.learning_starts else 0.0
        while owed >= 1:
            owed -= 1
            b_obs, b_act, b_rew, b_next, b_term = replay.sample(args.batch_size, rng)
            alpha = log_alpha.exp().detach()
            with torch.no_grad():
                next_act, next_logp, _ = actor(b_next)
                target_q = torch.min(q1_target(b_next, next_act), q2_target(b_next, next_act)) - alpha * next_logp
                target = b_rew + args.gamma * (1 - b_term) * target_q
            q_loss = F.mse_loss(q1(b_obs, b_act), target) + F.mse_loss(q2(b_obs, b_act), target)
            q_opt.zero_grad(), q_loss.backward(), q_opt.step()
            new_act, logp, _ = actor(b_obs)
            actor_loss = (alpha * logp - torch.min(q1(b_obs, new_act), q2(b_obs, new_act))).mean()
            actor_opt.zero_grad(), actor_loss.backward(), actor_opt.step()
            alpha_loss = -(log_alpha * (logp.detach() + target_entropy)).mean()
            alpha_opt.zero_grad(), alpha_loss.backward(), alpha_opt.step()
            with torch.no_grad():
                for net, target_net in ((q1, q1_target), (q2, q2_target)):
                    for p, tp in zip(net.parameters(), target_net.parameters(), strict=True):
                        tp.mul_(1 - args.tau).add_(args.tau * p)
        if step % 2_000 < args.num_envs and finished:
            sps = step / (time.time() - started)
            print(f"step {step}: train true return {np.mean(finished[-10:]):.1f}, {sps:.0f} steps/s", flush=True)
    print(f"final: true return {evaluate(actor, args.eval_episodes):.1f} over {args.eval_episodes} episodes")
    envs.close()


if __name__ == "__main__":
    main()
