"""The ``dmc`` env suite object (see :class:`viper.core.protocols.EnvSuite`)."""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
import numpy as np

from viper.core.errors import ConfigError

OPTIONS = ("action_repeat", "camera", "render", "episode_length")


@functools.lru_cache(maxsize=1)
def all_tasks() -> tuple[tuple[str, str], ...]:
    """``(domain, task)`` for every task of ``dm_control.suite.ALL_TASKS``."""
    from viper.envs.dmc.env import import_suite

    return tuple((str(d), str(t)) for d, t in import_suite(render=False).ALL_TASKS)


def parse_task(name: str) -> tuple[str, str]:
    """``"cartpole-swingup"`` -> ``("cartpole", "swingup")``; unknown names list valid ones."""
    tasks = all_tasks()
    domains = sorted({d for d, _ in tasks})
    domain, sep, task = name.partition("-")
    if not sep or not domain or not task:
        raise ConfigError(
            f"dmc: task {name!r}: expected DOMAIN-TASK, e.g. cartpole-swingup; domains: {', '.join(domains)}"
        )
    if domain not in domains:
        raise ConfigError(f"dmc: unknown domain {domain!r} in {name!r}; domains: {', '.join(domains)}")
    names = [t for d, t in tasks if d == domain]
    if task not in names:
        raise ConfigError(f"dmc: unknown task {task!r} of domain {domain!r}; its tasks: {', '.join(names)}")
    return domain, task


class DMCSuite:
    """Every DeepMind Control Suite task as ``DOMAIN-TASK`` (e.g. ``cartpole-swingup``).

    Frames are ``size x size`` RGB from camera 0 (camera 2 for quadruped), the action is repeated
    twice by default, ``state`` is the task's observation dict flattened. Options of
    :meth:`make`: ``action_repeat`` (2), ``camera`` (None: the per-domain default), ``render``
    (True; False drops the ``image`` observation to evaluate returns fast), ``episode_length``
    (None: dm_control's time limit).
    """

    name = "dmc"

    def tasks(self) -> list[str]:
        return [f"{domain}-{task}" for domain, task in all_tasks()]

    def make(self, task: str, *, seed: int | None = None, size: int = 64, **options: Any) -> gym.Env:
        from viper.envs.dmc.env import DMCEnv

        domain, name = parse_task(task)
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ConfigError(f"dmc:{task}: unknown option {unknown[0]!r}; options: size, {', '.join(OPTIONS)}")
        try:
            env = DMCEnv(domain, name, size=size, seed=seed, **options)
        except ValueError as exc:
            raise ConfigError(f"dmc:{task}: {exc}") from exc
        if seed is not None:
            env.reset(seed=seed)
        return env

    def expert(self, task: str, env: gym.Env) -> Any:
        from viper.envs.dmc.experts import EXPERTS

        parse_task(task)
        cls = EXPERTS.get(task)
        return None if cls is None else cls(env.unwrapped)

    def image_mask(self, task: str, size: int = 64) -> np.ndarray | None:
        parse_task(task)
        return None
