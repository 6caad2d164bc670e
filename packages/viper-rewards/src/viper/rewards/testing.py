"""Shipped test utilities (for plugin authors and our own tests): a hand-built numpy tokenizer
and video model whose likelihoods are known in closed form, registered as ``fake-tok`` and
``fake-video`` by this module's hooks.

Tokenizer: 4x4-pixel blocks -> one code each, ``code = (red > 127) + 2 * (green > 127)``
(vocabulary 4).

Video model: the codes at each grid position follow their own history. With no context every
code has probability 1/4. Otherwise the model predicts ``last + (last - second_last) + task``
(mod 4; the difference term only once two frames of context exist) with probability 0.7 and
each other code with 0.1. A frame's log-likelihood sums over its positions. ``poison`` makes
frames whose top-left code equals it score NaN. Like ``ar-transformer``, a model made with
``frame_skip=m`` applies it itself: frame ``t`` is conditioned on frames ``t-m, t-2m, ...``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from viper.core import ComponentSpec, hookimpl
from viper.core.atomic import atomic_directory
from viper.core.workdir import Workdir

V = 4
LOG_UNIFORM, LOG_HIT, LOG_MISS = np.log(0.25), np.log(0.7), np.log(0.1)


def frames_from_codes(codes: np.ndarray, block: int = 4) -> np.ndarray:
    """``int[..., h, w]`` codes -> ``uint8[..., h*block, w*block, 3]`` frames the tokenizer maps back."""
    codes = np.asarray(codes)
    red = np.where(codes % 2 == 1, 255, 0)
    green = np.where(codes // 2 == 1, 255, 0)
    rgb = np.stack([red, green, np.full_like(red, 60)], -1).astype(np.uint8)
    return rgb.repeat(block, axis=-3).repeat(block, axis=-2)


class FakeTokenizer:
    vocab_size = V

    def __init__(self, image_size: tuple[int, int] = (8, 8), block: int = 4) -> None:
        self.image_size = tuple(image_size)
        self.block = block
        self.code_grid = (image_size[0] // block, image_size[1] // block)
        self.calls = 0

    def encode(self, frames: np.ndarray) -> np.ndarray:
        self.calls += 1
        n, h, w, _ = frames.shape
        b = self.block
        blocks = frames.reshape(n, h // b, b, w // b, b, 3).astype(np.float32).mean(axis=(2, 4))
        return ((blocks[..., 0] > 127).astype(np.int32) + 2 * (blocks[..., 1] > 127)).astype(np.int32)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return frames_from_codes(codes, self.block)

    def save(self, directory: Path) -> None:
        (Path(directory) / "fake.json").write_text(json.dumps({"image_size": self.image_size, "block": self.block}))

    @classmethod
    def load(cls, directory: Path) -> FakeTokenizer:
        meta = json.loads((Path(directory) / "fake.json").read_text())
        return cls(tuple(meta["image_size"]), meta["block"])


def log_q(code: np.ndarray, history: list[np.ndarray], task: int) -> np.ndarray:
    """Log-probability per position of ``code int[h,w]`` after ``history`` (oldest first)."""
    if not history:
        return np.full(code.shape, LOG_UNIFORM)
    prediction = history[-1] + task
    if len(history) >= 2:
        prediction = prediction + (history[-1] - history[-2])
    return np.where(code == prediction % V, LOG_HIT, LOG_MISS)


class FakeVideoModel:
    vocab_size = V

    def __init__(
        self,
        context: int = 2,
        code_grid: tuple[int, int] = (2, 2),
        tasks: tuple[str, ...] | None = ("a",),
        num_tasks: int | None = None,
        frame_skip: int | None = None,
        poison: int | None = None,
    ) -> None:
        self.context = context
        self.code_grid = tuple(code_grid)
        if tasks is not None:
            self.tasks = tuple(tasks)
        self.num_tasks = num_tasks if num_tasks is not None else len(tasks or ("x",))
        if frame_skip is not None:
            self.frame_skip = frame_skip
        self.poison = poison
        self.log_prob_calls = 0
        self.streams: list[FakeStream] = []

    def frame_log_prob(self, code: np.ndarray, history: list[np.ndarray], task: int) -> float:
        if self.poison is not None and code[0, 0] == self.poison:
            return float("nan")
        return float(log_q(code, history, task).sum())

    @property
    def skip(self) -> int:
        return getattr(self, "frame_skip", 1)

    def chain(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """The context of the frame after ``frames`` (oldest first): every ``skip``-th one back."""
        back = frames[len(frames) - self.skip :: -self.skip] if len(frames) >= self.skip else []
        return list(back[: self.context])[::-1]

    def log_prob(self, codes: np.ndarray, task: np.ndarray | int | None = None) -> np.ndarray:
        self.log_prob_calls += 1
        b, t = codes.shape[:2]
        tasks = np.zeros(b, int) if task is None else np.broadcast_to(np.asarray(task), (b,))
        out = np.zeros((b, t), np.float32)
        for i in range(b):
            for j in range(t):
                out[i, j] = self.frame_log_prob(codes[i, j], self.chain(list(codes[i, :j])), int(tasks[i]))
        return out

    def stream(self, num_envs: int, task: np.ndarray | int | None = None) -> FakeStream:
        stream = FakeStream(self, num_envs, task)
        self.streams.append(stream)
        return stream

    def save(self, directory: Path) -> None:
        meta = {
            "context": self.context,
            "code_grid": self.code_grid,
            "tasks": getattr(self, "tasks", None),
            "num_tasks": self.num_tasks,
            "frame_skip": getattr(self, "frame_skip", None),
            "poison": self.poison,
        }
        (Path(directory) / "fake.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: Path) -> FakeVideoModel:
        meta = json.loads((Path(directory) / "fake.json").read_text())
        tasks = tuple(meta["tasks"]) if meta["tasks"] is not None else None
        return cls(
            meta["context"], tuple(meta["code_grid"]), tasks, meta["num_tasks"], meta["frame_skip"], meta["poison"]
        )


class FakeStream:
    def __init__(self, model: FakeVideoModel, num_envs: int, task: np.ndarray | int | None) -> None:
        self.model, self.num_envs = model, num_envs
        self.tasks = np.zeros(num_envs, int) if task is None else np.broadcast_to(np.asarray(task), (num_envs,))
        self.history: list[list[np.ndarray]] = [[] for _ in range(num_envs)]
        self.firsts: list[np.ndarray] = []

    def step(self, codes: np.ndarray, is_first: np.ndarray) -> np.ndarray:
        assert codes.shape[0] == self.num_envs
        self.firsts.append(np.asarray(is_first).copy())
        out = np.zeros(self.num_envs, np.float32)
        for i in range(self.num_envs):
            if is_first[i]:
                self.history[i] = []
            out[i] = self.model.frame_log_prob(codes[i], self.model.chain(self.history[i]), int(self.tasks[i]))
            self.history[i] = (self.history[i] + [codes[i]])[-self.model.context * self.model.skip :]
        return out


def save_stage(wd: Workdir, stage: str, component: str, obj: object, config: dict | None = None) -> Path:
    """Write ``obj`` as the finished ``stage`` of ``wd``, as fit-tokenizer / fit-model would."""
    s = wd.stage(stage, config or {"test": component}, component=component)
    s.start()
    with atomic_directory(s.directory / "artifact") as tmp:
        obj.save(tmp)
    s.finish({})
    return s.directory


@hookimpl
def viper_register_tokenizers() -> list[ComponentSpec]:
    return [ComponentSpec("fake-tok", "viper.rewards.testing:FakeTokenizer", "test tokenizer")]


@hookimpl
def viper_register_video_models() -> list[ComponentSpec]:
    return [ComponentSpec("fake-video", "viper.rewards.testing:FakeVideoModel", "test video model")]
