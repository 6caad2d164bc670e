"""What the agents' Config dataclasses share: named size presets and basic option checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from viper.core.errors import ConfigError


def resolve_preset(config: Any, presets: Mapping[str, Mapping[str, Any]], positive: Iterable[str]) -> None:
    """Fill ``config``'s ``None`` fields from ``presets[config.preset]`` (fields set explicitly
    win), parse ``obs_keys`` given as ``"image,state"``, and check that every field named in
    ``positive`` is at least 1; errors name the ``--set agent.FIELD`` option."""
    if config.preset not in presets:
        raise ConfigError(f"--set agent.preset={config.preset!r}: expected one of {', '.join(presets)}")
    if isinstance(config.obs_keys, str):
        config.obs_keys = tuple(k.strip() for k in config.obs_keys.split(",") if k.strip())
    for key, value in presets[config.preset].items():
        if getattr(config, key) is None:
            setattr(config, key, value)
    for name in positive:
        if getattr(config, name) < 1:
            raise ConfigError(f"--set agent.{name}={getattr(config, name)}: expected at least 1")
