"""From strings (``--set KIND.FIELD=VALUE``) or JSON values to a validated config dataclass."""

from __future__ import annotations

import ast
import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any

from viper.core.config.constraints import validate
from viper.core.errors import ConfigError


def config_class(factory: Any) -> type | None:
    """The ``Config`` dataclass of a factory, or None."""
    cls = getattr(factory, "Config", None)
    return cls if dataclasses.is_dataclass(cls) else None


def build_config(cls: type, options: Mapping[str, Any] | None = None, *, where: str = "config") -> Any:
    """Instantiate dataclass ``cls`` from ``options``, converting strings to the field types.

    ``where`` prefixes error messages (e.g. ``--set tokenizer`` gives ``--set tokenizer.depth``).
    """
    options = dict(options or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown option; valid options are {', '.join(sorted(fields))}")
    values = {name: convert(value, hints[name], f"{where}.{name}") for name, value in options.items()}
    try:
        config = cls(**values)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where}: {exc}") from exc
    validate(config, where)
    return config


def convert(value: Any, hint: Any, where: str) -> Any:
    """Convert ``value`` (often a string) to type ``hint``; raise ConfigError naming ``where``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: cannot convert {value!r}")
    if origin is typing.Literal:
        for arg in args:
            if value == arg or (isinstance(value, str) and str(arg) == value):
                return arg
        raise ConfigError(f"{where}: expected one of {', '.join(map(repr, args))}, got {value!r}")
    if origin in (tuple, list):
        items = _as_sequence(value, where)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(v, args[0], where) for v in items)
        if origin is tuple and args:
            if len(items) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} comma-separated values, got {value!r}")
            return tuple(convert(v, a, where) for v, a in zip(items, args))
        inner = args[0] if args else Any
        out = [convert(v, inner, where) for v in items]
        return tuple(out) if origin is tuple else out
    if origin is dict or hint is dict:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{where}: expected a JSON object, got {value!r}") from exc
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a JSON object, got {value!r}")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            number = float(value) if isinstance(value, str) and "e" in value.lower() else value
            result = int(number)
            if isinstance(number, float) and number != result:
                raise ValueError
            return result
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if hint is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if hint is str:
        return str(value)
    return value


def _as_sequence(value: Any, where: str) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "(")):
            try:
                return list(ast.literal_eval(text))
            except (ValueError, SyntaxError) as exc:
                raise ConfigError(f"{where}: cannot parse {value!r} as a list") from exc
        return [v.strip() for v in text.split(",") if v.strip()]
    return [value]


def parse_assignments(items: list[str] | None, *, option: str = "--set") -> dict[str, dict[str, str]]:
    """``["tokenizer.depth=2", "agent.lr=1e-4"]`` -> ``{"tokenizer": {"depth": "2"}, ...}``."""
    out: dict[str, dict[str, str]] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        section, dot, field = key.strip().partition(".")
        if not sep or not dot or not section or not field:
            raise ConfigError(f"{option} {item!r}: expected SECTION.FIELD=VALUE, e.g. tokenizer.codebook_size=512")
        out.setdefault(section, {})[field] = value.strip()
    return out
