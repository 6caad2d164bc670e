"""The dqn agent's configuration: DQN (Mnih et al. 2015) with the double (van Hasselt et al.
2016) and dueling (Wang et al. 2016) changes, n-step returns, and DrQ-epsilon's random shifts
(Yarats et al. 2021) for images."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from viper.agents.schedules import EXPECTED, is_schedule
from viper.core.config import Options, option

#: ``atari``: the Nature DQN's Atari settings (4 stacked frames, learning from 20k steps,
#: epsilon 1 -> 0.01 over 250k steps, reward sign-clipping) with a 100k-step replay. ``cpu``:
#: smaller, faster-annealing, for state vectors and short runs. ``tiny``: what `viper-run
#: check-plugin` runs. Fields set explicitly win over the preset.
PRESETS: dict[str, dict[str, float | int | str]] = {
    "atari": dict(
        encoder="nature",
        hidden=512,
        batch_size=32,
        lr=1e-4,
        seed_steps=20_000,
        epsilon="linear(1.0,0.01,250000)",
        frame_stack=4,
        update_every=4,
        target_every=2000,
        reward_clip=1.0,
        grayscale=True,
    ),
    "cpu": dict(
        encoder="nature",
        hidden=256,
        batch_size=64,
        lr=3e-4,
        seed_steps=1000,
        epsilon="linear(1.0,0.05,10000)",
        frame_stack=4,
        update_every=1,
        target_every=500,
        reward_clip=0.0,
        grayscale=False,
    ),
    "tiny": dict(
        encoder="drq",
        hidden=32,
        batch_size=8,
        lr=3e-4,
        seed_steps=16,
        epsilon="linear(1.0,0.1,100)",
        frame_stack=1,
        update_every=1,
        target_every=10,
        reward_clip=0.0,
        grayscale=False,
    ),
}


@dataclasses.dataclass
class DQNConfig(Options):
    """DQN (``--set agent.FIELD=VALUE``); discrete actions only."""

    SECTION: ClassVar[str] = "agent"
    PRESETS: ClassVar[dict[str, dict[str, float | int | str]]] = PRESETS

    preset: str = option("cpu", one_of=tuple(PRESETS))
    """``atari`` (the Nature DQN's settings), ``cpu`` (smaller, faster-annealing) or ``tiny``."""
    obs_keys: tuple[str, ...] = ("image",)
    """Observation keys: ``image`` (conv encoder) and/or vectors such as ``state`` (read as is)."""
    device: str = "auto"
    """Torch device: ``auto`` (CUDA if available), ``cpu``, ``cuda``..."""
    threads: int = 0
    """CPU threads torch may use (0: torch's default; 1 is fastest for small nets on busy CPUs)."""

    encoder: Literal["nature", "drq"] | None = option(None, one_of=("nature", "drq"))
    """Image encoder: ``nature`` (the Nature DQN's 8x8/4, 4x4/2, 3x3/1 convs; images of at least
    36 pixels) or ``drq`` (DrQ's four 3x3 convs, for images down to 16 pixels; slower)."""
    hidden: int | None = option(None, ge=1)
    """Units of the Q-network's hidden layer (and of each dueling stream)."""
    dueling: bool = True
    """Separate value and advantage streams (Wang et al. 2016)."""
    double: bool = True
    """Choose the target's next action with the online network, value it with the target network
    (van Hasselt et al. 2016); False: the max of the target network."""
    batch_size: int | None = option(None, ge=1)
    """Transitions per update."""
    lr: float | None = option(None, gt=0)
    """Adam learning rate."""
    seed_steps: int | None = option(None, ge=0)
    """Env steps (summed over envs) collected before the first update."""
    epsilon: str | None = option(None, test=is_schedule, expected=EXPECTED)
    """Probability of a uniformly random action while training, over env steps: a number or
    ``linear(start,end,steps)``."""
    eval_epsilon: float = option(0.0, ge=0, le=1)
    """Probability of a random action in evaluation (0: greedy)."""
    frame_stack: int | None = option(None, ge=1)
    """Consecutive frames stacked on channels for image observations (vectors are not stacked)."""
    grayscale: bool | None = None
    """Turn RGB images into luminance before stacking (the Nature DQN's input; a third of the
    replay memory and of the first conv's work)."""
    nstep: int = option(3, ge=1)
    """Rewards summed per target (n-step returns)."""
    discount: float = option(0.99, gt=0, le=1)
    """Discount per step."""
    update_every: int | None = option(None, ge=1)
    """One update per this many env steps."""
    target_every: int | None = option(None, ge=1)
    """Updates between copies of the online network into the target network."""
    grad_clip: float = option(10.0, ge=0)
    """Global gradient-norm clip (0: none)."""
    shift_pad: int = option(4, ge=0)
    """Random-shift augmentation of replayed images: pad by this many pixels (replicate), crop
    back at random (DrQ-epsilon); 0: none."""
    reward_clip: float | None = option(None, ge=0)
    """Clip rewards to ``[-reward_clip, reward_clip]`` before learning (``atari``: 1, the
    Nature DQN's clipping of game scores); 0: none. Applied after ``reward_scale``."""
    reward_scale: float = 1.0
    """Multiply rewards by this before learning (the reward's units are the reward plugin's)."""
    replay_capacity: int = option(100_000, ge=1)
    """Steps kept in replay (split evenly over envs); 100k steps of 4 stacked 64x64 frames
    take ~1.6 GB in grayscale, ~4.9 GB in RGB."""
