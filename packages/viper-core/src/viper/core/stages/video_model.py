"""The ``video_model`` stage (``viper-run fit-model``): a video model fitted on the codes the
workdir's tokenizer gives a dataset. The dataset is encoded once and the codes are cached in the
tokenizer's stage folder as a clip table (memory-mapped as training reads clips), keyed by the
dataset's content and masks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.cliptable import open_clip_table, write_clip_table
from viper.core.components import load_tokenizer
from viper.core.config import config_hash
from viper.core.dataset import EpisodeStore, VideoDataset, apply_mask
from viper.core.errors import DatasetError
from viper.core.plugins import PluginHost, get_host
from viper.core.progress import progress_bar
from viper.core.stages.fit import (
    dataset_fingerprint,
    fit_and_save,
    fit_inputs,
    fit_stage_config,
    is_lead,
    split_episodes,
)
from viper.core.stages.lifecycle import report_cached, run_stage
from viper.core.workdir import Workdir


def encode_dataset(
    tokenizer: Any,
    dataset: VideoDataset,
    cache: Path,
    masks: dict[str, np.ndarray],
    progress: bool = True,
    batch: int = 256,
) -> dict[str, np.ndarray]:
    """Codes of every episode, keyed by episode file: encoded once, one episode at a time, into a
    clip table at ``cache`` (:mod:`viper.core.cliptable`) and memory-mapped from it, so training
    reads the codes of its clips from disk and no dataset has to fit in memory."""
    identity = cache.name
    table = open_clip_table(cache, identity)
    if table is None:
        size = tuple(tokenizer.image_size)
        if dataset.image_size is not None and tuple(dataset.image_size) != size:
            raise DatasetError(
                f"{dataset.root}: frames are {dataset.image_size[0]}x{dataset.image_size[1]} but the tokenizer was "
                f"trained on {size[0]}x{size[1]}; re-run fit-tokenizer on this dataset"
            )

        def codes() -> Iterator[np.ndarray]:
            for episode in progress_bar(dataset.episodes, desc="encoding frames", unit="ep", enabled=progress):
                frames = dataset.load(episode)["frames"]
                if episode.task in masks:
                    frames = apply_mask(frames, masks[episode.task])
                parts = [tokenizer.encode(frames[i : i + batch]) for i in range(0, len(frames), batch)]
                yield np.concatenate(parts).astype(np.int32)

        task_ids = [dataset.tasks.index(e.task) for e in dataset.episodes]
        lengths = [e.length for e in dataset.episodes]
        write_clip_table(cache, codes(), lengths, task_ids, dataset.tasks, identity)
        table = open_clip_table(cache, identity)
        if table is None:
            raise DatasetError(f"{cache}: the codes just written cannot be read back")
    return {episode.file: codes for episode, codes in zip(dataset.episodes, table.arrays)}


def fit_video_model(
    workdir: str | Path,
    data: str | Path,
    *,
    name: str = "ar-transformer",
    options: dict[str, Any] | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
    mask_suite: str | None = None,
    progress: bool = True,
    host: PluginHost | None = None,
    preset: str | None = None,
) -> Path:
    """Train video model ``name`` on the tokenizer's codes of ``data``; returns its artifact folder.
    ``preset`` names one of the component's ``PRESETS`` applied before ``options``."""
    host = host or get_host()
    wd = Workdir(workdir)
    tokenizer_dir = wd.latest("tokenizer")
    dataset, config, masks = fit_inputs("video_model", name, data, options, host, preset, mask_suite)
    stage_config = fit_stage_config(config, dataset, masks, seed, val_fraction, tokenizer=tokenizer_dir.name)
    stage = wd.stage("video_model", stage_config, component=name)
    if stage.done:
        stage.reuse()
        report_cached("video model", stage.directory)
        return stage.directory / "artifact"
    # built first: a multi-process run joins jax.distributed before the tokenizer computes
    model = host.load("video_model", name)(config)
    tokenizer = load_tokenizer(wd, host)
    cache = tokenizer_dir / f"codes-{config_hash(dataset_fingerprint(dataset), sorted(masks))}"
    codes = encode_dataset(tokenizer, dataset, cache, masks, progress)
    train_eps, val_eps = split_episodes(dataset, val_fraction)
    task_index = {t: i for i, t in enumerate(dataset.tasks)}

    def store(episodes: list) -> EpisodeStore:
        return EpisodeStore(
            [codes[e.file] for e in episodes],
            np.asarray([task_index[e.task] for e in episodes], np.int32),
            tuple(dataset.tasks),
        )

    train, val = store(train_eps), store(val_eps)
    opts = {
        "tasks": tuple(dataset.tasks),
        "vocab_size": int(tokenizer.vocab_size),
        "code_grid": tuple(tokenizer.code_grid),
        "image_size": tuple(tokenizer.image_size),
        "tokenizer": tokenizer_dir.name,
    }
    lead = is_lead(config)
    run_stage(
        stage,
        lambda ctx: fit_and_save(model, train, val, ctx, lead),
        seed=seed,
        progress=progress,
        lead=lead,
        options=opts,
    )
    return stage.directory / "artifact"
