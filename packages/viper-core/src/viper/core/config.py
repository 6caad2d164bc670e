"""Typed component configs filled from ``--set KIND.FIELD=VALUE`` options: one model for all.

A component factory may carry a ``Config`` dataclass (one docstring per field, as in cleanrl and
the flax examples). :func:`build_config` turns strings from the command line (or values from a
JSON config) into that dataclass and validates it; errors name the option and what was expected,
always in one style: ``--set loop.num_envs=0: expected an integer >= 1`` (``--steps -5: expected
an integer >= 1`` for the top-level flags, ``where="--"``).

Declaring a config::

    @dataclasses.dataclass
    class Config(Options):
        SECTION: ClassVar[str] = "video_model"          # names the options in messages
        PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"quick": {"layers": 2}}
        RULES: ClassVar[tuple[Rule, ...]] = (
            Rule("width", lambda c: c.width % c.heads == 0, "a multiple of heads ({heads})"),
        )

        layers: int = option(8, ge=1)
        'Transformer blocks.'
        dropout: float = option(0.1, ge=0, lt=1)
        'Dropout while training.'
        mode: str = option("conditional", one_of=("conditional", "joint"))
        'How frames are scored.'

* :func:`option` declares a field's constraints: ranges (``ge``/``gt``/``le``/``lt``, applied
  to every item of a sequence and skipped for ``None``), ``one_of`` choices, or a ``test``
  predicate with the ``expected`` text of its message. A ``Literal[...]`` type is its own
  choice constraint.
* ``RULES`` holds the few cross-field rules (:class:`Rule`); its ``expected`` text is formatted
  with the config's attributes.
* :func:`validate` checks both; :func:`build_config` calls it, and so does every construction of
  an :class:`Options` subclass (its shared ``__post_init__``), so a Config made in Python is
  checked too. Plain dataclasses (third-party plugins) are checked by :func:`build_config`.
* ``PRESETS`` is the one preset mechanism: named field values, applied by :func:`apply_preset`
  below any explicitly given option (``--preset NAME`` for the pipeline and ``fit-*`` commands).
  A Config with a ``preset`` field chooses its own preset (``--set agent.preset=NAME``): its
  fields left ``None`` are filled from ``PRESETS[preset]`` on construction.
* :class:`DistributedConfig` holds the multi-host JAX settings; the JAX components' Configs
  inherit it, so its fields stay flat options (``--set tokenizer.num_processes=2``) and the
  stage config dicts keep their keys.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

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


# --------------------------------------------------------------------------------------------
# Constraints: declared on fields, checked by one validator


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
) -> Any:
    """A dataclass field with constraints (see the module docstring); ``expected`` words the
    message of a ``test`` (``"an odd number >= 3"``)."""
    if test is not None and expected is None:
        raise TypeError("option(test=...) needs expected=... to word its message")
    check = Check(ge, gt, le, lt, tuple(one_of) if one_of is not None else None, test, expected)
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"check": check})


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
    where = where or _where(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        check = f.metadata.get("check") or _literal_check(hints.get(f.name))
        value = getattr(config, f.name)
        if check is not None and not check.passes(value):
            raise ConfigError(f"{option_text(where, f.name, value)}: expected {check.describe(hints.get(f.name))}")
    for rule in getattr(cls, "RULES", ()):
        if not rule.test(config):
            words = rule.expected
            expected = words(config) if callable(words) else words.format_map(_Attributes(config))
            raise ConfigError(f"{option_text(where, rule.field, getattr(config, rule.field))}: expected {expected}")
    return config


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


def _where(cls: type) -> str:
    section = getattr(cls, "SECTION", None)
    return "--" if section == "--" else f"--set {section}" if section else "config"


# --------------------------------------------------------------------------------------------
# Presets and the shared construction step


def presets(cls: type | None) -> dict[str, dict[str, Any]]:
    """A Config's named option sets (its ``PRESETS``); empty when it has none."""
    return dict(getattr(cls, "PRESETS", None) or {})


def apply_preset(cls: type, name: str, options: Mapping[str, Any] | None = None, *, where: str | None = None) -> dict:
    """``cls.PRESETS[name]`` overridden by ``options``; ConfigError naming the ``preset`` option
    (``where`` as in :func:`validate`) when ``cls`` has no such preset."""
    table = presets(cls)
    if name not in table:
        known = ", ".join(map(repr, table)) or "none"
        raise ConfigError(f"{option_text(where or _where(cls), 'preset', name)}: expected one of {known}")
    return {**table[name], **(options or {})}


class Options:
    """Base of the Config dataclasses: every construction coerces sequence options given as
    strings or lists to tuples, fills a ``preset`` field's ``None`` fields from ``PRESETS`` and
    runs :func:`validate` (so no Config writes its own ``__post_init__``)."""

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        cls = type(self)
        hints = typing.get_type_hints(cls)
        where = _where(cls)
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


@dataclasses.dataclass
class DistributedConfig:
    """Settings for ``jax.distributed.initialize``; leave all None on one host."""

    coordinator_address: str | None = None
    """``host:port`` of process 0 for ``jax.distributed.initialize``; None trains on one host."""
    num_processes: int | None = option(None, ge=1)
    """Number of processes (hosts) in a multi-host run."""
    process_id: int | None = option(None, ge=0)
    """This process's index in ``[0, num_processes)``."""

    def distributed(self) -> DistributedConfig:
        """Just the multi-host settings (for ``viper.core.jaxtools.init_distributed``)."""
        return DistributedConfig(self.coordinator_address, self.num_processes, self.process_id)


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


def field_docs(cls: type) -> dict[str, str]:
    """Field docstrings of a config dataclass (the string literal following each field),
    inherited fields included."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is not object and dataclasses.is_dataclass(klass):
            docs.update(_own_field_docs(klass))
    return docs


def describe_options(cls: type, section: str) -> list[tuple[str, str, str]]:
    """``(option, default and constraint, docstring)`` per field of a config dataclass, e.g.
    ``("--set loop.num_envs=1", "an integer >= 1", "Environments stepped in parallel.")``;
    what ``viper-run plugins --options NAME`` prints."""
    docs, hints = field_docs(cls), typing.get_type_hints(cls)
    own = set(vars(cls).get("__annotations__", {}))
    rows = []
    # The class's own fields first: inherited ones (the multi-host settings) matter to few.
    for f in sorted(dataclasses.fields(cls), key=lambda f: f.name not in own):
        if not f.init:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        check = f.metadata.get("check") or _literal_check(hints.get(f.name))
        rule = check.describe(hints.get(f.name)) if check is not None else ""
        rows.append((option_text(f"--set {section}", f.name, default), rule, docs.get(f.name, "")))
    return rows


def _own_field_docs(cls: type) -> dict[str, str]:
    try:
        tree = ast.parse(inspect.cleandoc(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node, following in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(following.value.value)
    return docs
