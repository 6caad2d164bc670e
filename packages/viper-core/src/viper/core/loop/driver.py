"""The driver: one gymnasium vector env stepped the way every run mode needs it.

Training and evaluation share it. Each :meth:`Driver.observe` turns the envs' newest frames into
the :class:`~viper.core.protocols.EnvStep` the agent acts on (the chosen reward computed for all
envs in one :class:`~viper.core.protocols.StepBatch`) and keeps each env's episode sums of the
true and the chosen reward; :meth:`Driver.step` steps the envs with the agent's actions and does
the ``is_first``/``is_last``/``is_terminal`` bookkeeping.

Conventions (DreamerV3's): ``reward[t]`` belongs to the transition into ``obs[t]``; the first
observation of an episode has ``is_first`` and reward 0. The driver needs gymnasium's
``NextStep`` autoreset: a finished env is reset by the *next* ``step`` call (its action
ignored), which is exactly the step that carries ``is_first``; a vector env that restarts envs
itself (a replaced Ray worker) says so in ``info[RESTARTED]``. A reset's ``info`` may lack
``task_reward`` (gymnasium allows any reset info; no transition led to that frame, so its true
reward is 0); every step's ``info`` must carry it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from viper.core.checks import check_finite
from viper.core.errors import ConfigError, ContractError
from viper.core.protocols import EnvStep, StepBatch


@dataclasses.dataclass
class Episode:
    """One finished episode of env ``env``: true return, chosen-reward return, length."""

    env: int
    true_return: float
    reward_return: float
    length: int


class Driver:
    """Steps ``envs`` (a gymnasium vector env with NextStep autoreset); ``task_ids`` index the
    reward context's tasks, one per env; ``timer(phase)`` (optional) times the reward and env calls."""

    def __init__(
        self,
        envs: Any,
        task_ids: np.ndarray,
        *,
        timer: Callable[[str], Any] | None = None,
    ) -> None:
        check_autoreset(envs)
        self.envs = envs
        self.n = int(envs.num_envs)
        self.task_ids = np.asarray(task_ids, np.int32).reshape(self.n)
        self.act_space = envs.single_action_space
        self.timer = timer or (lambda _name: contextlib.nullcontext())
        self.stream: Any = None

    def reset(self, seeds: list[int], stream: Any = None) -> None:
        """Reset every env with its seed; ``stream`` (or None: no chosen reward) scores frames."""
        self.obs, self.info = self.envs.reset(seed=seeds)
        self.stream = stream
        n = self.n
        self.is_first = np.ones(n, bool)
        self.is_last = np.zeros(n, bool)
        self.is_terminal = np.zeros(n, bool)
        self.prev_action = np.zeros((n, *self.act_space.shape), action_dtype(self.act_space))
        self.ep_true = np.zeros(n, np.float64)  # running sums of the true and the chosen reward
        self.ep_reward = np.zeros(n, np.float64)
        self.ep_length = np.zeros(n, np.int64)

    def observe(self, env_step: int = -1) -> tuple[EnvStep, list[Episode]]:
        """The step the agent acts on, and the episodes whose last frame it holds. ``env_step``
        places a bad reward in error messages (-1: during evaluation)."""
        is_first = self.is_first
        self.task_reward = task_rewards(self.info, is_first)
        rewards = np.zeros(self.n, np.float32)
        if self.stream is not None:
            with self.timer("reward"):
                rewards = self.stream.step(
                    StepBatch(
                        frames=self.obs["image"],
                        is_first=is_first.copy(),
                        task_reward=self.task_reward.astype(np.float32),
                        task_ids=self.task_ids,
                        state=self.obs.get("state"),
                        action=self.prev_action,
                    )
                )
            rewards = check_rewards(rewards, self.n, env_step)
            rewards = np.where(is_first, np.float32(0), rewards).astype(np.float32)
        self.ep_true += self.task_reward
        self.ep_reward += rewards
        self.ep_length += ~is_first
        finished = [
            Episode(int(i), float(self.ep_true[i]), float(self.ep_reward[i]), int(self.ep_length[i]))
            for i in np.flatnonzero(self.is_last)
        ]
        for episode in finished:
            self.ep_true[episode.env] = self.ep_reward[episode.env] = self.ep_length[episode.env] = 0
        step = EnvStep(
            obs=dict(self.obs),
            reward=rewards,
            is_first=is_first,
            is_last=self.is_last,
            is_terminal=self.is_terminal,
        )
        return step, finished

    def step(self, action: Any) -> np.ndarray:
        """Step the envs (a finished env is reset by this call instead, its action ignored);
        returns the checked actions."""
        action = check_actions(action, self.act_space, self.n)
        with self.timer("env"):
            self.obs, _, terminated, truncated, self.info = self.envs.step(action)
        restarted = restarted_envs(self.info, self.n)
        is_first = self.is_last | restarted
        self.prev_action = np.where(_expand(is_first, action), np.zeros_like(action), action)
        self.is_first = is_first
        self.is_terminal = np.asarray(terminated, bool) & ~is_first
        self.is_last = (self.is_terminal | np.asarray(truncated, bool)) & ~is_first
        # A restarted env's unfinished episode is lost: it never reaches the episode stats.
        self.ep_true[restarted] = self.ep_reward[restarted] = self.ep_length[restarted] = 0
        return action


# --------------------------------------------------------------------------------------------
# The boundary checks the driver applies


def autoreset_mode(envs: Any) -> str:
    """A vector env's autoreset mode: ``NextStep`` (gymnasium's default), ``SameStep`` or ``Disabled``."""
    mode = (getattr(envs, "metadata", None) or {}).get("autoreset_mode", "NextStep")
    return str(getattr(mode, "value", mode))


def check_autoreset(envs: Any) -> None:
    """Refuse a vector env whose autoreset mode the driver cannot follow."""
    name = autoreset_mode(envs)
    if name != "NextStep":
        raise ConfigError(
            f"vector env {type(envs).__name__}: autoreset mode {name}, but the loop needs NextStep "
            f"(a finished env reset by the next step call); build it with autoreset_mode="
            f"gymnasium.vector.AutoresetMode.NEXT_STEP or pass an env factory instead"
        )


#: Info key by which a vector env says it reset envs outside autoreset (a Ray worker replaced
#: after it died): those envs hold a first frame and their unfinished episodes are dropped.
RESTARTED = "env_restarted"


def restarted_envs(info: dict[str, Any], n: int) -> np.ndarray:
    """``bool[n]``: the envs the vector env restarted in this step (``info[RESTARTED]``)."""
    if RESTARTED not in info:
        return np.zeros(n, bool)
    mask = np.asarray(info.get(f"_{RESTARTED}", np.ones(n, bool)), bool).reshape(n)
    return np.asarray(info[RESTARTED], bool).reshape(n) & mask


def task_rewards(info: dict[str, Any], is_first: np.ndarray) -> np.ndarray:
    """``info["task_reward"]`` per env (``float64[n]``), 0 on first frames. A reset's info may
    lack it; a step's must have it."""
    key, n = "task_reward", len(is_first)
    present = np.zeros(n, bool)
    values = np.zeros(n, np.float64)
    if key in info:
        values = np.asarray(info[key], np.float64).reshape(n)
        mask = info.get(f"_{key}")
        present = np.asarray(mask, bool).reshape(n) if mask is not None else np.ones(n, bool)
    if np.any(~present & ~is_first):
        raise ContractError(f"env info has no {key!r}; env suites must report their own reward in info[{key!r}]")
    return np.where(present & ~is_first, values, 0.0)


def check_observation_space(space: Any) -> None:
    import gymnasium as gym

    if not isinstance(space, gym.spaces.Dict) or "image" not in space.spaces:
        keys = ", ".join(space.spaces) if isinstance(space, gym.spaces.Dict) else type(space).__name__
        raise ContractError(f"env observation must be a dict with 'image' (uint8[H,W,3]) for the reward; got {keys}")
    image = space["image"]
    if image.dtype != np.uint8 or len(image.shape) != 3 or image.shape[-1] != 3:
        raise ContractError(f"env observation 'image': expected uint8[H,W,3], got {image.dtype}{list(image.shape)}")


def check_rewards(rewards: Any, num_envs: int, env_step: int) -> np.ndarray:
    """The reward stream's output must be ``float32[num_envs]`` and finite."""
    rewards = np.asarray(rewards)
    if rewards.shape != (num_envs,) or not np.issubdtype(rewards.dtype, np.floating):
        raise ContractError(
            f"reward stream: expected float32[{num_envs}] (one per env), got {rewards.dtype}{list(rewards.shape)}"
        )
    check_finite(rewards, "reward", step=f"env step {env_step}" if env_step >= 0 else "evaluation", over="env")
    return rewards.astype(np.float32, copy=False)


def check_actions(action: Any, space: Any, num_envs: int) -> np.ndarray:
    action = np.asarray(action)
    want = (num_envs, *space.shape)
    if action.shape != want:
        raise ContractError(f"agent.act: expected actions of shape {list(want)} for {space}, got {list(action.shape)}")
    return action.astype(space.dtype, copy=False) if space.dtype is not None else action


def action_dtype(space: Any) -> Any:
    return space.dtype if space.dtype is not None else np.float32


def _expand(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    return mask.reshape(mask.shape + (1,) * (like.ndim - 1))
