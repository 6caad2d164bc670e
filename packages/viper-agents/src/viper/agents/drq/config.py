"""The drq agent's configuration: DrQ-v2 (Yarats et al. 2021, github.com/facebookresearch/drqv2)
or the original DrQ (Kostrikov et al. 2020, github.com/denisyarats/drq), by ``algorithm``."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from viper.agents.schedules import EXPECTED, is_schedule
from viper.core.config import Options, option

#: ``paper``: DrQ-v2's DMC settings. ``cpu``: the same algorithm, smaller and faster-annealing,
#: for a laptop CPU and short runs. Fields set explicitly win over the preset.
PRESETS: dict[str, dict[str, float | int | str]] = {
    "paper": dict(
        hidden=1024,
        feature_dim=50,
        batch_size=256,
        lr=1e-4,
        seed_steps=4000,
        random_steps=2000,
        std_schedule="linear(1.0,0.1,500000)",
        frame_stack=3,
    ),
    "cpu": dict(
        hidden=256,
        feature_dim=50,
        batch_size=256,
        lr=3e-4,
        seed_steps=1000,
        random_steps=1000,
        std_schedule="linear(1.0,0.1,20000)",
        frame_stack=3,
    ),
    # Tiny networks that train after 16 steps: what `viper-run check-plugin` runs.
    "tiny": dict(
        hidden=32,
        feature_dim=16,
        batch_size=8,
        lr=3e-4,
        seed_steps=16,
        random_steps=8,
        std_schedule="linear(1.0,0.1,1000)",
        frame_stack=1,
    ),
}


@dataclasses.dataclass
class DrQConfig(Options):
    """DrQ-v2 or DrQ (``--set agent.FIELD=VALUE``); continuous actions only."""

    SECTION: ClassVar[str] = "agent"
    PRESETS: ClassVar[dict[str, dict[str, float | int | str]]] = PRESETS

    algorithm: Literal["drqv2", "drq"] = option("drqv2", one_of=("drqv2", "drq"), keyed_default=False)
    """``drqv2``: DDPG with exploration noise on ``std_schedule`` (Yarats et al. 2021). ``drq``: SAC
    (Kostrikov et al. 2020) with a tanh-squashed Gaussian actor and a learned entropy temperature
    aiming at an entropy of -(action dims); it explores by its own entropy, so ``std_schedule``
    and ``std_clip`` are unused. Encoder, critic, augmentation, n-step replay and the settings
    below are shared; evaluation acts with the policy's mean either way."""
    init_temperature: float = option(0.1, gt=0, keyed_default=False)
    """``drq`` only: the entropy temperature alpha at the start (DrQ's 0.1)."""
    preset: str = option("cpu", one_of=tuple(PRESETS))
    """``paper`` (DrQ-v2's DMC hyper-parameters) or ``cpu`` (smaller MLPs, lr 3e-4, exploration
    noise annealed over 20k steps)."""
    obs_keys: tuple[str, ...] = ("image",)
    """Observation keys: ``image`` (conv encoder with random-shift augmentation) or vectors
    such as ``state`` (MLP encoder, no augmentation)."""
    device: str = "auto"
    """Torch device: ``auto`` (CUDA if available), ``cpu``, ``cuda``..."""
    threads: int = 0
    """CPU threads torch may use (0: torch's default; 1 is fastest for small nets on busy CPUs)."""

    hidden: int | None = option(None, ge=1)
    """Units of the actor's and critics' hidden layers."""
    feature_dim: int | None = option(None, ge=0)
    """Size of the LayerNorm+tanh trunk between encoder and actor/critic heads; 0: no trunk (the
    heads read the encoder's output; with ``state_hidden=0`` a plain SAC/TD3 MLP on the state)."""
    batch_size: int | None = option(None, ge=1)
    """Transitions per update."""
    lr: float | None = None
    """Adam learning rate of encoder, actor and critic (and of the temperature with ``drq``)."""
    seed_steps: int | None = None
    """Env steps (summed over envs) collected before the first update."""
    random_steps: int | None = None
    """Env steps acting uniformly at random at the start."""
    std_schedule: str | None = option(None, test=is_schedule, expected=EXPECTED)
    """``drqv2``: exploration noise std over env steps, a number or ``linear(start,end,steps)``."""
    frame_stack: int | None = option(None, ge=1)
    """Consecutive frames stacked on channels for image observations (vectors are not stacked)."""

    nstep: int = option(3, ge=1)
    """Rewards summed per target (n-step returns)."""
    discount: float = 0.99
    """Discount per step."""
    update_every: int = option(2, ge=1)
    """One update per this many env steps."""
    std_clip: float = 0.3
    """``drqv2``: clip of the target-policy and actor-update noise (TD3-style smoothing)."""
    critic_tau: float = 0.01
    """EMA rate of the target critic."""
    shift_pad: int = 4
    """Random-shift augmentation: pad by this many pixels (replicate), crop back at random."""
    encoder: Literal["drq", "keypoints"] = option("drq", one_of=("drq", "keypoints"), keyed_default=False)
    """Image encoder: ``drq`` (DrQ's four convs, flattened) or ``keypoints`` (three of them read
    out by a spatial softmax as each channel's expected position: ``2 * conv_channels`` numbers;
    learns position-driven tasks from pixels in far fewer updates, benchmarks/README.md)."""
    conv_channels: int = option(32, ge=1, keyed_default=False)
    """Channels of each of the image encoder's four convs (DrQ's 32; 16 makes a forward+backward pass ~2.3x faster on a 2-core CPU)."""
    state_hidden: int = option(256, ge=0)
    """Units of the MLP encoder for vector observations; 0: the vector itself."""
    reward_scale: float = 1.0
    """Multiply rewards by this before learning (the reward's units are the reward plugin's)."""
    replay_capacity: int = 1_000_000
    """Steps kept in replay (split evenly over envs)."""
