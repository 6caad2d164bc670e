"""The ``arm`` suite: one task, ``reach`` (see :mod:`viper_arm.arm`), written as a TableSuite."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from viper.core.config import Options, option
from viper.core.suites import TableSuite, Task
from viper_arm.arm import ArmReach, ResolvedRateExpert


@dataclasses.dataclass
class ArmConfig(Options):
    """Options of the arm tasks (``--set env.FIELD=VALUE``)."""

    SECTION: ClassVar[str] = "env"

    episode_length: int | None = option(None, ge=1)
    """Steps per episode; None keeps the task's 100."""


def _make(config: ArmConfig, size: int, seed: int | None) -> ArmReach:
    env = ArmReach(size=size, episode_length=config.episode_length)
    if seed is not None:
        env.action_space.seed(seed)
    return env


class ArmSuite(TableSuite):
    """A planar two-link arm (shoulder at the centre, thick blue and pink links, joints drawn as
    discs) moves its white fingertip onto a yellow diamond. Observes ``{"image", "state"}``."""

    name = "arm"
    Config = ArmConfig
    TASKS = {"reach": Task(_make, expert=ResolvedRateExpert)}
