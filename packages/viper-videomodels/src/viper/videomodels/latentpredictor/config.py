"""Options of the ``latent-predictor`` video model and its named presets."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from viper.core.config import DistributedConfig, Options, option
from viper.videomodels.common.config import TrainingOptions

#: Named option sets (``viper-run --preset NAME`` / ``fit-model --preset NAME``).
PRESETS: dict[str, dict[str, Any]] = {
    # The paper compares against a deterministic latent model without giving its sizes; this
    # preset gives it the training budget of VIPER's DMC video model (16-frame clips, batch 64,
    # Adam 1e-4) and an encoder / predictor as wide as that model's residual stream.
    "paper": {
        "embed_dim": 64,
        "channels": 128,
        "width": 1024,
        "latent": 256,
        "predictor_layers": 3,
        "seq_len": 16,
        "steps": 800_000,
        "batch_size": 64,
        "learning_rate": 1e-4,
        "target_decay": 0.996,
    },
    # About a minute on an idle 2-core CPU for 8x8 codes.
    "quick": {
        "embed_dim": 16,
        "channels": 32,
        "width": 256,
        "latent": 64,
        "predictor_layers": 2,
        "seq_len": 5,
        "steps": 500,
        "batch_size": 16,
        "learning_rate": 1e-3,
        "warmup_steps": 50,
        "target_decay": 0.99,
        "log_every": 25,
        "eval_every": 100,
        "checkpoint_every": 100,
        "eval_batches": 2,
    },
    # Seconds on a CPU: what `viper-run check-plugin` fits.
    "tiny": {
        "embed_dim": 8,
        "channels": 8,
        "width": 32,
        "latent": 16,
        "predictor_layers": 1,
        "seq_len": 4,
        "steps": 3,
        "batch_size": 4,
        "log_every": 1,
        "eval_every": 1000,
        "checkpoint_every": 1000,
        "eval_batches": 1,
    },
}


@dataclasses.dataclass
class Config(DistributedConfig, TrainingOptions, Options):
    """The model, its training and its multi-host settings (``coordinator_address``,
    ``num_processes``, ``process_id`` from :class:`~viper.core.config.DistributedConfig`).
    ``PRESETS["quick"]`` trains on a 2-core CPU in about a minute."""

    SECTION: ClassVar[str] = "video_model"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS

    # -- model ---------------------------------------------------------------------------------
    embed_dim: int = option(64, ge=1)
    """Size of each code's learned embedding (the encoder's input per grid cell)."""
    channels: int = option(128, ge=1)
    """Channels of the encoder's two 3x3 convolutions over the code grid."""
    width: int = option(1024, ge=1)
    """Hidden units of the encoder's and the predictor's MLP layers."""
    latent: int = option(256, ge=1)
    """Size of a frame's embedding (what the predictor predicts)."""
    predictor_layers: int = option(3, ge=1)
    """Hidden layers of the predictor MLP (over the context embeddings and the task)."""
    seq_len: int = option(16, ge=1)
    """Frames per training clip, the scored frame included: every frame is predicted from up to
    ``seq_len - 1`` previous frames (the model's ``context``); missing ones (an episode's start)
    are learned "start" embeddings, so frame 0 is predicted from the start context alone."""
    target_decay: float = option(0.996, ge=0, lt=1)
    """Decay of the target encoder's exponential moving average of the online encoder (BYOL's
    tau): the target embedding of the next frame is taken with a stop-gradient from it."""

    # -- training (the rest in TrainingOptions) -------------------------------------------------
    warmup_steps: int = option(0, ge=0)
    """Linear learning-rate warm-up steps."""
    weight_decay: float = option(0.0, ge=0)
    """AdamW decoupled weight decay, applied to weight matrices and embeddings only."""
    grad_clip: float = option(1.0, ge=0)
    """Clip gradients to this global norm (0 disables)."""
    log_every: int = option(100, ge=1)
    """Log the train prediction error every this many steps."""
    eval_every: int = option(10_000, ge=1)
    """Log the validation prediction error every this many steps and at the end."""

    @property
    def context(self) -> int:
        """Previous frames each frame is predicted from."""
        return self.seq_len - 1

    def architecture(self) -> dict[str, Any]:
        """The fields that shape the weights (a saved model must match these)."""
        keys = ("embed_dim", "channels", "width", "latent", "predictor_layers", "seq_len")
        return {k: getattr(self, k) for k in keys}
