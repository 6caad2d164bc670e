"""Shipped test utilities (for plugin authors and our own tests): a VQ-GAN config small enough
to train in seconds on a CPU, synthetic frames (no envs), a stage context to fit it in and
random VGG-style weights for the perceptual loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from viper.core.dataset import EpisodeStore
from viper.core.metrics import MetricsLogger
from viper.core.workdir import StageContext

#: A VQ-GAN small enough to compile and train in seconds on a CPU: 16x16 frames -> 4x4 codes.
TINY: dict[str, Any] = {
    "image_size": 16,
    "base_channels": 8,
    "channel_multipliers": (1, 2, 2),
    "num_res_blocks": 1,
    "attention": True,
    "latent_channels": 8,
    "embed_dim": 8,
    "codebook_size": 32,
    "norm_groups": 4,
    "disc_channels": 8,
    "disc_layers": 1,
    "disc_start": 10_000,
    "dead_code_threshold": 0.05,
    "l2_weight": 5.0,
    "batch_size": 8,
    "steps": 4,
    "learning_rate": 3e-3,
    "warmup_steps": 0,
    "adam_b1": 0.9,
    "adam_b2": 0.99,
    "weight_decay": 0.0,
    "log_every": 1,
    "eval_every": 1000,
    "checkpoint_every": 1000,
    "val_frames": 16,
    "grid_frames": 4,
    "encode_batch": 4,
}


def tiny_config(**changes: Any) -> Any:
    from viper.tokenizers.vqgan import Config

    return Config(**{**TINY, **changes})


def synthetic_episode(rng: np.random.Generator, length: int = 12, size: int = 16) -> np.ndarray:
    """A coloured square moving over a dark background with a fixed lighter border."""
    frames = np.full((length, size, size, 3), 24, np.uint8)
    frames[:, 0, :] = frames[:, -1, :] = frames[:, :, 0] = frames[:, :, -1] = 90
    color = rng.integers(120, 256, 3)
    pos = rng.integers(2, size - 6, 2).astype(float)
    vel = rng.uniform(-1, 1, 2)
    for t in range(length):
        y, x = np.clip(pos + t * vel, 1, size - 5).astype(int)
        frames[t, y : y + 4, x : x + 4] = color
    return frames


def synthetic_store(episodes: int = 6, seed: int = 0, size: int = 16, length: int = 12) -> EpisodeStore:
    rng = np.random.default_rng(seed)
    arrays = [synthetic_episode(rng, length, size) for _ in range(episodes)]
    return EpisodeStore(arrays, np.zeros(episodes, np.int32), ("squares",))


def stage_context(directory: Path, seed: int = 0, metrics: Any = None, size: int = 16) -> StageContext:
    return StageContext(
        directory=directory,
        metrics=metrics if metrics is not None else MetricsLogger(directory / "metrics.jsonl", stage="tokenizer"),
        seed=seed,
        progress=False,
        options={"tasks": ("squares",), "image_size": (size, size)},
    )


def write_vgg_like(path, with_lins=True):
    """Random VGG-style weights with torchvision names: two blocks (conv0, conv2 | pool | conv5)."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    tensors = {
        "features.0.weight": rng.normal(0, 0.3, (4, 3, 3, 3)),
        "features.0.bias": np.zeros(4),
        "features.2.weight": rng.normal(0, 0.3, (4, 4, 3, 3)),
        "features.2.bias": np.zeros(4),
        "features.5.weight": rng.normal(0, 0.3, (6, 4, 3, 3)),
        "features.5.bias": np.zeros(6),
    }
    if with_lins:
        tensors["lin0.model.1.weight"] = np.abs(rng.normal(0, 1, (1, 4, 1, 1)))
        tensors["lin1.model.1.weight"] = np.abs(rng.normal(0, 1, (1, 6, 1, 1)))
    save_file({k: v.astype(np.float32) for k, v in tensors.items()}, str(path))
    return path
