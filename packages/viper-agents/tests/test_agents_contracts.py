"""The contract kit's checks on dreamer, drq and dqn at their small presets, trained for a few steps
through the real loop on the kit's fake suite (what `viper-run check-plugin viper-agents` runs)."""

from __future__ import annotations

import pytest

from viper.core.components import make_config
from viper.core.plugins import get_host
from viper.core.testing import check_agent


def _check(name: str, preset: str, task: str, **options: str) -> list[str]:
    factory = get_host().load("agent", name)
    return check_agent(factory, make_config("agent", name, {"preset": preset, **options}), task=task, name=name)


@pytest.mark.parametrize(
    "name, preset, options", [("dreamer", "debug", {}), ("drq", "tiny", {}), ("drq", "tiny", {"algorithm": "drq"})]
)
def test_agent_keeps_the_agent_contract_on_continuous_actions(name: str, preset: str, options: dict) -> None:
    assert _check(name, preset, "reach", **options)[-2:] == ["save-load", "load-rejects-missing"]


def test_drq_refuses_discrete_actions_with_a_config_error() -> None:
    assert _check("drq", "tiny", "steer") == ["action-space"]


def test_dqn_keeps_the_agent_contract_on_discrete_actions() -> None:
    assert _check("dqn", "tiny", "steer")[-2:] == ["save-load", "load-rejects-missing"]


def test_dqn_refuses_continuous_actions_with_a_config_error() -> None:
    assert _check("dqn", "tiny", "reach") == ["action-space"]


@pytest.mark.slow
def test_dreamer_keeps_the_agent_contract_on_discrete_actions() -> None:
    assert _check("dreamer", "debug", "steer")[-1] == "load-rejects-missing"
