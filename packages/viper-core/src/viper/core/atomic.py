"""Crash-safe file writes: write to a temporary file beside the target, fsync, then rename.

A reader never sees a half-written file, and a run killed mid-write leaves the previous version
in place. Directories (checkpoints) are swapped in with a rename as well.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600 files; give the result the permissions a plain open() would
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], compress: bool = True) -> Path:
    """Save arrays as an ``.npz`` atomically (never with pickled objects)."""
    buffer = io.BytesIO()
    save = np.savez_compressed if compress else np.savez
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"{path}: array {key!r} has dtype object, which would need pickle")
    save(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write_bytes(path, buffer.getvalue())


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` into memory, refusing pickled objects."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_header(path: Path, fmt: str, version: int, *, what: str, kind: str, hint: str = "") -> dict[str, Any]:
    """Read the JSON that describes a saved artifact (``{"format": fmt, "version": version, ...}``)
    and check both fields. Every failure is one :class:`WorkdirError` naming the file: ``what``
    names the artifact with its article ("a vqgan tokenizer"), ``kind`` the file ("tokenizer
    config"), and ``hint`` (what the user can do) ends every message."""
    from viper.core.errors import WorkdirError

    if not path.is_file():
        raise WorkdirError(f"{path.parent}: not {what} (no {path.name}){hint}")
    try:
        record = read_json(path)
    except (OSError, ValueError) as exc:
        raise WorkdirError(f"{path}: corrupt {kind} ({exc}){hint}") from exc
    if not isinstance(record, dict) or record.get("format") != fmt:
        raise WorkdirError(f'{path}: not {what} (expected "format": "{fmt}"){hint}')
    if record.get("version") != version:
        raise WorkdirError(
            f"{path}: {kind} version {record.get('version')!r}; this viper reads version {version}{hint}"
        )
    return record


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` when the block succeeds.

    On error the temporary directory is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir(mode=0o777 & ~_umask())
    try:
        yield tmp
        for file in tmp.rglob("*"):
            if file.is_file():
                with open(file, "rb") as f:
                    os.fsync(f.fileno())
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.old"
            os.replace(path, old)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
