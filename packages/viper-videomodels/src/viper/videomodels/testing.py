"""Shipped test utilities (for plugin authors and our own tests): code episodes with learnable
dynamics and a fake tokenizer, for training and checking video models.

The package's tests must run with only viper-core and this package installed, so the tokenizer
here is a fixed, exact quantizer of 8x8-pixel blocks (no training), registered on a private
plugin host.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import numpy as np

from viper.core import ComponentSpec, PluginHost, hookimpl
from viper.core.checks import check_codes, check_frames
from viper.core.dataset import DatasetWriter, EpisodeStore
from viper.core.protocols import frame_scores
from viper.core.workdir import StageContext, Workdir

VOCAB = 16
GRID = (4, 4)
DIRECTIONS = [(0, 1), (1, 0), (1, 1), (0, -1)]


def moving_dot(
    episodes: int, length: int, *, tasks: int = 1, grid: tuple[int, int] = GRID, seed: int = 0
) -> list[tuple[np.ndarray, int]]:
    """Code episodes ``int32[T,h,w]``: a fixed background pattern and a dot (code ``VOCAB-1``)
    moving one cell per frame in its task's direction (wrapping), from a random start."""
    rng = np.random.default_rng(seed)
    h, w = grid
    background = (np.add.outer(np.arange(h), np.arange(w)) % 3).astype(np.int32)
    out = []
    for e in range(episodes):
        task = e % tasks
        y, x = rng.integers(0, h), rng.integers(0, w)
        dy, dx = DIRECTIONS[task]
        frames = np.repeat(background[None], length, axis=0)
        for t in range(length):
            frames[t, (y + dy * t) % h, (x + dx * t) % w] = VOCAB - 1
        out.append((frames, task))
    return out


def store(episodes: list[tuple[np.ndarray, int]], tasks: int = 1) -> EpisodeStore:
    return EpisodeStore(
        [codes for codes, _ in episodes],
        np.asarray([task for _, task in episodes], np.int32),
        tuple(f"task{i}" for i in range(tasks)),
    )


def stage_context(directory: Path, model: str, tasks: int = 1, seed: int = 0) -> StageContext:
    """The context of a started ``video_model`` stage of ``model`` in the workdir
    ``directory/wd``, over code episodes of :data:`VOCAB` and :data:`GRID` and ``tasks`` tasks
    named ``task0``, ... (as :func:`store` names them): what ``fit`` needs outside ``viper-run``."""
    stage = Workdir(Path(directory) / "wd").stage("video_model", {"test": 1}, model)
    stage.start()
    options = {"vocab_size": VOCAB, "code_grid": GRID, "tasks": tuple(f"task{i}" for i in range(tasks))}
    return stage.context(seed=seed, progress=False, options=options)


def stream_scores(model: Any, codes: np.ndarray, tasks: np.ndarray, is_first: np.ndarray) -> np.ndarray:
    """``float32[E, T]``: ``model.stream``'s number for each env's frame, one step per frame."""
    stream = model.stream(codes.shape[0], tasks)
    return np.stack([stream.step(codes[:, t], is_first[:, t]) for t in range(codes.shape[1])], axis=1)


def scores_since_resets(model: Any, codes: np.ndarray, tasks: np.ndarray, is_first: np.ndarray) -> np.ndarray:
    """``float32[E, T]``: what :func:`stream_scores` must equal, the model's numbers of each env's
    frames since its latest reset (in one call: every episode piece is a row, padded at its end,
    which nothing before the padding can see)."""
    pieces = []
    for e in range(codes.shape[0]):
        starts = [0] + [t for t in range(1, codes.shape[1]) if is_first[e, t]] + [codes.shape[1]]
        pieces += [(e, a, b) for a, b in zip(starts, starts[1:])]
    rows = np.zeros((len(pieces), *codes.shape[1:]), np.int32)
    for i, (e, a, b) in enumerate(pieces):
        rows[i, : b - a] = codes[e, a:b]
    scores = frame_scores(model, rows, np.asarray([tasks[e] for e, _, _ in pieces]))
    out = np.zeros(codes.shape[:2], np.float32)
    for i, (e, a, b) in enumerate(pieces):
        out[e, a:b] = scores[i, : b - a]
    return out


# -- a fake tokenizer: 8x8-pixel blocks of grey levels <-> codes ------------------------------------

BLOCK = 8


class BlockTokenizer:
    """Exact tokenizer for frames made of flat 8x8 blocks with ``VOCAB`` grey levels."""

    vocab_size = VOCAB

    def __init__(self, config: object = None, size: int = GRID[0] * BLOCK) -> None:
        self.image_size = (size, size)
        self.code_grid = (size // BLOCK, size // BLOCK)

    def encode(self, frames: np.ndarray) -> np.ndarray:
        frames = check_frames(frames, "frames", size=self.image_size)
        n, h, w = len(frames), *self.code_grid
        blocks = frames[..., 0].reshape(n, h, BLOCK, w, BLOCK).mean(axis=(2, 4))
        return np.clip(np.round(blocks / 17.0), 0, VOCAB - 1).astype(np.int32)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = check_codes(codes, "codes", vocab_size=VOCAB, grid=self.code_grid)
        grey = (codes * 17).astype(np.uint8)
        return np.repeat(np.repeat(grey, BLOCK, axis=1), BLOCK, axis=2)[..., None].repeat(3, axis=-1)

    def fit(self, train: EpisodeStore, val: EpisodeStore, ctx: object) -> dict[str, float]:
        return {}

    def save(self, directory: Path) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / "block.json").write_text(json.dumps({"size": self.image_size[0]}))

    @classmethod
    def load(cls, directory: Path) -> BlockTokenizer:
        return cls(size=json.loads((Path(directory) / "block.json").read_text())["size"])


def write_dataset(root: Path, episodes: list[tuple[np.ndarray, int]], tasks: int = 1) -> Path:
    """A dataset folder whose frames the :class:`BlockTokenizer` encodes back to ``episodes``."""
    writer = DatasetWriter(root)
    tokenizer = BlockTokenizer()
    for i, (codes, task) in enumerate(episodes):
        writer.add(f"task{task}", tokenizer.decode(codes), split="val" if i % 5 == 4 else "train")
    return root


def synthetic_host() -> PluginHost:
    """A plugin host with this package's plugin and the block tokenizer (named ``block``)."""
    import viper.videomodels.plugin as plugin

    host = PluginHost(entry_points=False)
    host.register(plugin, name="videomodels", distribution="viper-videomodels", version="test")
    fake = types.SimpleNamespace(
        viper_register_tokenizers=hookimpl(
            lambda: [ComponentSpec("block", f"{__name__}:BlockTokenizer", "8x8 grey blocks")]
        )
    )
    host.register(fake, name="block-tokenizer", distribution="tests", version="0")
    return host
