"""Constraints declared on config fields (:func:`option`, :class:`Rule`) and the one validator
that checks them, with one message style: ``--set loop.num_envs=0: expected an integer >= 1``."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any

from viper.core.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Check:
    """The constraints :func:`option` stores in a field's metadata."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    one_of: tuple[Any, ...] | None = None
    test: Callable[[Any], bool] | None = None
    expected: str | None = None

    def passes(self, value: Any) -> bool:
        if value is None:
            return True
        if self.one_of is not None and value not in self.one_of:
            return False
        items = value if isinstance(value, (tuple, list)) else (value,)
        for item in items:
            if self.ge is not None and not item >= self.ge:
                return False
            if self.gt is not None and not item > self.gt:
                return False
            if self.le is not None and not item <= self.le:
                return False
            if self.lt is not None and not item < self.lt:
                return False
        return self.test is None or bool(self.test(value))

    def describe(self, hint: Any) -> str:
        """``an integer >= 1``, ``a number in [0, 1)``, ``one of 'a', 'b'``..."""
        if self.expected is not None:
            return self.expected
        if self.one_of is not None:
            return "one of " + ", ".join(map(repr, self.one_of))
        sequence, integer = _kind_of(hint)
        noun = ("integers" if integer else "numbers") if sequence else ("an integer" if integer else "a number")
        low = ("[", self.ge) if self.ge is not None else ("(", self.gt) if self.gt is not None else None
        high = ("]", self.le) if self.le is not None else (")", self.lt) if self.lt is not None else None
        if low and high:
            return f"{noun} in {low[0]}{_number(low[1])}, {_number(high[1])}{high[0]}"
        if low:
            return f"{noun} {'>=' if low[0] == '[' else '>'} {_number(low[1])}"
        if high:
            return f"{noun} {'<=' if high[0] == ']' else '<'} {_number(high[1])}"
        return noun


def option(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    one_of: tuple[Any, ...] | None = None,
    test: Callable[[Any], bool] | None = None,
    expected: str | None = None,
    flag: str | None = None,
    keyed_default: bool = True,
) -> Any:
    """A dataclass field with constraints (see the module docstring); ``expected`` words the
    message of a ``test`` (``"an odd number >= 3"``); ``flag`` is the command-line flag's name
    when it differs from the field's (``rewards`` set by ``--reward``). ``keyed_default=False``
    leaves the field out of :func:`~viper.core.config.to_dict` (so of stage hashes) while it holds
    its default: an option added later does not rename the cached stages of runs that leave it
    alone."""
    if test is not None and expected is None:
        raise TypeError("option(test=...) needs expected=... to word its message")
    check = Check(ge, gt, le, lt, tuple(one_of) if one_of is not None else None, test, expected)
    metadata = {"check": check, **({"flag": flag} if flag else {}), **({} if keyed_default else {"unkeyed": True})}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Rule:
    """A constraint across fields, reported on ``field``; ``expected`` is formatted with the
    config's attributes (``"a multiple of heads ({heads})"``) or is a function of the config."""

    field: str
    test: Callable[[Any], bool]
    expected: str | Callable[[Any], str]


def validate(config: Any, where: str | None = None) -> Any:
    """Check ``config``'s declared constraints and ``RULES``; raise ConfigError on the first
    broken one. ``where`` defaults to ``--set {SECTION}``; ``"--"`` words flags (``--steps -5``)."""
    cls = type(config)
    where = where or where_of(cls)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for f in fields.values():
        check = field_check(f, hints.get(f.name))
        value = getattr(config, f.name)
        if check is not None and not check.passes(value):
            option = option_text(where, _spelling(f, where), value)
            raise ConfigError(f"{option}: expected {check.describe(hints.get(f.name))}")
    for rule in getattr(cls, "RULES", ()):
        if not rule.test(config):
            words = rule.expected
            expected = words(config) if callable(words) else words.format_map(_Attributes(config))
            option = option_text(where, _spelling(fields[rule.field], where), getattr(config, rule.field))
            raise ConfigError(f"{option}: expected {expected}")
    return config


def _spelling(f: dataclasses.Field, where: str) -> str:
    """A field's name as the user typed it: its flag's name among flags, else the field's."""
    return f.metadata.get("flag", f.name) if where == "--" else f.name


def field_check(f: dataclasses.Field, hint: Any) -> Check | None:
    """The constraints of field ``f``: declared with :func:`option`, or its ``Literal`` type's."""
    return f.metadata.get("check") or _literal_check(hint)


def _literal_check(hint: Any) -> Check | None:
    """A ``Literal[...]`` field (optional or not) may only hold one of its values."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    literals = [a for a in args if typing.get_origin(a) is typing.Literal]
    return Check(one_of=typing.get_args(literals[0])) if len(literals) == 1 else None


def option_text(where: str, name: str, value: Any) -> str:
    """How the user spelt an option: ``--set loop.num_envs=0`` or, for flags, ``--steps -5``."""
    if isinstance(value, (tuple, list)):
        shown = ",".join(map(str, value))
    elif isinstance(value, str):
        shown = repr(value)
    else:
        shown = str(value)
    if where == "--":
        return f"--{name.replace('_', '-')} {shown}"
    return f"{where}.{name}={shown}"


class _Attributes(dict):
    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    def __missing__(self, key: str) -> Any:
        return getattr(self.config, key)


def _kind_of(hint: Any) -> tuple[bool, bool]:
    """(is a sequence, holds integers) for a field's type hint."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = args[0] if len(args) == 1 else hint
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        inner = typing.get_args(hint)
        return True, bool(inner) and inner[0] is int
    if origin in (typing.Union, types.UnionType):
        return False, all(a is int or typing.get_origin(a) in (tuple, list) for a in args)
    return False, hint is int


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def where_of(cls: type) -> str:
    """How messages about ``cls``'s options start: ``--set {SECTION}``, or ``--`` for flags."""
    section = getattr(cls, "SECTION", None)
    return "--" if section == "--" else f"--set {section}" if section else "config"
