"""Fixtures: a private plugin host with the fake components, and workdirs holding them."""

from __future__ import annotations

from pathlib import Path

import pytest

import viper.rewards.plugin
import viper.rewards.testing as fakes
from viper.core import PluginHost
from viper.core.workdir import Workdir
from viper.rewards.testing import save_stage


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: trains real models; minutes on a CPU")


@pytest.fixture
def host() -> PluginHost:
    h = PluginHost(entry_points=False)
    h.register(fakes, name="fakes")
    h.register(viper.rewards.plugin, name="rewards")
    return h


@pytest.fixture
def make_workdir(tmp_path: Path):
    def make(tokenizer: object | None = None, model: object | None = None, name: str = "wd") -> Workdir:
        wd = Workdir(tmp_path / name)
        folder = None
        if tokenizer is not None:
            folder = save_stage(wd, "tokenizer", "fake-tok", tokenizer).name
        if model is not None:
            save_stage(wd, "video_model", "fake-video", model, {"tokenizer": folder})
        return wd

    return make
