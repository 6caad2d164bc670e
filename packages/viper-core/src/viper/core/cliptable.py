"""Episodes laid out once on disk for training that reads clips as it goes (a clip table).

A clip table is a folder::

    TABLE/
      data.npy      every episode's frames (or codes) back to back: dtype[N_total, ...]
      index.json    format, version, dtype, frame shape, each episode's offset and length,
                    task ids and task names, and the key of what was written

``data.npy`` is opened with ``np.load(mmap_mode="r")``: an :class:`~viper.core.dataset.EpisodeStore`
over the table holds one memory-mapped view per episode, so sampling a clip reads only its pages
and a dataset larger than memory trains as a small one does, with the same clips for the same
random draws (the arrays hold the same values). The table is written episode by episode into a
temporary folder that is renamed into place when complete, so a reader never sees half a table;
the header comes last, and a table whose header does not match what the caller expects (another
dataset, masks or tokenizer) is rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_directory, atomic_write_json, read_json

DATA_FILE = "data.npy"
INDEX_FILE = "index.json"
FORMAT = "viper-clip-table"
VERSION = 1


def write_clip_table(
    directory: str | Path,
    arrays: Iterable[np.ndarray],
    lengths: Sequence[int],
    task_ids: Sequence[int],
    tasks: Sequence[str],
    key: str = "",
) -> Path:
    """Write the episodes ``arrays`` yields (one at a time, never all in memory; their lengths
    must be ``lengths``) as a clip table at ``directory``, swapped in whole; returns it."""
    directory = Path(directory)
    offsets = np.concatenate([[0], np.cumsum(np.asarray(lengths, np.int64))]).tolist()
    data: Any = None
    with atomic_directory(directory) as tmp:
        for i, array in enumerate(arrays):
            array = np.asarray(array)
            if len(array) != lengths[i]:
                raise ValueError(
                    f"clip table {directory}: episode {i} holds {len(array)} frames, expected {lengths[i]}"
                )
            if data is None:
                data = np.lib.format.open_memmap(
                    tmp / DATA_FILE, mode="w+", dtype=array.dtype, shape=(offsets[-1], *array.shape[1:])
                )
            data[offsets[i] : offsets[i + 1]] = array
        if data is None:
            raise ValueError(f"clip table {directory}: no episode to write")
        shape, dtype = list(data.shape[1:]), data.dtype.str
        data.flush()
        del data
        atomic_write_json(
            tmp / INDEX_FILE,
            {
                "format": FORMAT,
                "version": VERSION,
                "key": key,
                "dtype": dtype,
                "frame_shape": shape,
                "offsets": offsets[:-1],
                "lengths": [int(n) for n in lengths],
                "task_ids": [int(t) for t in task_ids],
                "tasks": list(tasks),
            },
        )
    return directory


def read_clip_index(directory: str | Path, key: str | None = None) -> dict[str, Any] | None:
    """The table's index, or None when there is no complete table of ``key`` at ``directory``."""
    path = Path(directory) / INDEX_FILE
    if not path.is_file() or not (Path(directory) / DATA_FILE).is_file():
        return None
    try:
        index = read_json(path)
    except (OSError, ValueError):
        return None
    if not isinstance(index, dict) or index.get("format") != FORMAT or index.get("version") != VERSION:
        return None
    if key is not None and index.get("key") != key:
        return None
    return index


def open_clip_table(directory: str | Path, key: str | None = None) -> Any:
    """An :class:`~viper.core.dataset.EpisodeStore` of memory-mapped episodes, or None when no
    complete table of ``key`` is at ``directory`` (a damaged one is treated as missing)."""
    from viper.core.dataset import EpisodeStore

    index = read_clip_index(directory, key)
    if index is None:
        return None
    try:
        data = np.load(Path(directory) / DATA_FILE, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    total = sum(index["lengths"])
    if data.shape != (total, *index["frame_shape"]) or data.dtype.str != index["dtype"]:
        return None
    arrays = [data[o : o + n] for o, n in zip(index["offsets"], index["lengths"])]
    return EpisodeStore(arrays, np.asarray(index["task_ids"], np.int32), tuple(index["tasks"]))
