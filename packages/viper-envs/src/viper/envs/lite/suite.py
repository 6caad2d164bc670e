"""The ``lite`` env suite object (see :class:`viper.core.protocols.EnvSuite`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import gymnasium as gym

from viper.core.config import Options, option
from viper.core.suites import TableSuite, Task, config_values
from viper.envs.lite.balance import Balance, BalanceExpert
from viper.envs.lite.base import LiteEnv
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


def _maker(env_cls: type[LiteEnv]) -> Callable[[LiteConfig, int, int | None], gym.Env]:
    def make(config: LiteConfig, size: int, seed: int | None) -> gym.Env:
        env = env_cls(size=size, **config_values(config))
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
