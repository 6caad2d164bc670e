"""Episodes laid out once on disk for training that reads clips as it goes (a clip table).

A clip table is a folder::

    TABLE/
      data.npy      every episode's frames (or codes) back to back: dtype[N_total, ...]
      index.json    format, version, dtype, frame shape, each episode's offset and length,
                    task ids and task names, and the key of what was written

``data.npy`` (a plain ``.npy``, version 2.0 header) is memory-mapped read-only: an
:class:`~viper.core.dataset.EpisodeStore` over the table holds one view of it per episode, so
sampling a clip reads only its pages and a dataset larger than memory trains as a small one does,
with the same clips for the same random draws (the arrays hold the same values). The table is
written episode by episode into a temporary folder that is renamed into place when complete, so a
reader never sees half a table; the index comes last, and a table whose index does not match what
the caller expects (another dataset, masks or tokenizer) is rewritten.
"""

from __future__ import annotations

import mmap
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_write_json, read_json

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
    must be ``lengths``) as a clip table at ``directory``, swapped in whole; returns it.

    Processes of one run may write the same table at once: the first rename wins and a later
    writer that finds a complete table of the same ``key`` there drops its own copy."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.parent / f".{directory.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    try:
        _write_table(tmp, arrays, lengths, task_ids, tasks, key)
        _publish(tmp, directory, key)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def _write_table(
    tmp: Path,
    arrays: Iterable[np.ndarray],
    lengths: Sequence[int],
    task_ids: Sequence[int],
    tasks: Sequence[str],
    key: str,
) -> None:
    total = int(sum(lengths))
    layout: tuple[np.dtype, tuple[int, ...]] | None = None
    # plain writes, not a writable memory map: its dirty pages would count in this process's
    # memory until the whole table is written
    with open(tmp / DATA_FILE, "wb") as f:
        for i, array in enumerate(arrays):
            array = np.ascontiguousarray(array)
            if len(array) != lengths[i]:
                raise ValueError(f"clip table: episode {i} holds {len(array)} frames, expected {lengths[i]}")
            if layout is None:
                layout = (array.dtype, array.shape[1:])
                header = {"descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False}
                np.lib.format.write_array_header_2_0(f, {**header, "shape": (total, *array.shape[1:])})
            elif (array.dtype, array.shape[1:]) != layout:
                raise ValueError(
                    f"clip table: episode {i} is {array.dtype}{list(array.shape[1:])} per frame, "
                    f"episode 0 {layout[0]}{list(layout[1])}"
                )
            f.write(array.tobytes())
        f.flush()
        os.fsync(f.fileno())
    if layout is None:
        raise ValueError("clip table: no episode to write")
    atomic_write_json(
        tmp / INDEX_FILE,
        {
            "format": FORMAT,
            "version": VERSION,
            "key": key,
            "dtype": layout[0].str,
            "frame_shape": list(layout[1]),
            "offsets": np.concatenate([[0], np.cumsum(np.asarray(lengths, np.int64))[:-1]]).tolist(),
            "lengths": [int(n) for n in lengths],
            "task_ids": [int(t) for t in task_ids],
            "tasks": list(tasks),
        },
    )


def _publish(tmp: Path, directory: Path, key: str) -> None:
    """Rename the written table ``tmp`` to ``directory``, replacing a stale table there."""
    try:
        os.rename(tmp, directory)  # refused while ``directory`` holds files
        return
    except OSError:
        pass
    if read_clip_index(directory, key) is not None:
        return  # another process wrote the same table first
    old = directory.parent / f".{directory.name}.{uuid.uuid4().hex[:8]}.old"
    os.replace(directory, old)
    os.rename(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


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
    """An :class:`~viper.core.dataset.EpisodeStore` of memory-mapped, read-only episodes, or None
    when no complete table of ``key`` is at ``directory`` (a damaged one counts as missing)."""
    from viper.core.dataset import EpisodeStore

    index = read_clip_index(directory, key)
    if index is None:
        return None
    path = Path(directory) / DATA_FILE
    shape = (sum(index["lengths"]), *index["frame_shape"])
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version != (2, 0):
                return None
            stored, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            offset = f.tell()
            if stored != shape or fortran or dtype.str != index["dtype"]:
                return None
            if offset + dtype.itemsize * int(np.prod(shape)) != os.fstat(f.fileno()).st_size:
                return None
            mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    data = np.frombuffer(mapping, dtype, count=int(np.prod(shape)), offset=offset).reshape(shape)
    arrays = [data[o : o + n] for o, n in zip(index["offsets"], index["lengths"])]
    return EpisodeStore(arrays, np.asarray(index["task_ids"], np.int32), tuple(index["tasks"]))


def mapping_of(array: np.ndarray) -> mmap.mmap | None:
    """The memory map ``array`` reads from (an episode of a clip table), or None."""
    base: Any = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None) if isinstance(base, np.ndarray) else getattr(base, "obj", None)
    return base


def drop_read_pages(arrays: Iterable[np.ndarray]) -> None:
    """Let go of the pages of the clip tables ``arrays`` were read from.

    Pages of a read-only file mapping that were read stay in the process's resident memory until
    dropped, so a long run would come to hold every page it ever sampled, as much as loading the
    dataset would; dropped, they stay in the kernel's page cache (cheap to read again) and the
    process holds only the clips it copied out."""
    if not hasattr(mmap.mmap, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return  # not Linux-like: the kernel reclaims the pages under pressure anyway
    seen: set[int] = set()
    for array in arrays:
        mapping = mapping_of(array)
        if mapping is not None and id(mapping) not in seen:
            seen.add(id(mapping))
            mapping.madvise(mmap.MADV_DONTNEED)
