"""Config fields the code-sequence video models share: their training (AdamW, evaluation,
checkpoints) and, for the models scored with an EMA of their weights, its decay.

A model's ``Config`` lists these mixins after :class:`~viper.core.config.DistributedConfig`
(so `plugins --options` lists its own fields, then these, then the multi-host ones).
"""

from __future__ import annotations

import dataclasses

from viper.core.config import option


@dataclasses.dataclass
class TrainingOptions:
    """The run length, the evaluation and the checkpoints of :mod:`viper.videomodels.common.train`;
    a model's Config adds the optimizer's ``warmup_steps``, ``weight_decay`` and ``grad_clip``
    (:class:`EMATrainingOptions` has them)."""

    steps: int = option(800_000, ge=1)
    """Optimizer steps."""
    batch_size: int = option(64, ge=1)
    """Clips per step over all devices and hosts (must divide by the device count)."""
    learning_rate: float = option(1e-4, gt=0)
    """AdamW peak learning rate (constant after warm-up)."""
    eval_batches: int = option(4, ge=1)
    """Batches of fixed validation clips per evaluation."""
    checkpoint_every: int = option(10_000, ge=1)
    """Write a resumable checkpoint every this many steps and at the end."""
    keep_checkpoints: int = option(2, ge=1)
    """Newest checkpoints kept on disk."""


@dataclasses.dataclass
class EMATrainingOptions(TrainingOptions):
    """:class:`TrainingOptions`, the optimizer's options and the EMA decay of a model whose
    likelihoods use an EMA of its weights (the transformers)."""

    warmup_steps: int = 0
    """Linear learning-rate warm-up steps."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay, applied to weight matrices and embeddings only."""
    grad_clip: float = 1.0
    """Clip gradients to this global norm (0 disables)."""
    ema_decay: float = option(0.9999, ge=0, lt=1)
    """Decay of the weights' exponential moving average used for likelihoods; early steps use
    ``min(ema_decay, (1 + step) / (10 + step))`` so short runs are not dominated by the init."""
