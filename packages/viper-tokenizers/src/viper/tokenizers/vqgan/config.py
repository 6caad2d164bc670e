"""The VQ-GAN tokenizer's options and its named presets."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

from viper.core.config import DistributedConfig, Options, Rule, option

# ~2 minutes on 2 CPU cores (500 steps of 16 frames; ~32 dB PSNR on lite:reach expert frames).
# 8x8 codes like the paper, so the video model's cost does not change; ~1/100 of the paper
# encoder's FLOPs, most of them at low resolution (no residual block at 64x64). The MSE term
# makes small objects appear within a few hundred steps (see README). The discriminator stays
# off: within such a budget it never gets past chance (hinge loss ~1.0), so its gradient is
# noise that cost 0.7 dB PSNR in a test run; raise steps and lower disc_start to use it.
_QUICK: dict[str, Any] = {
    "base_channels": 16,
    "channel_multipliers": (1, 1, 2, 4),
    "num_res_blocks": (0, 1, 1, 1),
    "attention": False,
    "latent_channels": 32,
    "embed_dim": 32,
    "codebook_size": 256,
    "norm_groups": 8,
    "dead_code_threshold": 0.25,
    "l2_weight": 20.0,
    "disc_channels": 16,
    "disc_layers": 2,
    "disc_start": 10_000,
    "batch_size": 16,
    "steps": 500,
    "learning_rate": 2e-3,
    "warmup_steps": 100,
    "adam_b1": 0.9,
    "adam_b2": 0.99,
    "weight_decay": 0.0,
    "log_every": 50,
    "eval_every": 250,
    "checkpoint_every": 250,
    "val_frames": 128,
}

#: Named option sets; the pipeline applies ``PRESETS[name]`` before the user's ``--set`` options.
PRESETS: dict[str, dict[str, Any]] = {
    # The VIPER paper's DMC tokenizer (the Config defaults): 64x64 -> 8x8 codes, 256 codes.
    "paper": {},
    "quick": _QUICK,
    # The quick preset's earlier name.
    "light": _QUICK,
    # Seconds on a CPU (16x16 frames -> 8x8 codes, 4 steps): what `viper-run check-plugin` fits.
    "tiny": {
        "image_size": 16,
        "base_channels": 8,
        "channel_multipliers": (1, 2),
        "num_res_blocks": 1,
        "attention": False,
        "latent_channels": 8,
        "embed_dim": 8,
        "codebook_size": 32,
        "norm_groups": 4,
        "disc_channels": 8,
        "disc_layers": 1,
        "disc_start": 10_000,
        "batch_size": 8,
        "steps": 4,
        "warmup_steps": 0,
        "log_every": 1,
        "eval_every": 1000,
        "checkpoint_every": 1000,
        "val_frames": 16,
        "grid_frames": 4,
        "encode_batch": 4,
    },
}


@dataclasses.dataclass
class Config(DistributedConfig, Options):
    """Options of the ``vqgan`` tokenizer; defaults are the VIPER paper's DMC tokenizer. The
    multi-host fields (``coordinator_address``, ``num_processes``, ``process_id``) come from
    :class:`~viper.core.config.DistributedConfig`."""

    SECTION: ClassVar[str] = "tokenizer"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule(
            "num_res_blocks",
            lambda c: len(_levels(c.num_res_blocks)) in (1, len(c.channel_multipliers)),
            lambda c: f"one number >= 0, or one per level ({len(c.channel_multipliers)} levels in channel_multipliers)",
        ),
        Rule(
            "image_size",
            lambda c: c.image_size % c.downsample == 0,
            lambda c: (
                f"a multiple of the downsampling factor {c.downsample} "
                f"({len(c.channel_multipliers)} levels in channel_multipliers)"
            ),
        ),
    )

    # -- architecture ---------------------------------------------------------------------------
    image_size: int = option(64, ge=1)
    """Side of the square frames it encodes (the dataset's resolution)."""
    base_channels: int = option(128, ge=1)
    """Channels of the first (full-resolution) level of the encoder and the last of the decoder."""
    channel_multipliers: tuple[int, ...] = option(
        (1, 2, 2, 2), ge=1, test=lambda m: len(m) > 0 and min(m) >= 1, expected="positive integers, e.g. 1,2,2,2"
    )
    """Channels of each level as multiples of base_channels; every level after the first halves the
    resolution, so 4 levels map 64x64 frames to 8x8 codes and 3 levels to 16x16."""
    num_res_blocks: int | tuple[int, ...] = option(1, ge=0)
    """Residual blocks per encoder level, one number for all or one per level (the decoder has one
    more per level, as in VQGAN)."""
    attention: bool = True
    """Self-attention block between the two residual blocks at the bottleneck (as in VQGAN)."""
    latent_channels: int = option(64, ge=1)
    """Channels of the encoder output / decoder input around the quantizer's 1x1 projections."""
    embed_dim: int = option(64, ge=1)
    """Dimension of each codebook vector."""
    codebook_size: int = option(256, ge=2)
    """Number of codes (the vocabulary the video model predicts)."""
    norm_groups: int = option(32, ge=1)
    """GroupNorm groups (reduced to the largest divisor of a layer's channels when needed)."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """Compute dtype of convolutions (bfloat16 pays off on GPUs/TPUs; weights stay float32)."""

    # -- vector quantizer -------------------------------------------------------------------------
    commitment: float = 0.25
    """Weight of the commitment loss ||z - sg(e)||^2 that keeps encoder outputs near their codes."""
    codebook_decay: float = option(0.99, ge=0, lt=1)
    """Decay of the exponential moving averages that update the codebook (no codebook gradient)."""
    dead_code_threshold: float = 1.0
    """A code whose moving-average usage falls below this many assignments per batch is restarted
    at an encoder output of the current batch, drawn in proportion to its quantization error
    (0 disables restarts)."""

    # -- reconstruction, adversarial and perceptual losses --------------------------------------
    l2_weight: float = 0.0
    """Weight of a squared-error term added to the L1 reconstruction loss. L1's gradient has the
    same size on every pixel however well it is fit, which drowns out small objects on large
    uniform backgrounds (e.g. a ball in a simulator frame); an L2 term gives them the signal that
    a perceptual loss would give (the quick preset uses 20)."""
    foreground_weight: float = option(0.0, ge=0, keyed_default=False)
    """Extra weight of the reconstruction loss on foreground pixels: those whose colour differs
    from the training frames' per-pixel median (the static background) by more than
    ``foreground_threshold``, i.e. the moving body, the objects and the goal marker. In most
    simulator frames these are a few percent of the pixels and weigh no more than any background
    pixel, so a small target is the first thing a short training run gives up, and with it the
    only cue of where to go. A pixel's weight is ``1 + foreground_weight * is_foreground``; 0
    weighs every pixel alike."""
    foreground_threshold: int = option(24, ge=0, le=255, keyed_default=False)
    """Largest channel difference (0-255) from the median frame above which a pixel is foreground."""
    disc_channels: int = option(64, ge=1)
    """Channels of the first layer of the patch discriminator."""
    disc_layers: int = option(3, ge=0)
    """Strided layers of the patch discriminator (each halves the resolution)."""
    disc_start: int = option(10_000, ge=0)
    """Warm-up: steps trained on reconstruction losses only before the discriminator and the
    adversarial loss switch on."""
    disc_weight: float = 0.1
    """Weight of the adversarial (hinge) generator loss."""
    adaptive_disc_weight: bool = True
    """Scale the adversarial loss so its gradient at the decoder's last layer matches the
    reconstruction loss's (taming-transformers' VQGAN); False uses disc_weight alone."""
    perceptual_weights: str | None = None
    """Local file (.safetensors or .npz) with VGG-style weights for an LPIPS perceptual loss; never
    downloaded. None disables the perceptual loss."""
    perceptual_weight: float = 0.1
    """Weight of the perceptual loss (only used with perceptual_weights)."""

    # -- optimisation ----------------------------------------------------------------------------
    batch_size: int = option(128, ge=1)
    """Frames per step over all devices and hosts (a multiple of the device count)."""
    steps: int = option(100_000, ge=0)
    """Total training steps."""
    learning_rate: float = option(1e-4, gt=0)
    """Peak learning rate of the autoencoder and the discriminator (AdamW)."""
    warmup_steps: int = option(1000, ge=0)
    """Linear learning-rate warm-up; constant afterwards."""
    adam_b1: float = 0.5
    """AdamW beta1 (0.5 as usual for GANs)."""
    adam_b2: float = 0.9
    """AdamW beta2."""
    weight_decay: float = 1e-4
    """AdamW decoupled weight decay."""
    max_grad_norm: float = 0.0
    """Clip gradients to this global norm (0 disables)."""

    # -- bookkeeping -----------------------------------------------------------------------------
    log_every: int = option(100, ge=1)
    """Steps between training-metric lines in metrics.jsonl."""
    eval_every: int = option(1000, ge=1)
    """Steps between validation PSNR / codebook-usage evaluations."""
    checkpoint_every: int = option(1000, ge=1)
    """Steps between checkpoints (a killed fit resumes from the newest)."""
    keep_checkpoints: int = option(2, ge=1)
    """Checkpoints kept on disk."""
    val_frames: int = option(256, ge=1)
    """Validation frames used for PSNR and codebook usage."""
    grid_frames: int = option(8, ge=0)
    """Frames shown in reconstructions.png."""
    encode_batch: int = option(64, ge=1)
    """Frames per jitted call inside encode/decode."""

    def res_blocks(self, level: int) -> int:
        """Residual blocks of the encoder at ``level`` (0 = full resolution)."""
        blocks = self.num_res_blocks
        if isinstance(blocks, int):
            return blocks
        return int(blocks[level] if len(blocks) > 1 else blocks[0])

    @property
    def downsample(self) -> int:
        """How many pixels one code covers along each side."""
        return 2 ** (len(self.channel_multipliers) - 1)

    @property
    def code_grid(self) -> tuple[int, int]:
        side = self.image_size // self.downsample
        return (side, side)


def _levels(blocks: int | tuple[int, ...]) -> tuple[int, ...]:
    return (blocks,) if isinstance(blocks, int) else tuple(blocks)
