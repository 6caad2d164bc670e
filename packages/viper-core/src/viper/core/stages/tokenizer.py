"""The ``tokenizer`` stage (``viper-run fit-tokenizer``): a frame tokenizer fitted on a dataset.

After fitting, the stage also measures the tokenizer on the pixels that matter
(:func:`viper.core.diagnostics.foreground_figures`: PSNR over the foreground, the pixels away
from the dataset's median frame, beside the whole frame) into its metrics and ``foreground.png``;
this is evaluation only and is not part of the stage's folder name.

``extra_data`` (``--extra-data DIR``, the pipeline's random-policy episodes) adds datasets whose
episodes join the training split only: the tokenizer learns to draw frames the expert never
shows, while validation, and so ``val_psnr`` and the foreground figures, stay on the expert data
and comparable with a tokenizer trained without them. Their fingerprints join the stage config
only when given, so the folders of tokenizers trained without extra data keep their names."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from viper.core.diagnostics import FOREGROUND_FILE, foreground_figures
from viper.core.plugins import PluginHost, get_host
from viper.core.stages.fit import (
    clip_tables,
    dataset_fingerprint,
    fit_and_save,
    fit_inputs,
    fit_stage_config,
    image_masks,
    is_lead,
    join_stores,
    open_extra_data,
    split_episodes,
)
from viper.core.stages.lifecycle import report_cached, run_stage
from viper.core.workdir import StageContext, Workdir


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
    extra_data: Sequence[str | Path] = (),
) -> Path:
    """Train tokenizer ``name`` on the dataset at ``data`` (plus, in training only, the episodes
    of the ``extra_data`` datasets); returns its artifact folder. ``preset`` names one of the
    component's ``PRESETS`` applied before ``options``."""
    host = host or get_host()
    dataset, config, masks = fit_inputs("tokenizer", name, data, options, host, preset, mask_suite)
    extras = open_extra_data(extra_data, dataset)
    extra_masks = [{**image_masks(extra, mask_suite, host), **masks} for extra in extras]
    stage_config = fit_stage_config(config, dataset, masks, seed, val_fraction)
    if extras:
        stage_config["extra_data"] = [
            {"data": dataset_fingerprint(extra), "masks": sorted(m)} for extra, m in zip(extras, extra_masks)
        ]
    stage = Workdir(workdir).stage("tokenizer", stage_config, component=name)
    if stage.done:
        stage.reuse()
        report_cached("tokenizer", stage.directory)
        return stage.directory / "artifact"
    train_eps, val_eps = split_episodes(dataset, val_fraction)
    # frames are read from a clip table on disk as training samples them (the same values)
    tables = clip_tables(Workdir(workdir).path)
    expert_train = dataset.store(train_eps, masks=masks, progress=progress, on_disk=tables)
    train = join_stores(
        expert_train,
        [extra.store(masks=m, progress=progress, on_disk=tables) for extra, m in zip(extras, extra_masks)],
    )
    val = dataset.store(val_eps, masks=masks, progress=False, on_disk=tables)
    lead = is_lead(config)
    tokenizer = host.load("tokenizer", name)(config)
    options_: dict[str, Any] = {"tasks": train.tasks, "image_size": dataset.image_size, "data": str(dataset.root)}
    if extras:
        options_["extra_data"] = [str(extra.root) for extra in extras]

    def work(ctx: StageContext) -> dict[str, Any]:
        metrics = fit_and_save(tokenizer, train, val, ctx, lead)
        if not lead:
            return metrics
        out = Path(ctx.directory) / FOREGROUND_FILE
        # measured on the expert frames alone, as without extra data
        figures = foreground_figures(tokenizer, expert_train.arrays, val.arrays, out)
        extra_counts = {"extra_episodes": len(train) - len(expert_train)} if extras else {}
        return {**metrics, **figures, **extra_counts}

    run_stage(stage, work, seed=seed, progress=progress, lead=lead, options=options_)
    return stage.directory / "artifact"
