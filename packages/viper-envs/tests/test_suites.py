"""TableSuite: every suite is a table of tasks plus a typed, documented, validated Config."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import gymnasium as gym
import numpy as np
import pytest

from viper.core.config import Options, field_docs, option
from viper.core.errors import ConfigError
from viper.core.suites import TableSuite, Task
from viper.envs.atari.suite import AtariSuite
from viper.envs.dmc.suite import DMCSuite
from viper.envs.lite import LiteSuite
from viper.envs.lite.reach import ReachExpert
from viper.envs.metaworld.suite import MetaWorldSuite
from viper.envs.rlbench.suite import RLBenchSuite


@dataclasses.dataclass
class TinyConfig(Options):
    SECTION: ClassVar[str] = "env"
    width: int = option(3, ge=1)
    """Cells per row."""


class Tiny(gym.Env):
    def __init__(self, width: int, size: int) -> None:
        self.width, self.size = width, size
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.seeded = seed
        return {}, {}


class TinySuite(TableSuite):
    name = "tiny"
    Config = TinyConfig
    TASKS = {
        "flat": Task(lambda config, size, seed: Tiny(config.width, size)),
        "masked": Task(
            lambda config, size, seed: Tiny(config.width, size), mask=lambda size: np.ones((size, size), bool)
        ),
        "scripted": Task(lambda config, size, seed: Tiny(config.width, size), expert=lambda env: "a policy"),
    }


def test_the_table_gives_tasks_make_expert_and_mask() -> None:
    suite = TinySuite()
    assert suite.tasks() == ["flat", "masked", "scripted"]
    assert suite.expert_tasks() == ["scripted"]
    env = suite.make("flat", seed=4, size=8, width="5")  # strings from --set env.width=5 are converted
    assert (env.width, env.size, env.seeded) == (5, 8, 4)
    assert suite.expert("flat", env) is None and suite.image_mask("flat") is None
    assert suite.image_mask("masked", 8).shape == (8, 8)


def test_unknown_tasks_and_options_and_bad_values_say_what_is_valid() -> None:
    suite = TinySuite()
    for call in (lambda: suite.make("hilly"), lambda: suite.expert("hilly", None), lambda: suite.image_mask("hilly")):
        with pytest.raises(ConfigError, match="tiny: unknown task 'hilly'; tasks: flat, masked, scripted"):
            call()
    with pytest.raises(ConfigError, match="tiny:flat: unknown option 'height'; options: size, width"):
        suite.make("flat", height=2)
    with pytest.raises(ConfigError, match=r"--set env.width=0: expected an integer >= 1"):
        suite.make("flat", width=0)
    with pytest.raises(ConfigError, match=r"--set env.width: expected an integer, got 'wide'"):
        suite.make("flat", width="wide")


def test_lite_options_go_through_its_config() -> None:
    suite = LiteSuite()
    assert suite.tasks() == ["reach", "push", "balance", "reach-two", "zigzag"]
    env = suite.make("reach", seed=0, size=16, episode_length="7")
    assert env.unwrapped.episode_length == 7
    assert isinstance(suite.expert("reach", env), ReachExpert) and suite.image_mask("push") is None
    with pytest.raises(ConfigError, match=r"--set env.episode_length=0: expected an integer >= 1"):
        suite.make("reach", episode_length=0)
    with pytest.raises(ConfigError, match="lite:reach: unknown option 'speed'; options: size, episode_length"):
        suite.make("reach", speed=2)
    with pytest.raises(ConfigError, match="lite: unknown task 'fly'; tasks: reach, push, balance, reach-two, zigzag"):
        suite.make("fly")


@pytest.mark.parametrize("suite", [LiteSuite, DMCSuite, AtariSuite, MetaWorldSuite, RLBenchSuite])
def test_every_option_of_every_suite_is_documented(suite) -> None:
    fields = [f.name for f in dataclasses.fields(suite.Config)]
    docs = field_docs(suite.Config)
    assert fields and all(docs.get(name) for name in fields), sorted(set(fields) - set(docs))
    suite.Config()  # the defaults pass the declared constraints
