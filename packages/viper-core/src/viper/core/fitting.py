"""The framework-agnostic fitting stages: ``fit-tokenizer`` and ``fit-model``.

Both resolve a component by name, build its ``Config`` from ``--set`` options, run ``fit`` inside
a workdir stage (cached by config, resumable from the component's own checkpoints) and save the
trained component into ``<stage>/artifact`` atomically. The video model is trained on codes:
the dataset is encoded once by the trained tokenizer and the codes are cached in the tokenizer's
stage folder, keyed by the dataset's content and masks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_save_npz, load_npz
from viper.core.components import load_suite, load_tokenizer, make_config, presets
from viper.core.config import config_hash, to_dict
from viper.core.dataset import EpisodeStore, VideoDataset
from viper.core.errors import ConfigError, DatasetError, ViperError
from viper.core.plugins import PluginHost, get_host
from viper.core.progress import progress_bar
from viper.core.workdir import Stage, Workdir


def dataset_fingerprint(dataset: VideoDataset) -> str:
    """Changes whenever episodes are added, removed or re-split."""
    return config_hash(dataset.manifest.get("episodes", []), dataset.image_size)


def image_masks(
    dataset: VideoDataset, mask_suite: str | None = None, host: PluginHost | None = None
) -> dict[str, np.ndarray]:
    """Per-task masks from ``mask_suite`` (or the suite the dataset was collected from)."""
    suite_name = mask_suite
    if suite_name is None:
        env = str(dataset.manifest.get("source", {}).get("env", ""))
        suite_name = env.split(":", 1)[0] if ":" in env else None
    if not suite_name:
        return {}
    try:
        suite = load_suite(suite_name, host)
    except ViperError:
        if mask_suite is not None:
            raise
        return {}  # the suite that made the data is not installed here; masks are optional
    size = dataset.image_size[0] if dataset.image_size else 64
    masks = {}
    for task in dataset.tasks:
        if task in suite.tasks():
            mask = suite.image_mask(task, size)
            if mask is not None:
                masks[task] = np.asarray(mask, bool)
    return masks


def _split_stores(
    dataset: VideoDataset, masks: dict[str, np.ndarray], val_fraction: float, progress: bool
) -> tuple[EpisodeStore, EpisodeStore]:
    train, val = dataset.split(val_fraction)
    if not train:
        raise DatasetError(f"{dataset.root}: no training episodes")
    return (
        dataset.store(train, masks=masks, progress=progress),
        dataset.store(val, masks=masks, progress=False),
    )


def _run_stage(
    stage: Stage,
    component: Any,
    train: EpisodeStore,
    val: EpisodeStore,
    *,
    seed: int,
    progress: bool,
    options: dict[str, Any],
) -> dict[str, Any]:
    from viper.core.atomic import atomic_directory

    stage.start()
    ctx = stage.context(seed=seed, progress=progress, options=options)
    try:
        metrics = component.fit(train, val, ctx) or {}
        with atomic_directory(stage.directory / "artifact") as tmp:
            component.save(Path(tmp))
    finally:
        ctx.metrics.close()
    stage.finish(metrics)
    return metrics


def fit_tokenizer(
    data: str | Path,
    workdir: str | Path,
    *,
    name: str = "vqgan",
    options: dict[str, Any] | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
    mask_suite: str | None = None,
    progress: bool = True,
    host: PluginHost | None = None,
    preset: str | None = None,
) -> Path:
    """Train tokenizer ``name`` on the dataset at ``data``; returns its artifact folder.
    ``preset`` names one of the component's ``PRESETS`` applied before ``options``."""
    host = host or get_host()
    dataset = VideoDataset(data)
    if preset is not None and preset not in presets(host.load("tokenizer", name)):
        known = ", ".join(presets(host.load("tokenizer", name))) or "none"
        raise ConfigError(f"--preset {preset}: tokenizer {name!r} has the presets {known}")
    config = make_config("tokenizer", name, options, host, preset=preset)
    masks = image_masks(dataset, mask_suite, host)
    wd = Workdir(workdir)
    stage = wd.stage(
        "tokenizer",
        {
            "component": to_dict(config),
            "data": dataset_fingerprint(dataset),
            "masks": sorted(masks),
            "seed": seed,
            "val_fraction": val_fraction,
        },
        component=name,
    )
    if stage.done:
        print(f"tokenizer: cached in {stage.directory}")
        return stage.directory / "artifact"
    train, val = _split_stores(dataset, masks, val_fraction, progress)
    factory = host.load("tokenizer", name)
    tokenizer = factory(config)
    options_ = {"tasks": tuple(dataset.tasks), "image_size": dataset.image_size, "data": str(dataset.root)}
    _run_stage(stage, tokenizer, train, val, seed=seed, progress=progress, options=options_)
    return stage.directory / "artifact"


def encode_dataset(
    tokenizer: Any,
    dataset: VideoDataset,
    cache: Path,
    masks: dict[str, np.ndarray],
    progress: bool = True,
    batch: int = 256,
) -> dict[str, np.ndarray]:
    """Codes of every episode, keyed by episode file, computed once and cached in ``cache``."""
    if cache.exists():
        try:
            return load_npz(cache)
        except (OSError, ValueError):
            pass  # a damaged cache is recomputed
    size = tuple(tokenizer.image_size)
    if dataset.image_size is not None and tuple(dataset.image_size) != size:
        raise DatasetError(
            f"{dataset.root}: frames are {dataset.image_size[0]}x{dataset.image_size[1]} but the tokenizer was trained "
            f"on {size[0]}x{size[1]}; re-run fit-tokenizer on this dataset"
        )
    codes: dict[str, np.ndarray] = {}
    bar = progress_bar(dataset.episodes, desc="encoding frames", unit="ep", enabled=progress)
    for episode in bar:
        frames = dataset.load(episode)["frames"]
        if episode.task in masks:
            from viper.core.dataset import apply_mask

            frames = apply_mask(frames, masks[episode.task])
        parts = [tokenizer.encode(frames[i : i + batch]) for i in range(0, len(frames), batch)]
        codes[episode.file] = np.concatenate(parts).astype(np.int32)
    atomic_save_npz(cache, codes)
    return codes


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
    dataset = VideoDataset(data)
    if preset is not None and preset not in presets(host.load("video_model", name)):
        known = ", ".join(presets(host.load("video_model", name))) or "none"
        raise ConfigError(f"--preset {preset}: video model {name!r} has the presets {known}")
    config = make_config("video_model", name, options, host, preset=preset)
    masks = image_masks(dataset, mask_suite, host)
    stage = wd.stage(
        "video_model",
        {
            "component": to_dict(config),
            "tokenizer": tokenizer_dir.name,
            "data": dataset_fingerprint(dataset),
            "masks": sorted(masks),
            "seed": seed,
            "val_fraction": val_fraction,
        },
        component=name,
    )
    if stage.done:
        print(f"video model: cached in {stage.directory}")
        return stage.directory / "artifact"
    tokenizer = load_tokenizer(wd, host)
    cache = tokenizer_dir / f"codes-{config_hash(dataset_fingerprint(dataset), sorted(masks))}.npz"
    codes = encode_dataset(tokenizer, dataset, cache, masks, progress)
    train_eps, val_eps = dataset.split(val_fraction)
    if not train_eps:
        raise DatasetError(f"{dataset.root}: no training episodes")
    task_index = {t: i for i, t in enumerate(dataset.tasks)}

    def store(episodes: list) -> EpisodeStore:
        return EpisodeStore(
            [codes[e.file] for e in episodes],
            np.asarray([task_index[e.task] for e in episodes], np.int32),
            tuple(dataset.tasks),
        )

    factory = host.load("video_model", name)
    model = factory(config)
    opts = {
        "tasks": tuple(dataset.tasks),
        "vocab_size": int(tokenizer.vocab_size),
        "code_grid": tuple(tokenizer.code_grid),
        "image_size": tuple(tokenizer.image_size),
        "tokenizer": tokenizer_dir.name,
    }
    _run_stage(stage, model, store(train_eps), store(val_eps), seed=seed, progress=progress, options=opts)
    return stage.directory / "artifact"


def require_data(data: str | None, workdir: Workdir) -> Path:
    """``--data`` if given, else the dataset the workdir's collect stage wrote."""
    if data is not None:
        return Path(data)
    try:
        return workdir.latest("data") / "dataset"
    except ViperError:
        raise ConfigError(f"--data: required (the workdir {workdir.path} holds no collected dataset)") from None
