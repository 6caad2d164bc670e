"""Configs as JSON values and the short hashes that name cached stage folders."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-compatible dict of a config dataclass (tuples become lists), without the fields
    declared ``option(..., keyed_default=False)`` that hold their default."""
    if config is None:
        return {}
    if dataclasses.is_dataclass(config):
        out = dataclasses.asdict(config)
        for f in dataclasses.fields(config):
            if f.metadata.get("unkeyed") and getattr(config, f.name) == f.default:
                del out[f.name]
        return json.loads(json.dumps(out, default=str))
    return json.loads(json.dumps(dict(config), default=str))


def config_hash(*parts: Any, length: int = 10) -> str:
    """A stable short hash of JSON-compatible values (used to cache stages)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
