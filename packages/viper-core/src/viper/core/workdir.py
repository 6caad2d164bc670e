"""A run's working directory: one folder per stage, cached by the stage's config.

Layout::

    WORKDIR/
      run.json                 resolved configuration of the last `viper-run` invocation
      latest.json              stage name -> folder of its newest finished run
      metrics.jsonl            every stage's scalars (with a "stage" field)
      tb/<stage>/              TensorBoard logs
      clips/                   clip tables: the training frames, written once, read from disk (cliptable)
      <stage>-<hash>/          one folder per (stage, config): artifact, checkpoints, stage.json

A stage folder is named by a hash of its config (including the folders of the stages it reads),
so a finished stage is skipped when re-run with the same config, a changed config trains into a
new folder without deleting the old one, and a killed stage resumes from its own checkpoints.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_write_json, read_json
from viper.core.config import config_hash
from viper.core.errors import WorkdirError
from viper.core.metrics import MetricsLogger

#: For messages: which command produces each stage's artifact.
STAGE_COMMANDS = {
    "data": "viper-run collect",
    "tokenizer": "viper-run fit-tokenizer",
    "video_model": "viper-run fit-model",
    "score": "viper-run score",
    "agent": "viper-run train",
}


@dataclasses.dataclass
class StageContext:
    """Handed to a component's ``fit``: where to write and how to report."""

    directory: Path
    """The stage's folder; checkpoints written here let a killed run resume."""
    metrics: MetricsLogger
    """Scalar logger (``metrics.jsonl`` and TensorBoard)."""
    seed: int = 0
    progress: bool = True
    """Whether to show progress bars."""
    image_masks: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    """Per-task ``bool[H,W]`` masks (False = hide) to apply before tokenizing."""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Extra stage options (e.g. jax.distributed settings)."""


class Stage:
    """One (stage name, config) pair inside a workdir."""

    def __init__(self, workdir: Workdir, name: str, config: dict[str, Any], component: str | None = None) -> None:
        self.workdir = workdir
        self.name = name
        self.config = config
        self.component = component
        self.hash = config_hash(name, component, config)
        self.directory = workdir.path / f"{name}-{self.hash}"
        self.info_path = self.directory / "stage.json"

    @property
    def info(self) -> dict[str, Any]:
        if not self.info_path.exists():
            return {}
        try:
            return read_json(self.info_path)
        except (OSError, ValueError):
            return {}

    @property
    def done(self) -> bool:
        return self.info.get("status") == "done"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        info = self.info
        atomic_write_json(
            self.info_path,
            {
                "stage": self.name,
                "component": self.component,
                "config": self.config,
                "hash": self.hash,
                "status": "running",
                "started": info.get("started", time.time()),
                "attempts": info.get("attempts", 0) + 1,
                "seconds": info.get("seconds", 0.0),
            },
        )
        self._t0 = time.time()

    def finish(self, metrics: dict[str, Any] | None = None) -> None:
        info = self.info
        info.update(
            status="done",
            finished=time.time(),
            seconds=info.get("seconds", 0.0) + (time.time() - getattr(self, "_t0", time.time())),
            metrics=metrics or {},
        )
        atomic_write_json(self.info_path, info)
        self.workdir.set_latest(self.name, self.directory.name)

    def reuse(self) -> None:
        """Skip this finished stage: it becomes its name's newest again, so the stages after it
        (and ``latest``) read it rather than whichever config of that stage ran last."""
        self.workdir.set_latest(self.name, self.directory.name)

    def context(self, *, seed: int = 0, progress: bool = True, **kwargs: Any) -> StageContext:
        return StageContext(
            directory=self.directory,
            metrics=self.workdir.metrics(self.name, run=self.directory.name),
            seed=seed,
            progress=progress,
            **kwargs,
        )


class Workdir:
    """Accessor for a run's working directory."""

    def __init__(self, path: str | os.PathLike, create: bool = True) -> None:
        self.path = Path(path).expanduser().resolve()
        if self.path.exists() and not self.path.is_dir():
            raise WorkdirError(f"--workdir {path}: exists and is not a directory")
        if create:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkdirError(f"--workdir {path}: cannot create it ({exc.strerror})") from exc
        elif not self.path.is_dir():
            raise WorkdirError(f"--workdir {path}: no such directory")

    def stage(self, name: str, config: dict[str, Any], component: str | None = None) -> Stage:
        return Stage(self, name, config, component)

    def metrics(self, stage: str, run: str = "") -> MetricsLogger:
        """A logger for ``stage``; ``run`` (the stage folder) tags each record and names the
        TensorBoard folder, so runs of one stage with different configs stay apart."""
        return MetricsLogger(
            self.path / "metrics.jsonl", stage=stage, tensorboard_dir=self.path / "tb" / (run or stage), run=run
        )

    # -- finished stages -------------------------------------------------------------------

    def _latest(self) -> dict[str, str]:
        path = self.path / "latest.json"
        if not path.exists():
            return {}
        try:
            return dict(read_json(path))
        except (OSError, ValueError) as exc:
            raise WorkdirError(f"{path}: unreadable ({exc}); delete it and re-run the stages") from exc

    def set_latest(self, stage: str, folder: str) -> None:
        latest = self._latest()
        latest[stage] = folder
        atomic_write_json(self.path / "latest.json", latest)

    def latest(self, stage: str) -> Path:
        """Folder of the newest finished ``stage``; a clear error says which command makes it."""
        folder = self._latest().get(stage)
        if folder is None or not (self.path / folder / "stage.json").exists():
            command = STAGE_COMMANDS.get(stage, "viper-run")
            raise WorkdirError(
                f"{self.path}: no finished {stage.replace('_', ' ')} stage; run `{command} --workdir {self.path}` first"
            )
        return self.path / folder

    def latest_info(self, stage: str) -> dict[str, Any]:
        return read_json(self.latest(stage) / "stage.json")

    def write_run_config(self, config: dict[str, Any]) -> None:
        atomic_write_json(self.path / "run.json", config)
