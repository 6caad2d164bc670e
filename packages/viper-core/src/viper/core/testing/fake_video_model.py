"""``fake`` video model: per task and code position, a smoothed count table of which code
follows which (context of one frame), so ``log_prob`` and ``stream`` are exact and cheap.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from viper.core.atomic import atomic_save_npz, load_npz
from viper.core.checks import check_batch, check_codes, check_tasks
from viper.core.config import Options, option
from viper.core.errors import WorkdirError


@dataclasses.dataclass
class FakeVideoModelConfig(Options):
    """Options of the ``fake`` video model (``--set video_model.FIELD=VALUE``)."""

    SECTION: ClassVar[str] = "video_model"

    smoothing: float = option(1.0, gt=0)
    """Pseudo-count added to every entry of the count tables."""


class FakeVideoModel:
    """See the module docstring (:class:`~viper.core.protocols.VideoModel`)."""

    Config = FakeVideoModelConfig
    context = 1

    def __init__(self, config: FakeVideoModelConfig | None = None) -> None:
        self.config = config or FakeVideoModelConfig()
        self._set_tables(np.zeros((1, 8)), np.zeros((1, 8, 8)), (4, 4), ("task",))

    def _set_tables(self, first: np.ndarray, next_: np.ndarray, grid: tuple[int, int], tasks: tuple[str, ...]) -> None:
        """Log-probabilities from counts: ``first[task, code]``, ``next_[task, previous, code]``."""
        first = np.asarray(first, np.float64) + self.config.smoothing
        next_ = np.asarray(next_, np.float64) + self.config.smoothing
        self.counts = (first - self.config.smoothing, next_ - self.config.smoothing)
        self.log_first = np.log(first / first.sum(-1, keepdims=True))
        self.log_next = np.log(next_ / next_.sum(-1, keepdims=True))
        self.vocab_size = int(first.shape[-1])
        self.code_grid = (int(grid[0]), int(grid[1]))
        self.tasks = tuple(tasks)
        self.num_tasks = len(self.tasks)

    def frame_log_prob(self, codes: np.ndarray, previous: np.ndarray | None, tasks: np.ndarray) -> np.ndarray:
        """``codes int[B,h,w]`` after ``previous`` (None: an episode's first frame) -> ``float32[B]``."""
        t = tasks[:, None, None]
        table = self.log_first[t, codes] if previous is None else self.log_next[t, previous, codes]
        return table.sum((1, 2)).astype(np.float32)

    def log_prob(self, codes: np.ndarray, task: np.ndarray | int | None = None) -> np.ndarray:
        codes = check_codes(codes, "codes", ndim=4, vocab_size=self.vocab_size, grid=self.code_grid)
        tasks = check_tasks(task, len(codes), self.num_tasks)
        steps = [self.frame_log_prob(codes[:, t], codes[:, t - 1] if t else None, tasks) for t in range(codes.shape[1])]
        return np.stack(steps, 1) if steps else np.zeros(codes.shape[:2], np.float32)

    def stream(self, num_envs: int, task: np.ndarray | int | None = None) -> FakeLikelihoodStream:
        return FakeLikelihoodStream(self, num_envs, check_tasks(task, num_envs, self.num_tasks))

    def fit(self, train: Any, val: Any, ctx: Any) -> dict[str, float]:
        vocab = int(ctx.options.get("vocab_size", self.vocab_size))
        tasks = tuple(ctx.options.get("tasks") or train.tasks or ("task",))
        first, next_ = np.zeros((len(tasks), vocab)), np.zeros((len(tasks), vocab, vocab))
        for codes, task in zip(train.arrays, train.task_ids):
            np.add.at(first[task], codes[0].reshape(-1), 1)
            np.add.at(next_[task], (codes[:-1].reshape(-1), codes[1:].reshape(-1)), 1)
        grid = tuple(ctx.options.get("code_grid") or train.arrays[0].shape[1:3])
        self._set_tables(first, next_, grid, tasks)
        held_out = list(val.arrays) or list(train.arrays)
        nats = [
            self.log_prob(c[None], int(t)).mean()
            for c, t in zip(held_out, val.task_ids if val.arrays else train.task_ids)
        ]
        return {"val_nll": float(-np.mean(nats))}

    def save(self, directory: Path) -> None:
        first, next_ = self.counts
        atomic_save_npz(Path(directory) / "counts.npz", {"first": first, "next": next_})
        meta = {"config": dataclasses.asdict(self.config), "code_grid": self.code_grid, "tasks": self.tasks}
        (Path(directory) / "fake-video-model.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: Path) -> FakeVideoModel:
        try:
            meta = json.loads((Path(directory) / "fake-video-model.json").read_text())
            counts = load_npz(Path(directory) / "counts.npz")
        except (OSError, ValueError, KeyError) as exc:
            raise WorkdirError(f"{directory}: cannot read the fake video model ({exc})") from exc
        model = cls(FakeVideoModelConfig(**meta["config"]))
        model._set_tables(counts["first"], counts["next"], tuple(meta["code_grid"]), tuple(meta["tasks"]))
        return model


class FakeLikelihoodStream:
    """The incremental form of :meth:`FakeVideoModel.log_prob`: remembers each env's last codes."""

    def __init__(self, model: FakeVideoModel, num_envs: int, tasks: np.ndarray) -> None:
        self.model, self.num_envs, self.tasks = model, num_envs, tasks
        self.last: np.ndarray | None = None

    def step(self, codes: np.ndarray, is_first: np.ndarray) -> np.ndarray:
        m = self.model
        codes = check_codes(codes, "codes", ndim=3, vocab_size=m.vocab_size, grid=m.code_grid)
        check_batch(len(codes), self.num_envs, "codes")
        is_first = np.asarray(is_first, bool).reshape(self.num_envs)
        fresh = m.frame_log_prob(codes, None, self.tasks)
        if self.last is None:
            out = fresh
        else:
            out = np.where(is_first, fresh, m.frame_log_prob(codes, self.last, self.tasks)).astype(np.float32)
        self.last = codes.copy()
        return out
