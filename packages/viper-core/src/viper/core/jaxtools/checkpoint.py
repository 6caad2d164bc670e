"""Checkpoints of pytrees as msgpack (flax.serialization) plus JSON metadata, written atomically.

msgpack restores only arrays and plain containers, so loading cannot execute code (no pickle).
A restored tree is checked against a template: every leaf must exist with the same shape, so
loading weights into a model of another config fails with the offending parameter named.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from flax import serialization

from viper.core.atomic import atomic_directory
from viper.core.errors import WorkdirError
from viper.core.jaxtools.host import to_host

STATE_FILE = "state.msgpack"
META_FILE = "meta.json"


def save_pytree(directory: str | Path, tree: Any, meta: dict[str, Any] | None = None) -> Path:
    """Write ``tree`` (arrays, dicts, lists, scalars) and ``meta`` into ``directory`` atomically."""
    directory = Path(directory)
    state = serialization.to_state_dict(to_host(tree))
    with atomic_directory(directory) as tmp:
        (tmp / STATE_FILE).write_bytes(serialization.msgpack_serialize(state))
        (tmp / META_FILE).write_text(json.dumps(meta or {}, indent=2, sort_keys=True, default=str))
    return directory


def load_meta(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / META_FILE
    if not path.exists():
        raise WorkdirError(f"{directory}: not a checkpoint (no {META_FILE})")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise WorkdirError(f"{path}: corrupt checkpoint metadata ({exc})") from exc


def load_pytree(directory: str | Path, template: Any | None = None) -> tuple[Any, dict[str, Any]]:
    """Read a checkpoint; with ``template``, restore into its structure and check shapes."""
    directory = Path(directory)
    meta = load_meta(directory)
    path = directory / STATE_FILE
    try:
        state = serialization.msgpack_restore(path.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise WorkdirError(f"{path}: corrupt or unreadable checkpoint ({exc})") from exc
    if template is None:
        return state, meta
    _check_shapes(state, serialization.to_state_dict(template), str(path), ())
    try:
        tree = serialization.from_state_dict(template, state)
    except (KeyError, ValueError, TypeError) as exc:
        raise WorkdirError(f"{path}: does not match this model's structure ({exc})") from exc
    return tree, meta


def _check_shapes(state: Any, template: Any, where: str, prefix: tuple[str, ...]) -> None:
    if isinstance(template, dict):
        if not isinstance(state, dict):
            raise WorkdirError(f"{where}: expected a group at {'/'.join(prefix) or '<root>'}, found an array")
        missing = sorted(set(template) - set(state))
        extra = sorted(set(state) - set(template))
        if missing or extra:
            name = "/".join(prefix + (str((missing or extra)[0]),))
            what = "missing" if missing else "unexpected"
            raise WorkdirError(f"{where}: {what} parameter {name!r}; the checkpoint was made with another config")
        for key in template:
            _check_shapes(state[key], template[key], where, prefix + (str(key),))
        return
    want = np.shape(template)
    got = np.shape(state)
    if want != got:
        name = "/".join(prefix) or "<root>"
        raise WorkdirError(f"{where}: parameter {name!r} has shape {got} but this config expects {want}")


class CheckpointManager:
    """Numbered checkpoints ``step_00001000/`` in a folder, keeping the newest ``keep``."""

    _PATTERN = re.compile(r"^step_(\d+)$")

    def __init__(self, directory: str | Path, keep: int = 2) -> None:
        self.directory = Path(directory)
        self.keep = keep

    def steps(self) -> list[int]:
        if not self.directory.is_dir():
            return []
        out = []
        for child in self.directory.iterdir():
            match = self._PATTERN.match(child.name)
            if match and (child / META_FILE).exists():
                out.append(int(match[1]))
        return sorted(out)

    def latest_step(self) -> int | None:
        steps = self.steps()
        return steps[-1] if steps else None

    def path(self, step: int) -> Path:
        return self.directory / f"step_{step:08d}"

    def save(self, step: int, tree: Any, meta: dict[str, Any] | None = None) -> Path:
        path = save_pytree(self.path(step), tree, {"step": step, **(meta or {})})
        for old in self.steps()[: -self.keep]:
            shutil.rmtree(self.path(old), ignore_errors=True)
        return path

    def restore(self, template: Any | None = None, step: int | None = None) -> tuple[int, Any, dict[str, Any]] | None:
        """``(step, tree, meta)`` of the newest (or given) checkpoint, or None if there is none."""
        step = self.latest_step() if step is None else step
        if step is None:
            return None
        tree, meta = load_pytree(self.path(step), template)
        return step, tree, meta
