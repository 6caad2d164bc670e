"""Drive an agent on a vector of test envs the way viper.core.loop does (without rewards)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from viper.core.protocols import EnvStep


def rollout(agent, env_fn, steps: int, num_envs: int = 2, seed: int = 0, mode: str = "train") -> list[np.ndarray]:
    """Step ``num_envs`` envs for ``steps`` steps with the env's reward; returns the actions."""
    envs = gym.vector.SyncVectorEnv([env_fn] * num_envs, autoreset_mode="NextStep")
    obs, info = envs.reset(seed=seed)
    is_first, is_last = np.ones(num_envs, bool), np.zeros(num_envs, bool)
    reward = np.zeros(num_envs, np.float32)
    actions = []
    for _ in range(steps):
        step = EnvStep(
            dict(obs), np.where(is_first, 0, reward).astype(np.float32), is_first, is_last, np.zeros(num_envs, bool)
        )
        action = agent.act(step, mode=mode)
        actions.append(action)
        obs, reward, terminated, truncated, info = envs.step(action)
        is_first = is_last.copy()
        is_last = (terminated | truncated) & ~is_first
    envs.close()
    return actions
