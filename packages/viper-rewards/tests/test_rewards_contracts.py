"""The contract kit's checks on this package's rewards, built on a workdir holding the kit's
fake tokenizer and video model (what `viper-run check-plugin viper-rewards` runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

import viper.rewards.plugin
from viper.core.testing import check_reward, fake_host, reward_context


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory):
    return reward_context(Path(tmp_path_factory.mktemp("contract")))


@pytest.mark.parametrize("name", ["viper", "task", "rnd", "amp"])
def test_reward_keeps_the_reward_contract(name: str, context) -> None:
    host = fake_host()
    host.register(viper.rewards.plugin, name="rewards", distribution="viper-rewards")
    factory = host.load("reward", name)
    reward = factory(None, context)
    rule = "relabel-does-not-train" if getattr(reward, "online", False) else "stream-equals-relabel"
    assert rule in check_reward(reward)
