"""Options of the ``ar-transformer`` video model and its named presets."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from viper.core.config import DistributedConfig, Options, Rule, option
from viper.videomodels.common.config import EMATrainingOptions

#: Named option sets (``viper-run --preset NAME`` / ``fit-model --preset NAME``).
PRESETS: dict[str, dict[str, Any]] = {
    # VIPER's DMC VideoGPT: 8x8 codes of 64x64 frames, 16-frame clips, batch 64, Adam 1e-4, EMA 0.9999.
    "paper": {
        "layers": 8,
        "heads": 8,
        "width": 256,
        "mlp_width": 1024,
        "seq_len": 16,
        "dropout": 0.1,
        "attention_dropout": 0.1,
        "steps": 800_000,
        "batch_size": 64,
        "learning_rate": 1e-4,
        "ema_decay": 0.9999,
    },
    # About 2-3 minutes on an idle 2-core CPU for 8x8 codes (the stream costs ~1/10 of the paper's).
    "quick": {
        "layers": 4,
        "heads": 2,
        "width": 96,
        "mlp_width": 384,
        "seq_len": 5,
        "dropout": 0.0,
        "attention_dropout": 0.0,
        "steps": 500,
        "batch_size": 16,
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
        "seq_len": 4,
        "dropout": 0.0,
        "attention_dropout": 0.0,
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
    """The model, its training and its multi-host settings (``coordinator_address``,
    ``num_processes``, ``process_id`` from :class:`~viper.core.config.DistributedConfig`).
    Defaults are the paper's DMC model (VIPER's ``videogpt/dmc.yaml``); ``PRESETS["quick"]``
    trains on a 2-core CPU in minutes."""

    SECTION: ClassVar[str] = "video_model"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule("width", lambda c: c.width % c.heads == 0, "a multiple of heads ({heads})"),
        Rule(
            "frame_spans",
            lambda c: not c.frame_spans or len(c.frame_spans) == c.layers,
            "{layers} non-negative integers (one per layer)",
        ),
        Rule(
            "frame_spans",
            lambda c: not c.frame_spans or sum(c.frame_spans) == c.seq_len - 1,
            "spans that add up to seq_len - 1 = {context} (the frames each frame is conditioned on)",
        ),
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
    seq_len: int = option(16, ge=1)
    """Frames per training clip, the scored frame included (the paper's ``seq_len``): every frame
    is conditioned on up to ``seq_len - 1`` previous frames (the model's ``context``)."""
    frame_spans: tuple[int, ...] = option((), ge=0)
    """Previous frames each block attends to, one entry per block, summing to ``seq_len - 1``;
    empty spreads ``seq_len - 1`` evenly (later blocks get the remainder). Because the spans add
    up to the context, a frame's likelihood depends on exactly its ``context`` previous frames,
    and a rolling cache of each block's last ``span`` frames scores a stream exactly."""
    dropout: float = option(0.1, ge=0, lt=1)
    """Dropout on embeddings, attention outputs and MLP outputs while training."""
    attention_dropout: float = option(0.1, ge=0, lt=1)
    """Dropout on attention probabilities while training."""
    frame_skip: int = option(1, ge=1)
    """Model every ``s``-th frame: training clips are taken with stride ``s`` and frame ``t`` is
    scored given frames ``t-s, t-2s, ...`` (the stream keeps ``s`` interleaved histories per env)."""

    # -- training (the rest in EMATrainingOptions) ----------------------------------------------
    log_every: int = option(100, ge=1)
    """Log train bits per code every this many steps."""
    eval_every: int = option(10_000, ge=1)
    """Log validation bits per code (EMA weights) every this many steps and at the end."""

    @property
    def context(self) -> int:
        """Previous frames (of the same frame-skip chain) each frame is conditioned on."""
        return self.seq_len - 1

    @property
    def spans(self) -> tuple[int, ...]:
        """Per-layer frame spans (explicit, or ``context`` spread over the layers)."""
        if self.frame_spans:
            return self.frame_spans
        base, extra = divmod(self.context, self.layers)
        return tuple(base + (1 if i >= self.layers - extra else 0) for i in range(self.layers))

    def architecture(self) -> dict[str, Any]:
        """The fields that shape the weights (a checkpoint must match these)."""
        return {
            "layers": self.layers,
            "heads": self.heads,
            "width": self.width,
            "mlp_width": self.mlp_width,
            "spans": list(self.spans),
        }
