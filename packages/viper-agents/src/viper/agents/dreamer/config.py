"""DreamerV3's configuration and size presets.

Defaults follow the DreamerV3 paper (Hafner et al. 2023) and its official code
(github.com/danijar/dreamerv3); fields left ``None`` take their value from ``preset``.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from viper.core.config import Options, option

#: The first official release's learning settings (kept by the presets that predate ``proprio``).
V1_LEARNING: dict[str, float | int | bool] = dict(model_lr=1e-4, actor_lr=3e-5, critic_lr=3e-5, eval_sample=True)

#: Sizes per preset; any of these fields set explicitly wins over the preset.
PRESETS: dict[str, dict[str, float | int | bool]] = {
    # Tiny everything, for tests: an update takes milliseconds on a CPU.
    "debug": dict(
        deter=32,
        hidden=32,
        layers=1,
        stoch=4,
        classes=4,
        cnn_depth=4,
        batch_size=4,
        batch_length=8,
        train_ratio=16,
        prefill=64,
        bins=255,
        **V1_LEARNING,
    ),
    # CPU-sized (not the official "small", whose sizes equal dmc_vision's): learns the lite tasks
    # from state on a laptop CPU in minutes. Smaller latents (16x16) and sequences (16x32).
    "small": dict(
        deter=128,
        hidden=128,
        layers=2,
        stoch=16,
        classes=16,
        cnn_depth=16,
        batch_size=16,
        batch_length=32,
        train_ratio=64,
        prefill=1000,
        bins=255,
        **V1_LEARNING,
    ),
    # The paper's sizes for DMC from pixels (VIPER's DreamerV3 config: train_ratio 64).
    "dmc_vision": dict(
        deter=512,
        hidden=512,
        layers=2,
        stoch=32,
        classes=32,
        cnn_depth=32,
        batch_size=16,
        batch_length=64,
        train_ratio=64,
        prefill=5000,
        bins=255,
        **V1_LEARNING,
    ),
    # CPU-sized for vector observations (``obs_keys=state``): small nets and 8x8 latents (an
    # update takes ~0.15 CPU s), 0.5 updates per env step (the official proprio configs do 0.5-1;
    # ``small`` does 0.125), learning rates raised for the few updates, and the newest official
    # code's actor output near zero and value learned from replay too; evaluates the mode.
    "proprio": dict(
        deter=64,
        hidden=64,
        layers=2,
        stoch=8,
        classes=8,
        cnn_depth=16,
        batch_size=16,
        batch_length=16,
        train_ratio=128,
        prefill=2500,
        bins=255,
        model_lr=3e-4,
        actor_lr=1e-4,
        critic_lr=1e-4,
        eval_sample=False,
        actor_outscale=0.01,
        replay_value_scale=0.3,
    ),
}


@dataclasses.dataclass
class DreamerConfig(Options):
    """DreamerV3 (``--set agent.FIELD=VALUE``)."""

    SECTION: ClassVar[str] = "agent"
    PRESETS: ClassVar[dict[str, dict[str, float | int | bool]]] = PRESETS

    preset: str = option("small", one_of=tuple(PRESETS))
    """Sizes: ``debug`` (tiny, tests), ``small`` (CPU-friendly), ``dmc_vision`` (the paper's
    DMC sizes: deter 512, 2x512 MLPs, CNN depth 32, batch 16x64, train ratio 64), ``proprio``
    (vector observations on a CPU: 64-unit nets, 8x8 latents, batch 16x16, 0.5 updates per env
    step, faster learning rates, near-zero actor output, replay value loss, evaluates the mode)."""
    obs_keys: tuple[str, ...] = ("image",)
    """Observation keys the agent reads: ``image`` (pixels, CNN encoder/decoder) and/or vectors
    such as ``state`` (MLP encoder/decoder, symlog inputs and targets)."""
    device: str = "auto"
    """Torch device: ``auto`` (CUDA if available), ``cpu``, ``cuda``, ``cuda:1``..."""
    threads: int = 0
    """CPU threads torch may use (0: torch's default; 1 is fastest for small nets on busy CPUs)."""

    # Sizes (None: the preset's)
    deter: int | None = option(None, ge=1)
    """GRU (deterministic) state size."""
    hidden: int | None = option(None, ge=1)
    """Units of every MLP layer (RSSM, heads, actor, critic, MLP encoder/decoder)."""
    layers: int | None = None
    """Hidden layers of every MLP."""
    stoch: int | None = option(None, ge=1)
    """Number of categorical latent variables (32 in the paper)."""
    classes: int | None = option(None, ge=1)
    """Classes per latent variable (32 in the paper)."""
    cnn_depth: int | None = option(None, ge=1)
    """Channels of the first conv layer; doubles each stride-2 stage down to 4x4."""
    bins: int | None = option(None, test=lambda n: n >= 3 and n % 2 == 1, expected="an odd number >= 3 (a bin at zero)")
    """Two-hot bins of the reward and critic heads (symexp-spaced in [-20, 20] symlog units)."""

    # Replay and training schedule
    batch_size: int | None = option(None, ge=1)
    """Sequences per training batch."""
    batch_length: int | None = option(None, ge=1)
    """Steps per training sequence."""
    train_ratio: float | None = option(None, gt=0)
    """Replayed steps per env step: one update per ``batch_size * batch_length / train_ratio`` env steps."""
    prefill: int | None = None
    """Env steps of uniform random actions (summed over envs) before the first update."""
    replay_capacity: int = 1_000_000
    """Steps kept in replay (split evenly over envs); the oldest are overwritten."""

    # World model
    unimix: float = 0.01
    """Share of the uniform distribution mixed into every categorical (latents, discrete actions)."""
    free_nats: float = 1.0
    """Free bits: KL terms below this many nats are not minimised."""
    dyn_scale: float = 0.5
    """Weight of the dynamics KL, KL(sg(posterior) || prior)."""
    rep_scale: float = 0.1
    """Weight of the representation KL, KL(posterior || sg(prior))."""
    model_lr: float | None = option(None, gt=0)
    """World model Adam learning rate (1e-4 in the paper)."""
    model_eps: float = 1e-8
    """World model Adam epsilon."""
    model_clip: float = 1000.0
    """World model gradient global-norm clip."""

    # Actor-critic in imagination
    imag_horizon: int = option(15, ge=1)
    """Imagined steps from every replayed state."""
    discount: float = option(0.997, gt=0, le=1)
    """Discount per step (the paper's horizon 333: 1 - 1/333)."""
    return_lambda: float = option(0.95, ge=0, le=1)
    """lambda of the lambda-returns."""
    actor_entropy: float = 3e-4
    """Entropy regulariser of the actor (on normalised returns)."""
    actor_entropy_target: float | None = option(None, keyed_default=False)
    """Keep the policy's entropy (nats, summed over action dimensions) near this: the entropy
    weight becomes learned (SAC's temperature; starts at ``actor_entropy``), raised while the
    entropy is below the target and lowered above it. None: the fixed ``actor_entropy`` (the
    paper). For 2 continuous dimensions 0.0 keeps the std near 0.24 (the floor 0.1 is -1.8)."""
    actor_entropy_lr: float = option(1e-2, gt=0, keyed_default=False)
    """Adam learning rate of the learned entropy weight's logarithm (``actor_entropy_target``)."""
    actor_lr: float | None = option(None, gt=0)
    """Actor Adam learning rate (3e-5 in the paper)."""
    critic_lr: float | None = option(None, gt=0)
    """Critic Adam learning rate (3e-5 in the paper)."""
    actor_outscale: float | None = option(None, ge=0, keyed_default=False)
    """Scale of the actor's output-layer initialisation (None: 1.0, the first release's; the
    newest official code starts it at 0.01, so the first policy is the same broad one
    everywhere and the entropy term does not fight a random initial preference)."""
    replay_value_scale: float | None = option(None, ge=0, keyed_default=False)
    """Weight of the critic's second loss on the replayed states, regressing lambda-returns of
    the replayed rewards bootstrapped with the imagined returns (the newest official code's
    ``repval``, 0.3 there); None: off. It teaches the critic real rewards that the reward head
    still underestimates, which matters when rewards are rare."""
    actor_grad: str | None = option(None, one_of=("backprop", "reinforce"), keyed_default=False)
    """How the actor learns from imagined returns. ``reinforce``: log-probability of the sampled
    action times its (stopped) advantage, for every action space, as the newest official code
    does; imagination then needs no gradients (cheaper). ``backprop``: continuous actors
    differentiate the returns through the frozen dynamics and reward head (the first release's
    choice; discrete actors still use REINFORCE). None: ``backprop``."""
    ac_eps: float = 1e-5
    """Actor and critic Adam epsilon."""
    ac_clip: float = 100.0
    """Actor and critic gradient global-norm clip."""
    slow_critic_fraction: float = 0.02
    """EMA rate of the slow critic (its weights move this share toward the critic each update)."""
    slow_critic_scale: float = 1.0
    """Weight of the regulariser pulling the critic toward the slow critic's predictions."""
    retnorm_decay: float = 0.99
    """EMA decay of the 5th/95th return percentiles used to normalise advantages."""
    retnorm_low: float = 5.0
    """Lower return percentile of the normaliser."""
    retnorm_high: float = 95.0
    """Upper return percentile of the normaliser."""
    actor_min_std: float = 0.1
    """Smallest std of the continuous action distribution (bounded normal, mean tanh-squashed)."""
    actor_max_std: float = 1.0
    """Largest std of the continuous action distribution."""
    eval_sample: bool | None = None
    """Sample evaluation actions like the official code (False: take the policy's mode)."""

    # Exploration: Plan2Explore ensemble disagreement (the paper's exploration term; off by default)
    explore: bool = False
    """Add the Plan2Explore bonus: an ensemble predicts the next latent; its disagreement is an
    intrinsic reward with its own critic and return normaliser."""
    explore_weight: float = 1.0
    """beta: actor advantage = (adv_reward + beta * adv_explore) / (1 + beta); 1 is the official
    equal weighting (VIPER's density and disagreement critics both scale 1)."""
    explore_models: int = 8
    """Ensemble members predicting the next latent."""
    explore_lr: float = 1e-4
    """Ensemble Adam learning rate."""
