"""``count-transitions``: the factory viper-run calls (:class:`viper.core.protocols.VideoModel`)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from viper.core import ConfigError, ContractError, DatasetError, ViperError, WorkdirError
from viper.core.atomic import atomic_save_npz, atomic_write_json, load_npz, read_header
from viper.core.checks import check_codes, check_tasks
from viper.core.config import build_config
from viper_countmodel.config import PRESETS, Config
from viper_countmodel.counts import TransitionTables
from viper_countmodel.stream import TransitionStream

FORMAT, VERSION = "viper-count-transitions", 1
HEADER, COUNTS = "count-transitions.json", "counts.npz"
HINT = "; fit one with `viper-run fit-model --model count-transitions`"


class CountTransitions:
    """A first-order model of each code position's changes, per task: ``log p(frame t | frame
    t-1, task)`` is the sum over the ``h*w`` positions of the smoothed probability that the code at
    that position follows the code it had in frame ``t-1`` (:mod:`viper_countmodel.counts`);
    frame 0 is scored by each position's first-frame counts. ``context`` is 1 frame.

    Build untrained with ``CountTransitions(config)`` and :meth:`fit`, or :meth:`load` a saved one.
    Codes outside ``[0, vocab_size)``, another code grid or an unknown task id raise
    :class:`~viper.core.errors.ContractError` naming the argument.
    """

    Config = Config
    PRESETS = PRESETS
    context = 1

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else Config()
        self.vocab_size: int | None = None
        self.code_grid: tuple[int, int] | None = None
        self.tasks: tuple[str, ...] = ()
        self.tables: TransitionTables | None = None

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    def _set_shape(self, vocab_size: Any, code_grid: Any, tasks: Any) -> None:
        if int(vocab_size) < 2:
            raise ConfigError(f"vocab_size {vocab_size}: expected at least 2 codes")
        grid = tuple(int(g) for g in code_grid)
        if len(grid) != 2 or min(grid) < 1:
            raise ConfigError(f"code_grid {code_grid}: expected (h, w) with positive sizes")
        self.vocab_size, self.code_grid, self.tasks = int(vocab_size), (grid[0], grid[1]), tuple(tasks) or ("task0",)

    def _require_counts(self) -> TransitionTables:
        if self.tables is None:
            raise ContractError(
                "count-transitions: the model has no counts yet; fit it with fit() or load one with "
                "CountTransitions.load(dir)"
            )
        return self.tables

    # -- scoring -------------------------------------------------------------------------------

    def check_codes(self, codes: Any, name: str, ndim: int) -> np.ndarray:
        return check_codes(codes, name, ndim=ndim, vocab_size=self.vocab_size, grid=self.code_grid)

    def log_prob(self, codes: np.ndarray, task: np.ndarray | int | None = None) -> np.ndarray:
        """``codes int32[B,T,h,w] -> float32[B,T]`` nats: entry ``[b, t]`` is ``log p(frame t |
        frame t-1, task)`` (frame 0: ``log p(frame 0 | task)``) summed over the frame's codes."""
        tables = self._require_counts()
        codes = self.check_codes(codes, "codes", 4)
        batch, frames = codes.shape[:2]
        tasks = check_tasks(task, batch, self.num_tasks)
        out = np.zeros((batch, frames), np.float32)
        if batch == 0 or frames == 0:
            return out
        flat = codes.reshape(batch, frames, -1)
        out[:, 0] = tables.log_prob(flat[:, 0], None, tasks, self.config)
        if frames > 1:
            rest = tables.log_prob(
                flat[:, 1:].reshape(-1, flat.shape[-1]),
                flat[:, :-1].reshape(-1, flat.shape[-1]),
                np.repeat(tasks, frames - 1),
                self.config,
            )
            out[:, 1:] = rest.reshape(batch, frames - 1)
        return out

    def stream(self, num_envs: int, task: np.ndarray | int | None = None) -> TransitionStream:
        """The incremental form: keeps each env's last frame, so its outputs equal :meth:`log_prob`'s."""
        self._require_counts()
        if int(num_envs) < 1:
            raise ContractError(f"num_envs: expected a positive number of envs, got {num_envs}")
        return TransitionStream(self, int(num_envs), check_tasks(task, int(num_envs), self.num_tasks))

    # -- training ------------------------------------------------------------------------------

    def fit(self, train: Any, val: Any, ctx: Any) -> dict[str, float]:
        """Count the episodes of ``train`` (codes ``int32[T,h,w]`` each; one pass, so a killed fit
        just starts again). ``ctx.options`` must hold ``vocab_size`` and ``code_grid`` (from the
        tokenizer) and may hold ``tasks``. Returns bits per code on ``train`` and ``val``."""
        options = dict(ctx.options)
        missing = [k for k in ("vocab_size", "code_grid") if k not in options]
        if missing:
            raise ConfigError(
                f"count-transitions fit: the stage options lack {', '.join(missing)} (from the tokenizer)"
            )
        self._set_shape(options["vocab_size"], options["code_grid"], options.get("tasks") or train.tasks or ())
        if not train.arrays:
            raise DatasetError("count-transitions fit: the training set holds no episode")
        positions = self.code_grid[0] * self.code_grid[1]
        episodes = list(self._episodes(train, "train"))
        self.tables = TransitionTables.count(
            ((codes.reshape(len(codes), positions), task) for codes, task in episodes),
            self.num_tasks,
            positions,
            self.vocab_size,
        )
        metrics = {"train_bits_per_code": self._bits_per_code(episodes)}
        if val.arrays:
            metrics["val_bits_per_code"] = self._bits_per_code(list(self._episodes(val, "val")))
        ctx.metrics.log(1, metrics)
        return metrics

    def _episodes(self, store: Any, name: str) -> Any:
        tasks = check_tasks(np.asarray(store.task_ids), len(store.arrays), self.num_tasks, f"{name}.task_ids")
        for i, (codes, task) in enumerate(zip(store.arrays, tasks)):
            yield self.check_codes(np.asarray(codes), f"{name} episode {i}", 3), int(task)

    def _bits_per_code(self, episodes: list[tuple[np.ndarray, int]]) -> float:
        nats = sum(float(self.log_prob(codes[None], task).sum()) for codes, task in episodes)
        codes = sum(codes.size for codes, _ in episodes)
        return -nats / max(codes, 1) / math.log(2)

    # -- persistence ---------------------------------------------------------------------------

    def save(self, directory: str | Path) -> None:
        """``counts.npz`` (the count tables, no pickle) and ``count-transitions.json`` (format,
        version, options, vocabulary, grid, tasks), each written atomically, the header last."""
        tables = self._require_counts()
        directory = Path(directory)
        atomic_save_npz(directory / COUNTS, tables.arrays())
        header = {
            "format": FORMAT,
            "version": VERSION,
            "config": dataclasses.asdict(self.config),
            "vocab_size": self.vocab_size,
            "code_grid": list(self.code_grid or ()),
            "tasks": list(self.tasks),
        }
        atomic_write_json(directory / HEADER, header)

    @classmethod
    def load(cls, directory: str | Path) -> CountTransitions:
        """A fitted model from a folder written by :meth:`save`; a folder of another model, or
        counts that do not fit the header, raise :class:`~viper.core.errors.WorkdirError`."""
        directory = Path(directory)
        header_path = directory / HEADER
        info = read_header(
            header_path, FORMAT, VERSION, what="a count-transitions video model", kind="model header", hint=HINT
        )
        try:
            model = cls(build_config(Config, info.get("config", {}), where=str(header_path)))
            model._set_shape(info["vocab_size"], info["code_grid"], info["tasks"])
        except (ViperError, KeyError, TypeError, ValueError) as exc:
            raise WorkdirError(f"{header_path}: invalid model description ({exc})") from exc
        counts_path = directory / COUNTS
        try:
            arrays = load_npz(counts_path)
            positions = model.code_grid[0] * model.code_grid[1]
            model.tables = TransitionTables.from_arrays(arrays, model.num_tasks, positions, model.vocab_size)
        except (OSError, ValueError) as exc:
            raise WorkdirError(f"{counts_path}: unreadable or inconsistent counts ({exc}){HINT}") from exc
        return model
