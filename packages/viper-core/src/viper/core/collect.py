"""Recording episodes of a policy into a video dataset (``viper-run collect``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.components import EnvName, check_env_options, literal_options, parse_env, resolve_env
from viper.core.dataset import DatasetWriter, check_task_name
from viper.core.errors import ConfigError, ContractError
from viper.core.plugins import PluginHost
from viper.core.progress import progress_bar


class RandomPolicy:
    """Uniform random actions from the env's (seeded) action space."""

    def __init__(self, env: Any, seed: int = 0) -> None:
        self.space = env.action_space
        self.space.seed(seed)

    def reset(self) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> Any:
        return self.space.sample()


class IdlePolicy:
    """Does nothing: the zero action (Box spaces, clipped into the bounds) or action 0 (discrete
    spaces; Atari's NOOP). A probe of rewards that rate stillness: what the agent gets for not
    trying."""

    def __init__(self, env: Any) -> None:
        space = env.action_space
        if hasattr(space, "low"):
            self.action = np.clip(np.zeros(space.shape, space.dtype), space.low, space.high).astype(space.dtype)
        elif hasattr(space, "nvec"):
            self.action = np.zeros(space.shape, space.dtype)
        else:
            self.action = 0

    def reset(self) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> Any:
        return self.action


class NoisyPolicy:
    """Wraps a policy: with probability ``noise`` per step a random action replaces its action,
    and continuous actions also get Gaussian noise of scale ``noise`` (clipped to the bounds)."""

    def __init__(self, policy: Any, env: Any, noise: float, seed: int = 0) -> None:
        self.policy, self.noise = policy, float(noise)
        self.space = env.action_space
        self.rng = np.random.default_rng(seed)
        self.space.seed(seed)

    def reset(self) -> None:
        self.policy.reset()

    def act(self, obs: dict[str, np.ndarray]) -> Any:
        action = self.policy.act(obs)
        if self.noise <= 0:
            return action
        if self.rng.random() < self.noise:
            return self.space.sample()
        if hasattr(self.space, "low"):
            noisy = np.asarray(action, np.float32) + self.noise * self.rng.standard_normal(self.space.shape)
            return np.clip(noisy, self.space.low, self.space.high).astype(self.space.dtype)
        return action


def make_policy(
    kind: str, suite: Any, task: str, env: Any, seed: int = 0, noise: float = 0.0, host: PluginHost | None = None
) -> Any:
    """``expert`` (the suite's scripted expert), ``random``, ``idle`` (the zero / no-op action) or
    ``agent:WORKDIR`` (the agent that ``viper-run train`` trained there, in evaluation mode);
    ``noise`` perturbs the expert or agent."""
    if kind.startswith("agent:"):
        from viper.core.trained_agent import TrainedAgent

        agent = TrainedAgent.find(kind).policy(env, seed, host)
        return NoisyPolicy(agent, env, noise, seed) if noise > 0 else agent
    if kind == "random":
        return RandomPolicy(env, seed)
    if kind == "idle":
        return IdlePolicy(env)
    if kind == "expert":
        expert = suite.expert(task, env)
        if expert is None:
            raise ConfigError(
                f"--policy expert: suite {suite.name!r} has no scripted expert for {task!r}; use --policy random"
            )
        return NoisyPolicy(expert, env, noise, seed) if noise > 0 else expert
    raise ConfigError(f"--policy {kind!r}: expected 'expert', 'random', 'idle' or 'agent:WORKDIR'")


@dataclasses.dataclass
class Episode:
    frames: np.ndarray  # uint8[T,H,W,3]
    task_reward: np.ndarray  # float32[T]; entry 0 is 0 (no transition led to the first frame)
    actions: np.ndarray  # [T, ...]; row t produced frame t, row 0 is zeros
    goal_distance: np.ndarray | None = None  # float32[T] from info["goal_distance"], if every info has it
    success: bool | None = None  # info["success"] held at some step; None when the env reports none

    @property
    def episode_return(self) -> float:
        return float(self.task_reward.sum())


def run_episode(env: Any, policy: Any, seed: int | None = None, max_steps: int | None = None) -> Episode:
    """Roll out one whole episode (until terminated or truncated) and return what was seen."""
    obs, info = env.reset(seed=seed)
    policy.reset()
    if "image" not in obs:
        raise ContractError(f"env observation has no 'image' (keys: {', '.join(obs)}); suites must render frames")
    frames, rewards, actions = [obs["image"]], [0.0], []
    distances = [info.get("goal_distance")]
    successes = [info["success"]] if "success" in info else []
    steps = 0
    while True:
        action = policy.act(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        frames.append(obs["image"])
        rewards.append(float(info.get("task_reward", reward)))
        distances.append(info.get("goal_distance"))
        if "success" in info:
            successes.append(info["success"])
        actions.append(np.asarray(action))
        steps += 1
        if terminated or truncated or (max_steps is not None and steps >= max_steps):
            break
    zero = np.zeros_like(actions[0]) if actions else np.zeros(0)
    return Episode(
        frames=np.stack(frames).astype(np.uint8),
        task_reward=np.asarray(rewards, np.float32),
        actions=np.stack([zero] + actions),
        goal_distance=None if any(d is None for d in distances) else np.asarray(distances, np.float32),
        success=bool(np.any(successes)) if successes else None,
    )


def _variant(name: EnvName, label: str, env_options: Mapping[str, Any] | None) -> str:
    """The episode-key prefix of a collection that is not the task's plain one ("" if it is)."""
    if not env_options and label == name.task:
        return ""
    options = ",".join(f"{k}={v}" for k, v in sorted((env_options or {}).items()))
    return f"{name}[{options}]/"


def collect(
    env: str | EnvName,
    episodes: int,
    out: str | Path,
    *,
    policy: str = "expert",
    noise: float = 0.0,
    seed: int = 0,
    size: int = 64,
    resume: bool = False,
    progress: bool = True,
    host: PluginHost | None = None,
    env_options: Mapping[str, Any] | None = None,
    label: str | None = None,
) -> DatasetWriter:
    """Record ``episodes`` episodes of ``policy`` on ``env`` into the dataset folder ``out``.

    With ``resume=True`` an existing dataset is topped up to ``episodes`` episodes of this task;
    episode ``i`` always uses seed ``seed + i``, so a resumed collection equals an uninterrupted one.
    ``env_options`` (``--set env.FIELD=VALUE``) go to the suite's ``make``. ``label``: the task name
    the episodes are filed under (what a task-conditioned model is conditioned on; default the
    env's task), e.g. ``reach`` for a second body reaching. Episodes made with env options or
    another label are counted apart from the task's plain ones when resuming, so one dataset can
    hold the same label from several env variants.
    """
    name = parse_env(env) if isinstance(env, str) else env
    if episodes < 1:
        raise ConfigError(f"--episodes {episodes}: expected at least 1")
    if policy not in ("expert", "random", "idle") and not policy.startswith("agent:"):
        raise ConfigError(f"--policy {policy!r}: expected 'expert', 'random', 'idle' or 'agent:WORKDIR'")
    name, suite = resolve_env(name, host)
    label = check_task_name(label, "--label") if label is not None else name.task
    check_env_options(name, suite, env_options or {})
    if policy.startswith("agent:"):
        from viper.core.trained_agent import TrainedAgent

        # Checked before the dataset folder is created; the env is made as the agent's was.
        env_options = TrainedAgent.find(policy).env_options_for(name, size, env_options)
    writer = DatasetWriter(
        out, resume=resume, source={"env": str(name), "policy": policy, "noise": noise, "seed": seed}
    )
    instance = suite.make(name.task, seed=seed, size=size, **literal_options(env_options or {}))
    try:
        actor = make_policy(policy, suite, name.task, instance, seed=seed, noise=noise, host=host)
        variant = _variant(name, label, env_options)
        done = writer.count(label, variant=variant)
        bar = progress_bar(total=episodes, initial=min(done, episodes), desc=f"collect {name} ({policy})", unit="ep")
        returns = []
        for i in range(done, episodes):
            episode = run_episode(instance, actor, seed=seed + i)
            writer.add(
                label,
                episode.frames,
                task_reward=episode.task_reward,
                actions=episode.actions,
                key=f"{variant}seed-{seed + i}",
            )
            returns.append(episode.episode_return)
            bar.update(1)
            bar.set_postfix(ret=f"{np.mean(returns):.1f}")
        bar.close()
    finally:
        instance.close()
    return writer
