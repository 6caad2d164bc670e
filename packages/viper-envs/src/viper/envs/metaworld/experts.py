"""Meta-World's own scripted policies (``metaworld.policies``) as viper experts.

Each policy reads the goal-observable state vector (hand, gripper, objects, goal) and returns a
hand displacement and a gripper effort; they were written for one physics step per action, and
still solve the tasks at the suite's default action repeat of 2 (success rates in the package
README).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from viper.envs.metaworld.env import import_metaworld


class MetaWorldExpert:
    """The scripted policy of the env's task, acting on ``obs["state"]``."""

    def __init__(self, env: Any) -> None:
        policies = import_metaworld().policies.ENV_POLICY_MAP
        if env.env_name not in policies:
            raise ValueError(f"metaworld has no scripted policy for {env.env_name}")
        self.policy = policies[env.env_name]()

    def reset(self) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        with warnings.catch_warnings():
            # The policies' proportional gains saturate on purpose; metaworld warns at every step.
            warnings.filterwarnings("ignore", message=r"Constant\(s\) may be too high")
            action = self.policy.get_action(np.asarray(obs["state"], np.float64))
        return np.clip(np.asarray(action, np.float32), -1.0, 1.0)
