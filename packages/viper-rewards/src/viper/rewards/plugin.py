"""viper-rewards' hook implementations."""

from __future__ import annotations

from viper.core import ComponentSpec, hookimpl


@hookimpl
def viper_register_rewards() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            name="task",
            target="viper.rewards.task:TaskReward",
            summary="the environment's own reward (oracle baseline; not learned from video)",
            framework="numpy",
        ),
    ]
