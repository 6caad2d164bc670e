"""The contract kit's checks on this package's own suites (what `viper-run check-plugin viper-envs` runs)."""

from __future__ import annotations

import pytest

from viper.core.components import load_suite
from viper.core.testing import check_env_suite


@pytest.mark.parametrize("task", ["reach", "push", "balance", "reach-two", "zigzag"])
def test_lite_keeps_the_env_suite_contract(task: str) -> None:
    assert "driver" in check_env_suite(load_suite("lite"), task)


def test_dmc_keeps_the_env_suite_contract() -> None:
    pytest.importorskip("dm_control")
    assert "driver" in check_env_suite(load_suite("dmc"), "cartpole-swingup")


def test_atari_keeps_the_env_suite_contract_and_masks_the_score() -> None:
    pytest.importorskip("ale_py")
    suite = load_suite("atari")
    assert "image-mask" in check_env_suite(suite, "pong")
    assert suite.image_mask("pong", 64) is not None
