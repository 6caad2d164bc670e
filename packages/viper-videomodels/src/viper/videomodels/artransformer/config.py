"""Options of the ``ar-transformer`` video model and its named presets."""

from __future__ import annotations

import dataclasses
from typing import Any

from viper.core.errors import ConfigError


@dataclasses.dataclass
class Config:
    """The model, its training and its multi-host settings. Defaults are the paper's DMC model
    (VIPER's ``videogpt/dmc.yaml``); ``PRESETS["quick"]`` trains on a 2-core CPU in minutes."""

    # -- model ---------------------------------------------------------------------------------
    layers: int = 8
    """Transformer blocks."""
    heads: int = 8
    """Attention heads per block (``width`` must divide by it)."""
    width: int = 256
    """Embedding / residual stream width."""
    mlp_width: int = 1024
    """Hidden units of each block's MLP."""
    seq_len: int = 16
    """Frames per training clip, the scored frame included (the paper's ``seq_len``): every frame
    is conditioned on up to ``seq_len - 1`` previous frames (the model's ``context``)."""
    frame_spans: tuple[int, ...] = ()
    """Previous frames each block attends to, one entry per block, summing to ``seq_len - 1``;
    empty spreads ``seq_len - 1`` evenly (later blocks get the remainder). Because the spans add
    up to the context, a frame's likelihood depends on exactly its ``context`` previous frames,
    and a rolling cache of each block's last ``span`` frames scores a stream exactly."""
    dropout: float = 0.1
    """Dropout on embeddings, attention outputs and MLP outputs while training."""
    attention_dropout: float = 0.1
    """Dropout on attention probabilities while training."""
    frame_skip: int = 1
    """Model every ``s``-th frame: training clips are taken with stride ``s`` and frame ``t`` is
    scored given frames ``t-s, t-2s, ...`` (the stream keeps ``s`` interleaved histories per env)."""

    # -- training ------------------------------------------------------------------------------
    steps: int = 800_000
    """Optimizer steps."""
    batch_size: int = 64
    """Clips per step over all devices and hosts (must divide by the device count)."""
    learning_rate: float = 1e-4
    """AdamW peak learning rate (constant after warm-up)."""
    warmup_steps: int = 0
    """Linear learning-rate warm-up steps."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay, applied to weight matrices and embeddings only."""
    grad_clip: float = 1.0
    """Clip gradients to this global norm (0 disables)."""
    ema_decay: float = 0.9999
    """Decay of the weights' exponential moving average used for likelihoods; early steps use
    ``min(ema_decay, (1 + step) / (10 + step))`` so short runs are not dominated by the init."""
    log_every: int = 100
    """Log train bits per code every this many steps."""
    eval_every: int = 10_000
    """Log validation bits per code (EMA weights) every this many steps and at the end."""
    eval_batches: int = 4
    """Batches of fixed validation clips per evaluation."""
    checkpoint_every: int = 10_000
    """Write a resumable checkpoint every this many steps and at the end."""
    keep_checkpoints: int = 2
    """Newest checkpoints kept on disk."""

    # -- multi-host (jax.distributed) -------------------------------------------------------------
    coordinator_address: str | None = None
    """``host:port`` of process 0 for ``jax.distributed.initialize``; None trains on one host."""
    num_processes: int | None = None
    """Number of processes (hosts) in a multi-host run."""
    process_id: int | None = None
    """This process's index in ``[0, num_processes)``."""

    def __post_init__(self) -> None:
        self.frame_spans = tuple(int(s) for s in self.frame_spans)
        positive = ("layers", "heads", "width", "mlp_width", "seq_len", "frame_skip", "steps", "batch_size")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"--set video_model.{name}={getattr(self, name)}: expected a positive integer")
        for name in ("log_every", "eval_every", "checkpoint_every", "keep_checkpoints", "eval_batches"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"--set video_model.{name}={getattr(self, name)}: expected a positive integer")
        if self.width % self.heads:
            raise ConfigError(f"--set video_model.width={self.width}: must divide by heads={self.heads}")
        for name in ("dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"--set video_model.{name}={getattr(self, name)}: expected a value in [0, 1)")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"--set video_model.ema_decay={self.ema_decay}: expected a value in [0, 1)")
        if self.learning_rate <= 0:
            raise ConfigError(f"--set video_model.learning_rate={self.learning_rate}: expected a positive number")
        if self.frame_spans:
            if len(self.frame_spans) != self.layers or min(self.frame_spans) < 0:
                raise ConfigError(
                    f"--set video_model.frame_spans={','.join(map(str, self.frame_spans))}: expected {self.layers} "
                    f"non-negative integers (one per layer)"
                )
            if sum(self.frame_spans) != self.seq_len - 1:
                raise ConfigError(
                    f"--set video_model.frame_spans={','.join(map(str, self.frame_spans))}: the spans must add up to "
                    f"seq_len - 1 = {self.seq_len - 1} (the frames each frame is conditioned on)"
                )

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
}
