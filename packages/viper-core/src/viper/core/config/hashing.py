"""Configs as JSON values and the short hashes that name cached stage folders."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-compatible dict of a config dataclass (tuples become lists)."""
    if config is None:
        return {}
    if dataclasses.is_dataclass(config):
        return json.loads(json.dumps(dataclasses.asdict(config), default=str))
    return json.loads(json.dumps(dict(config), default=str))


def config_hash(*parts: Any, length: int = 10) -> str:
    """A stable short hash of JSON-compatible values (used to cache stages)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
