"""The video dataset format (DESIGN.md) and in-memory episode stores for training.

On disk::

    DATASET/
      dataset.json              manifest: format, version, image size, tasks, one entry per episode
      <task>/<episode>.npz      frames uint8[T,H,W,3]; optional task_reward float32[T], actions [T,...]

Episodes are written one at a time, each file and then the manifest atomically, so an interrupted
collection keeps every finished episode and can be resumed. Arrays are loaded with
``allow_pickle=False``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import time
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_save_npz, atomic_write_json, read_json
from viper.core.errors import DatasetError

MANIFEST = "dataset.json"
FORMAT = "viper-video-dataset"
VERSION = 1
_TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class EpisodeInfo:
    """A manifest entry."""

    task: str
    file: str  # relative to the dataset root
    length: int
    key: str = ""  # the source's identity, so importers can skip what they already wrote
    split: str = ""  # "train", "val" or "" (decided by hash)
    episode_return: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"task": self.task, "file": self.file, "length": self.length}
        if self.key:
            out["key"] = self.key
        if self.split:
            out["split"] = self.split
        if self.episode_return is not None:
            out["return"] = self.episode_return
        return out


def check_task_name(task: str, option: str = "task name") -> str:
    if not isinstance(task, str) or not _TASK_NAME.match(task):
        raise DatasetError(f"{option} {task!r}: expected letters, digits, '_', '-' or '.' (it names a folder)")
    return task


def _validate_frames(frames: Any, where: str, image_size: tuple[int, int] | None) -> np.ndarray:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        got = f"{frames.dtype}{list(frames.shape)}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise DatasetError(f"{where}: 'frames' must be uint8[T,H,W,3], got {got}")
    if frames.shape[0] < 1:
        raise DatasetError(f"{where}: 'frames' holds no frame (T=0)")
    if image_size is not None and tuple(frames.shape[1:3]) != tuple(image_size):
        raise DatasetError(
            f"{where}: frames are {frames.shape[1]}x{frames.shape[2]} but the dataset is "
            f"{image_size[0]}x{image_size[1]}; datasets hold one resolution"
        )
    return frames


def _validate_optional(arrays: dict[str, np.ndarray], length: int, where: str) -> None:
    if "task_reward" in arrays:
        r = arrays["task_reward"]
        if r.shape != (length,) or not np.issubdtype(r.dtype, np.floating):
            raise DatasetError(
                f"{where}: 'task_reward' must be float[{length}] (one per frame), got {r.dtype}{list(r.shape)}"
            )
    if "actions" in arrays:
        a = arrays["actions"]
        if a.ndim < 1 or a.shape[0] != length:
            raise DatasetError(f"{where}: 'actions' must have {length} rows (one per frame), got shape {list(a.shape)}")


def key_variant(key: str) -> str:
    """The collection an episode key belongs to: ``"lite:reach[body=square]/seed-3"`` ->
    ``"lite:reach[body=square]/"``; keys of the task's plain collection (``"seed-3"``) -> ``""``."""
    end = key.find("]/")
    return key[: end + 2] if end >= 0 else ""


class DatasetWriter:
    """Adds episodes to a dataset folder.

    A folder that already holds data is refused unless ``resume=True`` (which appends, keeping
    every existing episode); nothing is ever deleted or overwritten.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        resume: bool = False,
        source: dict[str, Any] | None = None,
        option: str = "--out",
    ) -> None:
        self.root = Path(root)
        self.option = option
        manifest_path = self.root / MANIFEST
        if self.root.exists() and not self.root.is_dir():
            raise DatasetError(f"{option} {root}: exists and is not a directory")
        if manifest_path.exists():
            if not resume:
                count = len(VideoDataset(self.root).episodes)
                raise DatasetError(
                    f"{option} {root}: already holds a dataset ({count} episodes); choose a new folder "
                    f"or pass --resume to add to it"
                )
            self.manifest = VideoDataset(self.root).manifest
        else:
            if self.root.exists() and any(p for p in self.root.iterdir() if not p.name.startswith(".")):
                raise DatasetError(
                    f"{option} {root}: folder is not empty and holds no {MANIFEST}; choose an empty or new folder"
                )
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatasetError(f"{option} {root}: cannot create it ({exc.strerror})") from exc
            if not os.access(self.root, os.W_OK):
                raise DatasetError(f"{option} {root}: not writable")
            self.manifest = {
                "format": FORMAT,
                "version": VERSION,
                "image_size": None,
                "tasks": [],
                "episodes": [],
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "source": source or {},
            }
            self._write_manifest()
        self._keys = {(e["task"], e.get("key")) for e in self.manifest["episodes"] if e.get("key")}

    @property
    def image_size(self) -> tuple[int, int] | None:
        size = self.manifest.get("image_size")
        return tuple(size) if size else None

    def __len__(self) -> int:
        return len(self.manifest["episodes"])

    def count(self, task: str | None = None, *, variant: str | None = None) -> int:
        """Episodes of ``task`` (all tasks: None); with ``variant``, only that collection's (its
        key prefix, e.g. ``lite:reach[body=square]/``; ``""``: the plain ones)."""
        return sum(
            1
            for e in self.manifest["episodes"]
            if (task is None or e["task"] == task) and (variant is None or key_variant(e.get("key", "")) == variant)
        )

    def has(self, task: str, key: str) -> bool:
        """Whether an episode with this source key was already written (for resumable imports)."""
        return (task, key) in self._keys

    def add(
        self,
        task: str,
        frames: np.ndarray,
        *,
        task_reward: np.ndarray | None = None,
        actions: np.ndarray | None = None,
        key: str = "",
        split: str = "",
    ) -> EpisodeInfo:
        """Write one episode; returns its manifest entry."""
        check_task_name(task)
        if split not in ("", "train", "val"):
            raise DatasetError(f"split {split!r}: expected 'train', 'val' or ''")
        where = f"episode {len(self)} of task {task!r}"
        frames = _validate_frames(frames, where, self.image_size)
        arrays: dict[str, np.ndarray] = {"frames": frames}
        if task_reward is not None:
            arrays["task_reward"] = np.asarray(task_reward, np.float32)
        if actions is not None:
            arrays["actions"] = np.asarray(actions)
        _validate_optional(arrays, len(frames), where)
        index = self.count(task)
        name = f"{index:06d}.npz"
        while (self.root / task / name).exists():  # never overwrite a file the manifest lost
            index += 1
            name = f"{index:06d}.npz"
        atomic_save_npz(self.root / task / name, arrays)
        info = EpisodeInfo(
            task=task,
            file=f"{task}/{name}",
            length=int(len(frames)),
            key=key,
            split=split,
            episode_return=float(arrays["task_reward"].sum()) if "task_reward" in arrays else None,
        )
        self.manifest["episodes"].append(info.to_json())
        if task not in self.manifest["tasks"]:
            self.manifest["tasks"].append(task)
        if self.manifest["image_size"] is None:
            self.manifest["image_size"] = [int(frames.shape[1]), int(frames.shape[2])]
        if key:
            self._keys.add((task, key))
        self._write_manifest()
        return info

    def _write_manifest(self) -> None:
        atomic_write_json(self.root / MANIFEST, self.manifest)


class VideoDataset:
    """Reads and validates a dataset folder.

    Opening checks the manifest and that every listed file exists; :meth:`load` checks each
    episode's arrays; :meth:`validate` loads them all.
    """

    def __init__(self, root: str | os.PathLike, *, option: str = "--data") -> None:
        self.root = Path(root)
        self.option = option
        path = self.root / MANIFEST
        if not self.root.is_dir():
            raise DatasetError(f"{option} {root}: no such dataset folder")
        if not path.exists():
            raise DatasetError(
                f"{option} {root}: no {MANIFEST}; expected a viper dataset (make one with `viper-run collect` "
                f"or `viper-run import-videos`)"
            )
        try:
            manifest = read_json(path)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: unreadable manifest ({exc})") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise DatasetError(f'{path}: not a viper dataset manifest (expected "format": "{FORMAT}")')
        if manifest.get("version") != VERSION:
            raise DatasetError(
                f"{path}: dataset version {manifest.get('version')!r}, this viper reads version {VERSION}"
            )
        self.manifest = manifest
        self.episodes: list[EpisodeInfo] = []
        for i, entry in enumerate(manifest.get("episodes", [])):
            try:
                info = EpisodeInfo(
                    task=check_task_name(entry["task"]),
                    file=str(entry["file"]),
                    length=int(entry["length"]),
                    key=str(entry.get("key", "")),
                    split=str(entry.get("split", "")),
                    episode_return=entry.get("return"),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise DatasetError(f"{path}: episode entry {i} is malformed ({exc})") from exc
            if not (self.root / info.file).is_file():
                raise DatasetError(f"{self.root / info.file}: listed in {MANIFEST} but missing")
            self.episodes.append(info)
        size = manifest.get("image_size")
        self.image_size: tuple[int, int] | None = tuple(size) if size else None  # type: ignore[assignment]

    @property
    def tasks(self) -> list[str]:
        """Task names in manifest order; a task id is an index into this list."""
        return list(self.manifest.get("tasks", []))

    def __len__(self) -> int:
        return len(self.episodes)

    def __repr__(self) -> str:
        return f"VideoDataset({str(self.root)!r}, {len(self)} episodes, tasks={self.tasks})"

    def load(self, episode: EpisodeInfo) -> dict[str, np.ndarray]:
        """Arrays of one episode, validated against the manifest."""
        path = self.root / episode.file
        try:
            arrays = _load_npz(path)
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise DatasetError(f"{path}: corrupt or unreadable episode ({exc})") from exc
        if "frames" not in arrays:
            raise DatasetError(f"{path}: missing the 'frames' array (has {', '.join(arrays) or 'nothing'})")
        _validate_frames(arrays["frames"], str(path), self.image_size)
        if len(arrays["frames"]) != episode.length:
            raise DatasetError(f"{path}: holds {len(arrays['frames'])} frames, manifest says {episode.length}")
        _validate_optional(arrays, episode.length, str(path))
        return arrays

    def validate(self) -> None:
        for episode in self.episodes:
            self.load(episode)

    def split(self, val_fraction: float = 0.1, task: str | None = None) -> tuple[list[EpisodeInfo], list[EpisodeInfo]]:
        """Deterministic train/val split per task.

        Entries with an explicit ``split`` keep it; the rest are assigned by a hash of their file
        name, with at least one validation episode per task when the task has two or more.
        """
        train: list[EpisodeInfo] = []
        val: list[EpisodeInfo] = []
        for name in self.tasks:
            if task is not None and name != task:
                continue
            episodes = [e for e in self.episodes if e.task == name]
            fixed_val = [e for e in episodes if e.split == "val"]
            free = [e for e in episodes if not e.split]
            ranked = sorted(free, key=lambda e: hashlib.sha1(e.file.encode()).hexdigest())
            n_val = int(round(val_fraction * len(episodes))) - len(fixed_val)
            if val_fraction > 0 and not fixed_val and len(episodes) >= 2:
                n_val = max(n_val, 1)
            n_val = max(0, min(n_val, len(free) - (0 if any(e.split == "train" for e in episodes) else 1)))
            chosen = set(id(e) for e in ranked[:n_val])
            for e in episodes:
                (val if e.split == "val" or id(e) in chosen else train).append(e)
        return train, val

    def store(
        self,
        episodes: Sequence[EpisodeInfo] | None = None,
        *,
        key: str = "frames",
        masks: dict[str, np.ndarray] | None = None,
        progress: bool = False,
        on_disk: str | os.PathLike | None = None,
    ) -> EpisodeStore:
        """Load episodes into memory as an :class:`EpisodeStore` of ``key`` arrays.

        ``masks`` maps task name to ``bool[H,W]``; masked-out pixels are set to 0 (used to hide
        scores from the video model). With ``on_disk`` (a folder of clip tables), the episodes are
        written once into a clip table there (:mod:`viper.core.cliptable`, one episode in memory
        at a time; its subfolder is named by the dataset, episodes, key and masks, so a table is
        reused by every later call for the same data) and the store holds memory-mapped views of
        it: the same values, read from disk as clips are sampled, so the dataset need not fit in
        memory.
        """
        episodes = list(self.episodes if episodes is None else episodes)
        task_index = {t: i for i, t in enumerate(self.tasks)}
        if on_disk is not None and episodes:
            return self._disk_store(Path(on_disk), episodes, key, masks or {}, task_index, progress)
        arrays, tasks, rewards = [], [], []
        iterator: Any = episodes
        if progress:
            from viper.core.progress import progress_bar

            iterator = progress_bar(episodes, desc="loading episodes", unit="ep")
        for episode in iterator:
            data = self.load(episode)
            frames = data[key]
            if masks and episode.task in masks:
                frames = apply_mask(frames, masks[episode.task])
            arrays.append(frames)
            tasks.append(task_index[episode.task])
            rewards.append(data.get("task_reward"))
        return EpisodeStore(arrays, np.asarray(tasks, np.int32), tuple(self.tasks), rewards)

    def _disk_store(
        self,
        directory: Path,
        episodes: list[EpisodeInfo],
        key: str,
        masks: dict[str, np.ndarray],
        task_index: dict[str, int],
        progress: bool,
    ) -> EpisodeStore:
        from viper.core.cliptable import open_clip_table, write_clip_table

        identity = hashlib.sha1(
            repr(
                (
                    str(self.root.resolve()),
                    key,
                    [e.to_json() for e in episodes],
                    sorted((t, hashlib.sha1(np.asarray(m, bool).tobytes()).hexdigest()) for t, m in masks.items()),
                )
            ).encode()
        ).hexdigest()
        directory = directory / f"{key}-{identity[:16]}"
        store = open_clip_table(directory, identity)
        if store is not None:
            return store

        def arrays() -> Iterator[np.ndarray]:
            iterator: Any = episodes
            if progress:
                from viper.core.progress import progress_bar

                iterator = progress_bar(episodes, desc="writing clip table", unit="ep")
            for episode in iterator:
                frames = self.load(episode)[key]
                yield apply_mask(frames, masks[episode.task]) if episode.task in masks else frames

        lengths = [e.length for e in episodes]
        write_clip_table(directory, arrays(), lengths, [task_index[e.task] for e in episodes], self.tasks, identity)
        store = open_clip_table(directory, identity)
        if store is None:
            raise DatasetError(f"{directory}: the clip table just written cannot be read back")
        return store


def process_rows(batch_size: int, process: int, num_processes: int) -> slice:
    """The rows of a global batch of ``batch_size`` that process ``process`` of ``num_processes``
    holds: contiguous equal shares in process order, so that every process drawing the same
    global batch and keeping its rows gives the batch one process would draw alone."""
    if num_processes < 1 or not 0 <= process < num_processes:
        raise DatasetError(f"process {process} of {num_processes}: expected 0 <= process < num_processes")
    if batch_size % num_processes:
        raise DatasetError(f"batch size {batch_size} does not split evenly among {num_processes} processes")
    share = batch_size // num_processes
    return slice(process * share, (process + 1) * share)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def apply_mask(frames: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Zero the pixels where ``mask`` (``bool[H,W]``) is False; returns a new array."""
    if mask is None:
        return frames
    mask = np.asarray(mask, bool)
    if mask.shape != frames.shape[-3:-1]:
        raise DatasetError(
            f"image mask is {mask.shape[0]}x{mask.shape[1]} but frames are {frames.shape[-3]}x{frames.shape[-2]}"
        )
    return np.where(mask[..., None], frames, np.zeros((), frames.dtype)).astype(frames.dtype)


@dataclasses.dataclass
class EpisodeStore:
    """Episodes held in memory (frames or codes), with their task ids, for sampling clips."""

    arrays: list[np.ndarray]
    task_ids: np.ndarray
    tasks: tuple[str, ...] = ()
    task_rewards: list[np.ndarray | None] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.arrays)

    @property
    def lengths(self) -> np.ndarray:
        return np.asarray([len(a) for a in self.arrays], np.int64)

    @property
    def num_frames(self) -> int:
        return int(self.lengths.sum()) if self.arrays else 0

    def map(self, fn: Any) -> EpisodeStore:
        """A store with ``fn(array)`` applied to each episode (e.g. the tokenizer's encode)."""
        return EpisodeStore([fn(a) for a in self.arrays], self.task_ids, self.tasks, self.task_rewards)

    def check_length(self, length: int, stride: int = 1, what: str = "clip") -> None:
        span = (length - 1) * stride + 1
        if not self.arrays:
            raise DatasetError("the dataset holds no episode")
        if self.lengths.max() < span:
            raise DatasetError(
                f"every episode is shorter than one {what} of {length} frames at frame_skip {stride} "
                f"({span} frames needed, the longest has {int(self.lengths.max())})"
            )

    def sample_clips(
        self, rng: np.random.Generator, batch_size: int, length: int, stride: int = 1, rows: slice | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``batch_size`` random clips of ``length`` frames taken every ``stride`` frames.

        Episodes are drawn in proportion to how many clips they hold; returns
        ``(clips[B, length, ...], task_ids[B])``. With ``rows`` (a process's share of the batch,
        :func:`process_rows`) all ``batch_size`` clips are drawn, so ``rng`` advances the same on
        every process, but only those rows are read and returned.
        """
        episodes, starts = self.clip_starts(rng, batch_size, length, stride)
        if rows is not None:
            episodes, starts = episodes[rows], starts[rows]
        return self.gather_clips(episodes, starts, length, stride)

    def clip_starts(
        self, rng: np.random.Generator, batch_size: int, length: int, stride: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where ``batch_size`` random clips start: ``(episode[B], first frame[B])``, drawing
        from ``rng`` exactly as :meth:`sample_clips` does, without reading any frame."""
        span = (length - 1) * stride + 1
        self.check_length(length, stride)
        counts = np.maximum(self.lengths - span + 1, 0)
        probs = counts / counts.sum()
        episodes = rng.choice(len(self.arrays), size=batch_size, p=probs)
        starts = np.asarray([int(rng.integers(0, counts[e])) for e in episodes], np.int64)
        return episodes, starts

    def gather_clips(
        self, episodes: np.ndarray, starts: np.ndarray, length: int, stride: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """The clips at ``(episodes, starts)`` (from :meth:`clip_starts`) and their task ids; only
        these frames are read, so a memory-mapped store reads just them from disk."""
        from viper.core.cliptable import drop_read_pages

        span = (length - 1) * stride + 1
        clips = np.stack([np.asarray(self.arrays[e][s : s + span : stride]) for e, s in zip(episodes, starts)])
        drop_read_pages(self.arrays[e] for e in set(episodes.tolist()))
        return clips, self.task_ids[episodes]

    def windows(self, length: int, stride: int = 1) -> Iterator[tuple[np.ndarray, int]]:
        """Every non-overlapping clip in order (for evaluation): yields ``(clip, task_id)``."""
        span = (length - 1) * stride + 1
        for array, task in zip(self.arrays, self.task_ids):
            for start in range(0, len(array) - span + 1, span):
                yield array[start : start + span : stride], int(task)
