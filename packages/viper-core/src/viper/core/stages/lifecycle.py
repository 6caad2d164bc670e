"""The one path every stage takes: cached -> start -> metrics -> finish.

A stage's folder is named by a hash of its config dict (see :class:`~viper.core.workdir.Stage`);
a stage that reads another stage's output puts that stage's folder name in its config through
:func:`upstream_folders`, so retraining the tokenizer, say, gives every stage after it a new
folder instead of a stale cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from viper.core.errors import WorkdirError
from viper.core.workdir import Stage, StageContext, Workdir

#: The stages whose outputs a model-reading stage (score, agent) depends on.
UPSTREAM = ("data", "tokenizer", "video_model")


def banner(title: str) -> None:
    """The pipeline's ``== 1/6 ... ==`` line before a stage."""
    print(f"\n== {title} ==", flush=True)


def upstream_folders(wd: Workdir, stages: Sequence[str] = UPSTREAM) -> dict[str, str]:
    """Folder names of the finished ``stages`` (those not run yet are left out)."""
    out = {}
    for stage in stages:
        try:
            out[stage] = wd.latest(stage).name
        except WorkdirError:
            pass
    return out


def report_cached(label: str, directory: Path) -> None:
    """The ``LABEL: cached in FOLDER`` line of a stage that is skipped."""
    print(f"{label}: cached in {directory}")


def run_stage(
    stage: Stage,
    work: Callable[[StageContext], dict[str, Any] | None],
    *,
    seed: int = 0,
    progress: bool = True,
    **context: Any,
) -> dict[str, Any]:
    """Mark ``stage`` running, call ``work(ctx)`` with its context (metrics logger, folder),
    close the logger and record ``work``'s metrics as the finished stage's. A stage that raises
    stays "running", so the same command resumes it."""
    stage.start()
    ctx = stage.context(seed=seed, progress=progress, **context)
    try:
        metrics = work(ctx) or {}
    finally:
        ctx.metrics.close()
    stage.finish(metrics)
    return metrics
