"""viper-rewards' hook implementations (imports neither jax nor the reward modules)."""

from __future__ import annotations

from viper.core import ComponentSpec, hookimpl

_JAX = ("jax>=0.4.30", "flax>=0.8", "optax>=0.2")


@hookimpl
def viper_register_rewards() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            name="viper",
            target="viper.rewards.likelihood:ViperReward",
            summary="VIPER: log p(frame | previous frames, task) under the workdir's frozen video model",
            framework="numpy",
        ),
        ComponentSpec(
            name="task",
            target="viper.rewards.task:TaskReward",
            summary="the environment's own reward (oracle baseline; not learned from video)",
            framework="numpy",
        ),
        ComponentSpec(
            name="rnd",
            target="viper.rewards.rnd:RNDReward",
            summary="random network distillation exploration bonus, trained online on the frames seen",
            framework="jax",
            requires=_JAX,
        ),
        ComponentSpec(
            name="amp",
            target="viper.rewards.amp:AMPReward",
            summary="adversarial motion prior: LSGAN discriminator on frame pairs vs the expert videos",
            framework="jax",
            requires=_JAX,
        ),
    ]
