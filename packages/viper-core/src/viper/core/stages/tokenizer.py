"""The ``tokenizer`` stage (``viper-run fit-tokenizer``): a frame tokenizer fitted on a dataset.

After fitting, the stage also measures the tokenizer on the pixels that matter
(:func:`viper.core.diagnostics.foreground_figures`: PSNR over the foreground, the pixels away
from the dataset's median frame, beside the whole frame) into its metrics and ``foreground.png``;
this is evaluation only and is not part of the stage's folder name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from viper.core.diagnostics import FOREGROUND_FILE, foreground_figures
from viper.core.plugins import PluginHost, get_host
from viper.core.stages.fit import fit_and_save, fit_inputs, fit_stage_config, split_episodes
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
) -> Path:
    """Train tokenizer ``name`` on the dataset at ``data``; returns its artifact folder.
    ``preset`` names one of the component's ``PRESETS`` applied before ``options``."""
    host = host or get_host()
    dataset, config, masks = fit_inputs("tokenizer", name, data, options, host, preset, mask_suite)
    stage = Workdir(workdir).stage(
        "tokenizer", fit_stage_config(config, dataset, masks, seed, val_fraction), component=name
    )
    if stage.done:
        report_cached("tokenizer", stage.directory)
        return stage.directory / "artifact"
    train_eps, val_eps = split_episodes(dataset, val_fraction)
    train = dataset.store(train_eps, masks=masks, progress=progress)
    val = dataset.store(val_eps, masks=masks, progress=False)
    tokenizer = host.load("tokenizer", name)(config)
    options_ = {"tasks": tuple(dataset.tasks), "image_size": dataset.image_size, "data": str(dataset.root)}

    def work(ctx: StageContext) -> dict[str, Any]:
        metrics = fit_and_save(tokenizer, train, val, ctx)
        out = Path(ctx.directory) / FOREGROUND_FILE
        return {**metrics, **foreground_figures(tokenizer, train.arrays, val.arrays, out)}

    run_stage(stage, work, seed=seed, progress=progress, options=options_)
    return stage.directory / "artifact"
