"""Building the reward the agent maximises from reward components.

``build_reward("viper", ...)`` resolves the component, fills its Config from options and calls
``factory(config, context)``. :func:`build_training_reward` builds what the command line asks
for (``--reward viper --explore rnd --beta 0.5`` -> ``viper + 0.5 * rnd``) and
:func:`combine_rewards` any weighted sum of named components; both return a :class:`WeightedSum`
so the runner and agents see a single :class:`~viper.core.protocols.Reward`.

Contract for agents with an intrinsic term of their own (e.g. DreamerV3's Plan2Explore
disagreement, which needs the agent's world model): the reward built here is the *extrinsic*
reward. The runner hands it to the agent in ``EnvStep.reward`` (already weighted and summed);
the agent adds ``its_own_beta * intrinsic`` inside its own objective, with the weight in the
agent's Config, and never adds it to this sum. The parts stay visible for logging and for agents
that want to weigh them differently: :attr:`WeightedSum.names` / :attr:`WeightedSum.weights`,
:meth:`WeightedSum.relabel_parts`, and after each online step ``stream.last_parts`` (name ->
unweighted ``float32[B]``). To use only the agent's own exploration, leave ``--explore`` out.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.components import make_config
from viper.core.dataset import VideoDataset
from viper.core.errors import ConfigError, ContractError, ViperError
from viper.core.plugins import PluginHost, get_host
from viper.core.protocols import Reward, RewardContext, StepBatch
from viper.core.workdir import Workdir


def reward_context(
    workdir: Any,
    suite: Any,
    task: str,
    *,
    size: int,
    seed: int,
    host: PluginHost | None,
    expert_data: Any = None,
) -> RewardContext:
    """The context a reward of one ``task`` is built with: the workdir's models, the suite's
    image mask for the task (if it has one), the frame size and whether the task can end early
    (the suite's optional ``terminates``)."""
    mask = suite.image_mask(task, size)
    terminates = getattr(suite, "terminates", None)
    return RewardContext(
        workdir=workdir,
        expert_data=expert_data,
        tasks=(task,),
        image_size=(size, size),
        image_masks={task: np.asarray(mask, bool)} if mask is not None else {},
        seed=seed,
        host=host,
        terminates=bool(terminates(task)) if callable(terminates) else False,
    )


def expert_dataset(workdir: Any, data: str | Path | None = None) -> VideoDataset | None:
    """The expert videos a reward may read (AMP's discriminator, the ``viper`` offset): ``data``
    when given (``--data DIR``), else the workdir's collected dataset, else None."""
    if data is not None:
        return VideoDataset(data)
    try:
        wd = workdir if isinstance(workdir, Workdir) else Workdir(workdir)
        return VideoDataset(wd.latest("data") / "dataset")
    except ViperError:
        return None


def build_reward(
    name: str,
    context: RewardContext,
    options: dict[str, Any] | None = None,
    host: PluginHost | None = None,
) -> Reward:
    """Instantiate reward component ``name`` for ``context``.

    Components a reward loads itself (the tokenizer and video model of ``context.workdir``) are
    resolved with ``host`` too, unless the context names another one.
    """
    host = host or get_host()
    config = make_config("reward", name, options, host)
    factory = host.load("reward", name)
    if context.host is None:
        context = dataclasses.replace(context, host=host)
    return factory(config, context)


def _check_weight(name: str, weight: Any, option: str) -> float:
    try:
        value = float(weight)
    except (TypeError, ValueError):
        raise ConfigError(f"{option}: weight of {name!r} must be a number, got {weight!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{option}: weight of {name!r} must be finite, got {weight!r}")
    return value


def combine_rewards(
    terms: Sequence[tuple[str, float]],
    context: RewardContext,
    options: Mapping[str, dict[str, Any] | None] | None = None,
    host: PluginHost | None = None,
) -> WeightedSum:
    """``[("viper", 1.0), ("rnd", 0.5)]`` -> ``viper + 0.5 * rnd``; ``options[name]`` configures each."""
    if not terms:
        raise ConfigError("--reward: at least one reward is needed")
    names = [name for name, _ in terms]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"--reward: {duplicates[0]!r} appears twice; give each reward once with its weight")
    options = dict(options or {})
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ConfigError(f"options for {unknown[0]!r}, which is not among the rewards {', '.join(names)}")
    parts = []
    for name, weight in terms:
        weight = _check_weight(name, weight, "--reward")
        parts.append((name, build_reward(name, context, options.get(name), host), weight))
    return WeightedSum(parts)


def build_training_reward(
    reward: str,
    context: RewardContext,
    *,
    options: dict[str, Any] | None = None,
    explore: str | None = None,
    beta: float | None = None,
    explore_options: dict[str, Any] | None = None,
    host: PluginHost | None = None,
) -> WeightedSum:
    """What ``--reward REWARD [--explore BONUS --beta BETA]`` means: ``reward + beta * bonus``.

    ``beta`` is required with ``explore`` (exploration bonuses and likelihoods live on unrelated
    scales, so no default weight is right), and refused without it.
    """
    if explore is None:
        if beta is not None:
            raise ConfigError(f"--beta {beta}: only meaningful with --explore (e.g. --explore rnd)")
        return combine_rewards([(reward, 1.0)], context, {reward: options}, host)
    if beta is None:
        raise ConfigError(f"--explore {explore}: also give its weight, e.g. --beta 0.5")
    if explore == reward:
        raise ConfigError(f"--explore {explore}: is already the --reward")
    return combine_rewards([(reward, 1.0), (explore, beta)], context, {reward: options, explore: explore_options}, host)


class WeightedSum:
    """``sum_i weight_i * reward_i``, in both the online and the batch form.

    ``parts`` are ``(reward, weight)`` or ``(name, reward, weight)`` tuples.
    """

    def __init__(self, parts: Sequence[tuple[Reward, float] | tuple[str, Reward, float]]) -> None:
        if not parts:
            raise ContractError("WeightedSum: needs at least one (reward, weight) pair")
        named = []
        for i, part in enumerate(parts):
            if len(part) == 2:
                reward, weight = part  # type: ignore[misc]
                name = getattr(reward, "name", None) or f"{type(reward).__name__.lower()}{i}"
            else:
                name, reward, weight = part  # type: ignore[misc]
            named.append((str(name), reward, _check_weight(str(name), weight, "WeightedSum")))
        self.parts = named
        self.needs = frozenset().union(*(r.needs for _, r, _ in self.parts))

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.parts]

    @property
    def weights(self) -> dict[str, float]:
        return {name: weight for name, _, weight in self.parts}

    def describe(self) -> str:
        """``viper + 0.5 * rnd``."""
        return " + ".join(name if weight == 1.0 else f"{weight:g} * {name}" for name, _, weight in self.parts)

    def stream(self, num_envs: int, task_ids: np.ndarray | None = None) -> _WeightedStream:
        return _WeightedStream([(n, r.stream(num_envs, task_ids), w) for n, r, w in self.parts], num_envs)

    def relabel_parts(
        self, frames: np.ndarray, task_ids: np.ndarray | None = None, task_reward: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Each part's unweighted ``float32[B,T]``."""
        return {name: reward.relabel(frames, task_ids, task_reward) for name, reward, _ in self.parts}

    def relabel(
        self, frames: np.ndarray, task_ids: np.ndarray | None = None, task_reward: np.ndarray | None = None
    ) -> np.ndarray:
        parts = self.relabel_parts(frames, task_ids, task_reward)
        total = np.zeros(np.shape(frames)[:2], np.float32)
        for name, weight in self.weights.items():
            total += np.float32(weight) * parts[name]
        return total


class _WeightedStream:
    def __init__(self, streams: list[tuple[str, Any, float]], num_envs: int) -> None:
        self.streams = streams
        self.num_envs = num_envs
        self.last_parts: dict[str, np.ndarray] = {}

    def step(self, batch: StepBatch) -> np.ndarray:
        total = np.zeros(self.num_envs, np.float32)
        parts = {}
        for name, stream, weight in self.streams:
            value = np.asarray(stream.step(batch), np.float32)
            if value.shape != (self.num_envs,):
                raise ContractError(
                    f"reward {name!r}: stream.step returned shape {list(value.shape)}, expected [{self.num_envs}]"
                )
            parts[name] = value
            total += np.float32(weight) * value
        self.last_parts = parts
        return total

    def metrics(self) -> dict[str, float]:
        """Each part's mean reward of the last step and whatever the parts' streams report."""
        out = {f"{name}/mean": float(np.mean(value)) for name, value in self.last_parts.items()}
        for _, stream, _ in self.streams:
            if hasattr(stream, "metrics"):
                out.update(stream.metrics())
        return out
