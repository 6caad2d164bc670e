"""Shipped test utilities (for plugin authors and our own tests): a tiny numpy env (no simulator,
no viper-envs needed) and a driver that steps an agent on a vector of them the way
viper.core.loop does (without rewards)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from viper.core.protocols import EnvStep


class PointEnv(gym.Env):
    """A point on a line in [-1, 1] rendered as a bright column of a 16x16 frame; reward is
    1 - |x - 0.5|. ``discrete`` gives three actions (left, stay, right)."""

    def __init__(self, discrete: bool = False, size: int = 16, length: int = 10, with_image: bool = True) -> None:
        self.size, self.length = size, length
        spaces = {"state": gym.spaces.Box(-1, 1, (2,), np.float32)}
        if with_image:
            spaces["image"] = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self.action_space = gym.spaces.Discrete(3) if discrete else gym.spaces.Box(-2, 2, (1,), np.float32)
        self.discrete = discrete

    def _obs(self) -> dict[str, np.ndarray]:
        obs = {"state": np.array([self.x, 0.5], np.float32)}
        if "image" in self.observation_space.spaces:
            image = np.zeros((self.size, self.size, 3), np.uint8)
            image[:, int((self.x + 1) / 2 * (self.size - 1))] = 255
            obs["image"] = image
        return obs

    def reset(self, *, seed: int | None = None, options: Any = None):
        super().reset(seed=seed)
        self.x, self.t = float(self.np_random.uniform(-1, 1)), 0
        return self._obs(), {"task_reward": 0.0}

    def step(self, action):
        move = (
            (int(action) - 1) * 0.2 if self.discrete else float(np.clip(np.asarray(action).reshape(-1)[0], -2, 2)) * 0.1
        )
        self.x = float(np.clip(self.x + move, -1, 1))
        self.t += 1
        reward = 1.0 - abs(self.x - 0.5)
        return self._obs(), reward, False, self.t >= self.length, {"task_reward": reward}


def rollout(
    agent, env_fn, steps: int, num_envs: int = 2, seed: int = 0, mode: str = "train", learn: bool = False
) -> list[np.ndarray]:
    """Step ``num_envs`` envs for ``steps`` steps with the env's reward; returns the actions.
    ``learn``: also update the agent as the loop does (``updates_per_step`` updates per env step
    once ``train_start`` env steps are collected)."""
    envs = gym.vector.SyncVectorEnv([env_fn] * num_envs, autoreset_mode="NextStep")
    obs, info = envs.reset(seed=seed)
    is_first, is_last = np.ones(num_envs, bool), np.zeros(num_envs, bool)
    terminal = np.zeros(num_envs, bool)
    reward = np.zeros(num_envs, np.float32)
    actions = []
    owed = 0.0
    for _ in range(steps):
        step = EnvStep(dict(obs), np.where(is_first, 0, reward).astype(np.float32), is_first, is_last, terminal)
        action = agent.act(step, mode=mode)
        actions.append(action)
        if learn and agent.env_steps >= agent.train_start:
            owed += agent.updates_per_step * num_envs
            while owed >= 1:
                agent.train()
                owed -= 1
        obs, reward, terminated, truncated, info = envs.step(action)
        is_first = is_last.copy()
        is_last = (terminated | truncated) & ~is_first
        terminal = terminated & ~is_first
    envs.close()
    return actions


def mean_return(agent, env_fn, episodes: int = 4, seed: int = 1000) -> float:
    """The agent's mean undiscounted return over ``episodes`` evaluation episodes (one env)."""
    env = env_fn()
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        total, first, done = 0.0, True, False
        while not done:
            batched = {k: np.asarray(v)[None] for k, v in obs.items()}
            flags = np.zeros(1, bool)
            step = EnvStep(batched, np.zeros(1, np.float32), np.array([first]), flags, flags)
            obs, reward, terminated, truncated, _ = env.step(agent.act(step, mode="eval")[0])
            total += float(reward)
            first, done = False, terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))
