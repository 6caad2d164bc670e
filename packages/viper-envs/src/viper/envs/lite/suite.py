"""The ``lite`` env suite object (see :class:`viper.core.protocols.EnvSuite`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import gymnasium as gym

from viper.core.config import Options, option
from viper.core.errors import ConfigError
from viper.core.suites import TableSuite, Task, config_values
from viper.envs.lite.balance import Balance, BalanceExpert
from viper.envs.lite.base import LiteEnv
from viper.envs.lite.bodies import BODIES
from viper.envs.lite.push import Push, PushExpert
from viper.envs.lite.reach import Reach, ReachExpert
from viper.envs.lite.reach_two import ReachTwo, ReachTwoExpert
from viper.envs.lite.zigzag import ZigZag, ZigZagExpert


@dataclasses.dataclass
class LiteConfig(Options):
    """Options of every lite task (``--set env.FIELD=VALUE``)."""

    SECTION: ClassVar[str] = "env"

    episode_length: int | None = option(None, ge=1)
    """Steps per episode; None keeps the task's own length."""
    step: float | None = option(None, gt=0, le=0.5, keyed_default=False)
    """zigzag only: the point's move per step and axis in arena units (0.25: one 8x8 code cell at
    64x64); None keeps the task's own 0.1."""
    body: str | None = option(None, one_of=tuple(BODIES), keyed_default=False)
    """reach and push only: the controlled body, ``disk`` (orange, the default) or ``square``
    (violet, 0.6x the speed): a second embodiment for cross-embodiment experiments."""
    shaped: bool | None = option(None, keyed_default=False)
    """push only: a dense task reward (pusher near the block + the block near the goal, with a
    gradient everywhere) in place of the sparse one, for agents that cannot explore the sparse
    one; success and the goal distance do not change. None/false keeps the sparse reward."""


#: Options of :class:`LiteConfig` that only some tasks take (task names per option).
TASK_OPTIONS = {"step": ("zigzag",), "body": ("reach", "push"), "shaped": ("push",)}


def _maker(env_cls: type[LiteEnv]) -> Callable[[LiteConfig, int, int | None], gym.Env]:
    def make(config: LiteConfig, size: int, seed: int | None) -> gym.Env:
        # A task-specific option left at None is not passed, so other tasks' signatures stay.
        values = {k: v for k, v in config_values(config).items() if k not in TASK_OPTIONS or v is not None}
        env = env_cls(size=size, **values)
        if seed is not None:
            env.action_space.seed(seed)
        return env

    return make


class LiteSuite(TableSuite):
    """Dependency-light 2D tasks (numpy only): ``reach``, ``push``, ``balance``, ``reach-two``
    (two equally good targets: two expert modes, chosen once an episode) and ``zigzag`` (two
    equally expert moves at every step).

    Every task renders ``size x size`` RGB frames (default 64), observes ``{"image", "state"}``,
    has continuous actions in ``[-1, 1]``, puts its reward in ``info["task_reward"]`` and has a
    scripted expert reading the ``state`` observation.
    """

    name = "lite"
    Config = LiteConfig
    TASKS = {
        "reach": Task(_maker(Reach), expert=ReachExpert),
        "push": Task(_maker(Push), expert=PushExpert),
        "balance": Task(_maker(Balance), expert=BalanceExpert, terminates=True),
        "reach-two": Task(_maker(ReachTwo), expert=ReachTwoExpert),
        "zigzag": Task(_maker(ZigZag), expert=ZigZagExpert),
    }

    def options(self, task: str, options: Mapping[str, Any]) -> LiteConfig:
        """``options`` as :class:`LiteConfig`; a task-specific option on another task is refused
        here, so ``viper-run --check`` reports it before any stage runs."""
        config = super().options(task, options)
        for name, tasks in TASK_OPTIONS.items():
            if getattr(config, name) is not None and task not in tasks:
                raise ConfigError(f"lite:{task}: option {name!r} applies to {', '.join(tasks)} only")
        return config
