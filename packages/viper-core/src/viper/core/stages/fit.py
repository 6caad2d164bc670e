"""What the two fitting stages (tokenizer, video_model) share: the dataset's fingerprint and
image masks, the component's config from a preset and options, and fitting a component and
saving it into ``<stage>/artifact`` atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_directory
from viper.core.components import load_suite, make_config, presets
from viper.core.config import config_hash, to_dict
from viper.core.config.distributed import single_process
from viper.core.dataset import EpisodeStore, VideoDataset
from viper.core.errors import ConfigError, DatasetError, ViperError
from viper.core.plugins import PluginHost
from viper.core.workdir import StageContext


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


def component_config(kind: str, name: str, options: dict[str, Any] | None, host: PluginHost, preset: str | None) -> Any:
    """The component's Config from its preset ``preset`` (refused if it has none by that name)
    and then ``options``."""
    if preset is not None and preset not in presets(host.load(kind, name)):
        known = ", ".join(presets(host.load(kind, name))) or "none"
        raise ConfigError(f"--preset {preset}: {kind.replace('_', ' ')} {name!r} has the presets {known}")
    return make_config(kind, name, options, host, preset=preset)


def fit_inputs(
    kind: str,
    name: str,
    data: str | Path,
    options: dict[str, Any] | None,
    host: PluginHost,
    preset: str | None,
    mask_suite: str | None,
) -> tuple[VideoDataset, Any, dict[str, np.ndarray]]:
    """The dataset at ``data``, the component's Config and the dataset's image masks."""
    dataset = VideoDataset(data)
    config = component_config(kind, name, options, host, preset)
    return dataset, config, image_masks(dataset, mask_suite, host)


def fit_stage_config(
    config: Any, dataset: VideoDataset, masks: dict[str, np.ndarray], seed: int, val_fraction: float, **upstream: str
) -> dict[str, Any]:
    """What names a fitting stage's folder: the component's options, the data, the masked tasks,
    the seed and split, and the folders of the ``upstream`` stages it reads."""
    return {
        # every process of a multi-process run, and a one-process run, share the folder
        "component": single_process(to_dict(config)),
        **upstream,
        "data": dataset_fingerprint(dataset),
        "masks": sorted(masks),
        "seed": seed,
        "val_fraction": val_fraction,
    }


def is_lead(config: Any) -> bool:
    """Whether this process writes the stage's files: process 0 of a multi-process run, or the
    only process (a component without multi-process settings always is)."""
    return getattr(config, "process_id", None) in (None, 0)


def open_extra_data(
    paths: Sequence[str | Path], dataset: VideoDataset, option: str = "--extra-data"
) -> list[VideoDataset]:
    """The datasets at ``paths``, refused (naming ``option`` and the path) when one is missing,
    empty or holds frames of another size than ``dataset``'s."""
    extras = []
    for path in paths:
        try:
            extra = VideoDataset(path, option=option)
        except DatasetError as exc:
            text = str(exc)
            raise DatasetError(text if text.startswith(option) else f"{option} {path}: {text}") from None
        if not extra.episodes:
            raise DatasetError(f"{option} {path}: the dataset holds no episodes")
        if dataset.image_size is not None and extra.image_size != dataset.image_size:
            have = "x".join(map(str, extra.image_size or ("?", "?")))
            want = "x".join(map(str, dataset.image_size))
            raise DatasetError(f"{option} {path}: frames are {have}, the training data's ({dataset.root}) are {want}")
        extras.append(extra)
    return extras


def join_stores(first: EpisodeStore, others: Sequence[EpisodeStore]) -> EpisodeStore:
    """One store of every episode; task ids index ``first``'s tasks followed by the others'
    tasks it lacks (each store numbers its own tasks)."""
    tasks = list(first.tasks)
    arrays: list[np.ndarray] = []
    task_ids: list[int] = []
    rewards: list[np.ndarray | None] = []
    for store in (first, *others):
        tasks += [task for task in store.tasks if task not in tasks]
        arrays += store.arrays
        task_ids += [tasks.index(store.tasks[i]) for i in store.task_ids]
        # a store without rewards still keeps one (empty) entry per episode
        rewards += list(store.task_rewards) if len(store.task_rewards) == len(store) else [None] * len(store)
    return EpisodeStore(arrays, np.asarray(task_ids, np.int32), tuple(tasks), rewards)


def split_episodes(dataset: VideoDataset, val_fraction: float) -> tuple[list, list]:
    train, val = dataset.split(val_fraction)
    if not train:
        raise DatasetError(f"{dataset.root}: no training episodes")
    return train, val


def fit_and_save(
    component: Any, train: EpisodeStore, val: EpisodeStore, ctx: StageContext, lead: bool = True
) -> dict[str, Any]:
    """``component.fit`` then, on the ``lead`` process only, ``component.save`` into
    ``<stage>/artifact`` (swapped in whole)."""
    metrics = component.fit(train, val, ctx) or {}
    if lead:
        with atomic_directory(Path(ctx.directory) / "artifact") as tmp:
            component.save(Path(tmp))
    return metrics


def clip_tables(workdir: Path) -> Path:
    """Where a workdir keeps the clip tables training reads frames from as it goes
    (:meth:`~viper.core.dataset.VideoDataset.store` with ``on_disk``)."""
    return Path(workdir) / "clips"
