"""The ``dmc`` env suite object (see :class:`viper.core.protocols.EnvSuite`)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import ClassVar

import gymnasium as gym

from viper.core.config import Options, option
from viper.core.suites import TableSuite, Task, config_values
from viper.envs.dmc.experts import EXPERTS


@dataclasses.dataclass
class DMCConfig(Options):
    """Options of every DeepMind Control task (``--set env.FIELD=VALUE``)."""

    SECTION: ClassVar[str] = "env"

    action_repeat: int = option(2, ge=1)
    """Physics control steps per env step (the action is repeated)."""
    camera: int | None = option(None, ge=0)
    """Camera id; None picks the per-domain default (2 for quadruped, else 0)."""
    render: bool = True
    """False drops the ``image`` observation (evaluates returns fast)."""
    episode_length: int | None = option(None, ge=1)
    """Env steps per episode; None keeps dm_control's time limit."""


@functools.lru_cache(maxsize=1)
def all_tasks() -> tuple[tuple[str, str], ...]:
    """``(domain, task)`` for every task of ``dm_control.suite.ALL_TASKS``."""
    from viper.envs.dmc.env import import_suite

    return tuple((str(d), str(t)) for d, t in import_suite(render=False).ALL_TASKS)


@functools.lru_cache(maxsize=1)
def task_table() -> dict[str, Task]:
    """``DOMAIN-TASK`` -> its row, for every dm_control task (the list needs dm_control)."""
    return {
        f"{domain}-{task}": Task(functools.partial(_make, domain, task), expert=EXPERTS.get(f"{domain}-{task}"))
        for domain, task in all_tasks()
    }


def _make(domain: str, task: str, config: DMCConfig, size: int, seed: int | None) -> gym.Env:
    from viper.envs.dmc.env import DMCEnv

    return DMCEnv(domain, task, size=size, seed=seed, **config_values(config))


class DMCSuite(TableSuite):
    """Every DeepMind Control Suite task as ``DOMAIN-TASK`` (e.g. ``cartpole-swingup``).

    Frames are ``size x size`` RGB from camera 0 (camera 2 for quadruped), the action is repeated
    twice by default, ``state`` is the task's observation dict flattened; :class:`DMCConfig`
    lists the options. Scripted experts: :mod:`viper.envs.dmc.experts`.
    """

    name = "dmc"
    Config = DMCConfig

    def table(self) -> Mapping[str, Task]:
        return task_table()

    def unknown_task(self, task: str) -> str:
        tasks = all_tasks()
        domains = sorted({d for d, _ in tasks})
        domain, sep, name = task.partition("-")
        if not sep or not domain or not name:
            return f"dmc: task {task!r}: expected DOMAIN-TASK, e.g. cartpole-swingup; domains: {', '.join(domains)}"
        if domain not in domains:
            return f"dmc: unknown domain {domain!r} in {task!r}; domains: {', '.join(domains)}"
        names = [t for d, t in tasks if d == domain]
        return f"dmc: unknown task {name!r} of domain {domain!r}; its tasks: {', '.join(names)}"
