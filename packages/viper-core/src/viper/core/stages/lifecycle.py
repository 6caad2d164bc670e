"""The one path every stage takes: cached -> start -> metrics -> finish.

A stage's folder is named by a hash of its config dict (see :class:`~viper.core.workdir.Stage`);
a stage that reads another stage's output puts that stage's folder name in its config through
:func:`upstream_folders`, so retraining the tokenizer, say, gives every stage after it a new
folder instead of a stale cache.
"""

from __future__ import annotations

import time
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


class _DiscardedMetrics:
    """The metrics logger of a process that is not the lead of a multi-process stage."""

    def log(self, step: int, metrics: Any) -> None:
        pass

    def close(self) -> None:
        pass


def run_stage(
    stage: Stage,
    work: Callable[[StageContext], dict[str, Any] | None],
    *,
    seed: int = 0,
    progress: bool = True,
    lead: bool = True,
    wait_s: float = 900.0,
    **context: Any,
) -> dict[str, Any]:
    """Mark ``stage`` running, call ``work(ctx)`` with its context (metrics logger, folder),
    close the logger and record ``work``'s metrics as the finished stage's. A stage that raises
    stays "running", so the same command resumes it.

    In a multi-process run (``jax.distributed``) every process calls this with the same stage;
    only the ``lead`` (process 0) writes the stage's files (``stage.json``, metrics, artifact),
    and every other process runs ``work`` (its share of each training step) with its metrics
    discarded, then waits up to ``wait_s`` seconds for the lead to finish the stage, so that the
    next stage finds the artifact. The workdir must be one folder every process sees."""
    if not lead:
        return _follow_stage(stage, work, seed, progress, wait_s, context)
    stage.start()
    ctx = stage.context(seed=seed, progress=progress, **context)
    try:
        metrics = work(ctx) or {}
    finally:
        ctx.metrics.close()
    stage.finish(metrics)
    return metrics


def _follow_stage(
    stage: Stage,
    work: Callable[[StageContext], dict[str, Any] | None],
    seed: int,
    progress: bool,
    wait_s: float,
    context: dict[str, Any],
) -> dict[str, Any]:
    """:func:`run_stage` on a process other than the lead."""
    stage.directory.mkdir(parents=True, exist_ok=True)
    ctx = StageContext(directory=stage.directory, metrics=_DiscardedMetrics(), seed=seed, progress=progress, **context)  # type: ignore[arg-type]
    metrics = work(ctx) or {}
    deadline = time.monotonic() + wait_s
    while not stage.done:
        if time.monotonic() > deadline:
            raise WorkdirError(
                f"{stage.directory}: process 0 did not finish the {stage.name} stage within {wait_s:.0f} s of "
                f"this process; a multi-process run needs a workdir every process sees (a shared filesystem)"
            )
        time.sleep(0.2)
    return metrics
