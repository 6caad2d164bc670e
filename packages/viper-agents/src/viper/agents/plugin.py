"""viper-agents' hook implementations (no torch import here: listing plugins stays cheap)."""

from __future__ import annotations

from viper.core import ComponentSpec, hookimpl


@hookimpl
def viper_register_agents() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            name="dreamer",
            target="viper.agents.dreamer.agent:DreamerAgent",
            summary="DreamerV3 world-model agent (images and/or state; continuous or discrete actions)",
            framework="torch",
            requires=("torch>=2.3", "safetensors>=0.4"),
        ),
        ComponentSpec(
            name="drq",
            target="viper.agents.drq.agent:DrQAgent",
            summary="DrQ-v2 actor-critic with image augmentation (continuous actions; pixels or state)",
            framework="torch",
            requires=("torch>=2.3", "safetensors>=0.4"),
        ),
        ComponentSpec(
            name="dqn",
            target="viper.agents.dqn.agent:DQNAgent",
            summary="Double dueling n-step DQN (discrete actions, e.g. Atari; pixels or state)",
            framework="torch",
            requires=("torch>=2.3", "safetensors>=0.4"),
        ),
    ]
