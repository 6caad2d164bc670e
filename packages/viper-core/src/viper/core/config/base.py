"""The one preset mechanism (a Config's ``PRESETS``) and :class:`Options`, the base whose shared
``__post_init__`` makes every construction of a Config coerce, fill its preset and validate."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar

from viper.core.config.constraints import option_text, validate, where_of
from viper.core.config.convert import convert
from viper.core.errors import ConfigError


def presets(cls: type | None) -> dict[str, dict[str, Any]]:
    """A Config's named option sets (its ``PRESETS``); empty when it has none."""
    return dict(getattr(cls, "PRESETS", None) or {})


def apply_preset(cls: type, name: str, options: Mapping[str, Any] | None = None, *, where: str | None = None) -> dict:
    """``cls.PRESETS[name]`` overridden by ``options``; ConfigError naming the ``preset`` option
    (``where`` as in :func:`validate`) when ``cls`` has no such preset."""
    table = presets(cls)
    if name not in table:
        known = ", ".join(map(repr, table)) or "none"
        raise ConfigError(f"{option_text(where or where_of(cls), 'preset', name)}: expected one of {known}")
    return {**table[name], **(options or {})}


class Options:
    """Base of the Config dataclasses: every construction coerces sequence options given as
    strings or lists to tuples, fills a ``preset`` field's ``None`` fields from ``PRESETS`` and
    runs :func:`validate` (so no Config writes its own ``__post_init__``)."""

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        cls = type(self)
        hints = typing.get_type_hints(cls)
        where = where_of(cls)
        for f in dataclasses.fields(cls):
            value = getattr(self, f.name)
            if isinstance(value, (str, list)) and _takes_tuple(hints[f.name]):
                object.__setattr__(self, f.name, convert(value, hints[f.name], f"{where}.{f.name}"))
        if "preset" in {f.name for f in dataclasses.fields(cls)} and presets(cls):
            for key, value in apply_preset(cls, self.preset).items():
                if getattr(self, key) is None:
                    object.__setattr__(self, key, value)
        validate(self, where)


def _takes_tuple(hint: Any) -> bool:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(typing.get_origin(a) is tuple for a in typing.get_args(hint))
    return typing.get_origin(hint) is tuple
