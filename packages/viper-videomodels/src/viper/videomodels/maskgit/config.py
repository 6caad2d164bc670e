"""Options of the ``maskgit`` video model and its named presets."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from viper.core.config import DistributedConfig, Options, Rule, option
from viper.videomodels.common.config import EMATrainingOptions

#: Named option sets (``viper-run --preset NAME`` / ``fit-model --preset NAME``).
PRESETS: dict[str, dict[str, Any]] = {
    # VIPER's repository ships no MaskGIT config (only videogpt/*.yaml), so the paper preset takes
    # its DMC VideoGPT's transformer and training sizes (8 blocks, 8 heads, width 256, 16-frame
    # clips, batch 64, Adam 1e-4, EMA 0.9999) and MaskGIT's 8 decoding steps as scoring steps.
    "paper": {
        "layers": 8,
        "heads": 8,
        "width": 256,
        "mlp_width": 1024,
        "context": 15,
        "dropout": 0.1,
        "score_steps": 8,
        "steps": 800_000,
        "batch_size": 64,
        "learning_rate": 1e-4,
        "ema_decay": 0.9999,
    },
    # A few minutes on an idle 2-core CPU for 8x8 codes.
    "quick": {
        "layers": 4,
        "heads": 2,
        "width": 96,
        "mlp_width": 384,
        "context": 4,
        "dropout": 0.0,
        "score_steps": 8,
        "steps": 500,
        # 32, not ar-transformer's 16: with small batches the masked objective learns each frame's
        # marginal long before it learns to read the context (measured on the moving-dot data).
        "batch_size": 32,
        "learning_rate": 2e-3,
        "warmup_steps": 50,
        "weight_decay": 0.01,
        "ema_decay": 0.99,
        "log_every": 25,
        "eval_every": 100,
        "checkpoint_every": 100,
        "eval_batches": 2,
    },
    # Seconds on a CPU (3 steps of a 2-block model): what `viper-run check-plugin` fits.
    "tiny": {
        "layers": 2,
        "heads": 2,
        "width": 32,
        "mlp_width": 64,
        "context": 3,
        "dropout": 0.0,
        "score_steps": 4,
        "steps": 3,
        "batch_size": 4,
        "warmup_steps": 0,
        "log_every": 1,
        "eval_every": 1000,
        "checkpoint_every": 1000,
        "eval_batches": 1,
    },
}


@dataclasses.dataclass
class Config(DistributedConfig, EMATrainingOptions, Options):
    """The model, its likelihood estimator, its training and its multi-host settings
    (``coordinator_address``, ``num_processes``, ``process_id`` from
    :class:`~viper.core.config.DistributedConfig`). Defaults are the ``paper`` preset;
    ``PRESETS["quick"]`` trains on a 2-core CPU in minutes."""

    SECTION: ClassVar[str] = "video_model"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule("width", lambda c: c.width % c.heads == 0, "a multiple of heads ({heads})"),
    )

    # -- model ---------------------------------------------------------------------------------
    layers: int = option(8, ge=1)
    """Transformer blocks."""
    heads: int = option(8, ge=1)
    """Attention heads per block (``width`` must divide by it)."""
    width: int = option(256, ge=1)
    """Embedding / residual stream width."""
    mlp_width: int = option(1024, ge=1)
    """Hidden units of each block's MLP."""
    context: int = option(15, ge=0)
    """Previous frames the next frame is conditioned on; every token of these frames and of the
    next frame attends to every other (bidirectional)."""
    dropout: float = option(0.1, ge=0, lt=1)
    """Dropout on embeddings, attention probabilities and block outputs while training."""

    # -- likelihood estimator ------------------------------------------------------------------
    score_steps: int = option(8, ge=1)
    """Unmasking steps ``S`` of the likelihood estimate: a frame's ``h*w`` codes are revealed in
    ``S`` groups (a fixed permutation, group sizes following the cosine schedule) and each group
    is scored given the context and the groups before it. ``S = h*w`` is the exact chain rule; a
    smaller ``S`` scores the codes of a group as independent. Costs ``S`` forward passes of
    ``(context + 1) * h*w`` tokens per reward (capped at ``h*w``)."""

    # -- training (the rest in EMATrainingOptions) ----------------------------------------------
    log_every: int = option(100, ge=1)
    """Log train bits per masked code every this many steps."""
    eval_every: int = option(10_000, ge=1)
    """Log validation bits per code (the ``score_steps`` estimate, EMA weights) every this many
    steps and at the end."""

    @property
    def seq_len(self) -> int:
        """Frames per training clip: the context and the masked frame."""
        return self.context + 1

    @property
    def frame_skip(self) -> int:
        """Training clips take consecutive frames (the shared clip sampler's stride)."""
        return 1

    def architecture(self) -> dict[str, Any]:
        """The fields that shape the weights (a checkpoint must match these)."""
        return {
            "layers": self.layers,
            "heads": self.heads,
            "width": self.width,
            "mlp_width": self.mlp_width,
            "context": self.context,
        }
