"""The on-disk layout of a saved JAX component (a tokenizer, a video model), in one place.

A component folder holds ``config.json``, the header (``{"format", "version", ...}``, read with
:func:`viper.core.atomic.read_header`, so every loader checks and words it the same way), and
``weights/``, a msgpack pytree with its ``meta.json`` (:mod:`viper.core.jaxtools.checkpoint`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from viper.core.atomic import atomic_write_json, read_header
from viper.core.jaxtools.checkpoint import load_pytree, save_pytree

CONFIG_FILE = "config.json"
WEIGHTS_DIR = "weights"


@dataclasses.dataclass(frozen=True)
class ArtifactFormat:
    """One saved format: its ``format`` name and ``version``, and the words its errors use."""

    name: str
    """Written as ``"format"`` in the header and the weights' meta, e.g. ``"viper-vqgan"``."""
    version: int
    """Bumped whenever the layout changes; a loader reads only its own version."""
    what: str
    """The artifact with its article, for errors: ``"a vqgan tokenizer"``."""
    kind: str
    """What ``config.json`` is, for errors: ``"tokenizer config"``."""
    hint: str = ""
    """Ends every load error: what the user can do (``"; train one with fit-tokenizer"``)."""

    def save(self, directory: str | Path, header: dict[str, Any], weights: Any, meta: dict[str, Any]) -> Path:
        """Write ``weights/`` (the pytree plus ``meta`` and the format name) and then
        ``config.json`` (``header`` plus format and version), each atomically; the header comes
        last, so a folder with a header always has its weights."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_pytree(directory / WEIGHTS_DIR, weights, {**meta, "format": self.name})
        atomic_write_json(directory / CONFIG_FILE, {**header, "format": self.name, "version": self.version})
        return directory

    def read_header(self, directory: str | Path) -> dict[str, Any]:
        """The checked header of a saved folder (:class:`~viper.core.errors.WorkdirError` naming
        the file when it is missing, corrupt, of another format or version)."""
        return read_header(
            Path(directory) / CONFIG_FILE, self.name, self.version, what=self.what, kind=self.kind, hint=self.hint
        )

    def load_weights(self, directory: str | Path, template: Any) -> tuple[Any, dict[str, Any]]:
        """``(weights, meta)`` restored into ``template``'s structure, every shape checked."""
        return load_pytree(Path(directory) / WEIGHTS_DIR, template)

    def config_path(self, directory: str | Path) -> Path:
        return Path(directory) / CONFIG_FILE

    def weights_path(self, directory: str | Path) -> Path:
        return Path(directory) / WEIGHTS_DIR
