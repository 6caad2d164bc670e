"""Scalar logging to ``metrics.jsonl`` (one JSON object a line) and TensorBoard."""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class MetricsLogger:
    """Appends ``{"stage", "step", "time", **metrics}`` lines; mirrors scalars to TensorBoard.

    Lines are flushed as they are written, so a killed run keeps everything logged so far; a
    resumed run appends again from its checkpoint's step (readers keep the last line per step).
    """

    def __init__(
        self, path: str | Path, stage: str = "", tensorboard_dir: str | Path | None = None, run: str = ""
    ) -> None:
        self.path = Path(path)
        self.stage = stage
        self.run = run
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")
        self._tb_dir = Path(tensorboard_dir) if tensorboard_dir is not None else None
        self._tb: Any = None

    def log(self, step: int, metrics: Mapping[str, Any]) -> None:
        clean = {k: _scalar(v) for k, v in metrics.items()}
        record = {"stage": self.stage, "step": int(step), "time": round(time.time(), 3), **clean}
        if self.run:
            record["run"] = self.run
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        writer = self._writer()
        if writer is not None:
            for key, value in clean.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    writer.add_scalar(f"{self.stage}/{key}" if self.stage else key, value, step)

    def _writer(self) -> Any:
        if self._tb is None and self._tb_dir is not None:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:  # optional: jsonl still has everything
                warnings.warn("tensorboardX is not installed; TensorBoard logs are skipped", stacklevel=3)
                self._tb_dir = None
                return None
            self._tb = SummaryWriter(str(self._tb_dir), flush_secs=10)
        return self._tb

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _scalar(value: Any) -> Any:
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray) and value.size == 1:
            return value.item()
    except ImportError:  # pragma: no cover
        pass
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    return value


def read_metrics(path: str | Path, stage: str | None = None, run: str | None = None) -> list[dict[str, Any]]:
    """Records from a metrics file, keeping the last line per (stage, step, keys) after resumes.

    ``run`` (a stage folder's name) keeps only that stage run's records."""
    path = Path(path)
    if not path.exists():
        return []
    records: dict[tuple, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            if stage is not None and rec.get("stage") != stage:
                continue
            if run is not None and rec.get("run") != run:
                continue
            key = (rec.get("stage"), rec.get("step"), tuple(sorted(k for k in rec if k != "time")))
            records.pop(key, None)
            records[key] = rec
    return sorted(records.values(), key=lambda r: (str(r.get("stage")), r.get("step", 0)))
