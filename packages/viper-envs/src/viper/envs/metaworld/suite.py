"""The ``metaworld`` env suite object (see :class:`viper.core.protocols.EnvSuite`)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import ClassVar

import gymnasium as gym

from viper.core.config import Options, option
from viper.core.suites import TableSuite, Task, config_values
from viper.envs.metaworld.env import CAMERAS, env_names
from viper.envs.metaworld.experts import MetaWorldExpert

#: The tasks video-reward papers report on (README), listed first by ``viper-run plugins``.
REPORTED = (
    "reach",
    "push",
    "pick-place",
    "door-open",
    "drawer-open",
    "drawer-close",
    "button-press-topdown",
    "window-open",
    "hammer",
    "assembly",
)


@dataclasses.dataclass
class MetaWorldConfig(Options):
    """Options of every Meta-World task (``--set env.FIELD=VALUE``)."""

    SECTION: ClassVar[str] = "env"

    camera: str = option("corner2", one_of=CAMERAS)
    """The fixed camera that renders the ``image`` observation."""
    action_repeat: int = option(2, ge=1)
    """Physics control steps per env step (the action is repeated)."""
    episode_length: int = option(150, ge=1)
    """Env steps per episode (150 at repeat 2: 300 of Meta-World's steps, of its usual 500)."""
    render: bool = True
    """False drops the ``image`` observation (evaluates returns fast)."""
    terminate_on_success: bool = False
    """End the episode at the first success (default: run to the time limit, so videos show the
    goal being held)."""


def _make(task: str, config: MetaWorldConfig, size: int, seed: int | None) -> gym.Env:
    from viper.envs.metaworld.env import MetaWorldEnv

    return MetaWorldEnv(task, size=size, seed=seed, **config_values(config))


@functools.lru_cache(maxsize=1)
def task_table() -> dict[str, Task]:
    """Task name (the v3 env name without ``-v3``) -> its row; needs metaworld installed."""
    names = [name.removesuffix("-v3") for name in env_names()]
    ordered = [name for name in REPORTED if name in names] + sorted(set(names) - set(REPORTED))
    return {name: Task(functools.partial(_make, name), expert=MetaWorldExpert) for name in ordered}


class MetaWorldSuite(TableSuite):
    """Every Meta-World v3 task as ``metaworld:TASK`` (``reach``, ``pick-place``, ...).

    Frames are ``size x size`` RGB from the fixed ``corner2`` camera, the action is repeated
    twice, an episode is 150 env steps; ``state`` holds the goal, ``info["success"]`` Meta-World's
    success test and ``info["goal_distance"]`` its ``obj_to_target``; a reset seed fixes the
    goal. Experts: Meta-World's scripted policies. :class:`MetaWorldConfig` lists the options.
    """

    name = "metaworld"
    Config = MetaWorldConfig

    def table(self) -> Mapping[str, Task]:
        return task_table()

    def unknown_task(self, task: str) -> str:
        hint = " (task names drop the -v3 suffix)" if task.endswith("-v3") else ""
        return f"metaworld: unknown task {task!r}{hint}; tasks: {', '.join(task_table())}"
