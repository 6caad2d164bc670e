"""Finding plugins through entry points and resolving components by kind and name.

Loading follows pytest and datasette: each entry point of the ``viper`` group is imported on its
own, and one that fails is recorded (with its distribution and error) instead of breaking the
others. The host knows no distribution by name: each declares, as data in its ``viper.provides``
entry points, which components it provides, so resolving a component of a plugin that failed to
load re-raises that plugin's error, and an unknown name says which distribution would provide it.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata as metadata
import importlib.util
import os
import traceback
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import pluggy
from packaging.requirements import InvalidRequirement, Requirement

from viper.core import hookspecs
from viper.core.errors import (
    DuplicateComponentError,
    MissingDependencyError,
    PluginImportError,
    UnknownComponentError,
)
from viper.core.spec import KINDS, ComponentSpec

ENTRY_POINT_GROUP = "viper"
DISABLE_ENV = "VIPER_DISABLE_PLUGINS"

#: Entry points naming, as data, the components a distribution provides: ``"KIND:NAME" =
#: "its.hook.module"``. Read without importing anything, so a plugin that fails to import (or is
#: disabled, or is installed without registering a name) can still be named as the provider.
PROVIDES_GROUP = "viper.provides"


@dataclasses.dataclass
class PluginRecord:
    """One plugin module and what happened when it was loaded."""

    name: str
    distribution: str
    version: str
    module: str
    error: BaseException | None = None
    error_text: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclasses.dataclass
class ComponentRecord:
    """A registered component together with the plugin that registered it."""

    kind: str
    spec: ComponentSpec
    plugin: PluginRecord
    conflicts: list[PluginRecord] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    def missing_requirements(self) -> list[str]:
        """Requirements of the spec that are not satisfied by installed distributions."""
        return [r for r in self.spec.requires if not _requirement_satisfied(r)]

    def install_hint(self) -> str:
        if self.spec.install_hint:
            return self.spec.install_hint
        missing = self.missing_requirements() or list(self.spec.requires)
        return "pip install " + " ".join(f"'{r}'" for r in missing)

    @property
    def status(self) -> str:
        """``ok``, ``missing dependency``, ``import error`` or ``duplicate``."""
        if self.conflicts:
            return "duplicate"
        if self.missing_requirements():
            return "missing dependency"
        return "ok"


def _requirement_satisfied(requirement: str) -> bool:
    try:
        req = Requirement(requirement)
    except InvalidRequirement:
        # A bare importable module name (e.g. a system package without metadata).
        return importlib.util.find_spec(requirement) is not None
    try:
        version = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        return False
    return not req.specifier or req.specifier.contains(version, prereleases=True)


def _disabled_names() -> set[str]:
    raw = os.environ.get(DISABLE_ENV, "")
    return {part.strip() for part in raw.split(",") if part.strip()}


class PluginHost:
    """Loads plugins and answers which components exist.

    ``PluginHost()`` reads the installed entry points; tests and embedding applications can
    start from ``PluginHost(entry_points=False)`` and call :meth:`register` directly.
    """

    def __init__(self, entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginRecord] = {}
        self.disabled: list[tuple[str, str]] = []  # (plugin name, distribution)
        self.providers: dict[tuple[str, str], str] = {}  # (kind, name) -> distribution, declared
        self._components: dict[str, dict[str, ComponentRecord]] | None = None
        if entry_points:
            self.load_entry_points()

    # -- loading ---------------------------------------------------------------------------

    def load_entry_points(self) -> None:
        for ep in metadata.entry_points(group=PROVIDES_GROUP):
            kind, _, name = ep.name.partition(":")
            if kind in KINDS and name and ep.dist is not None:
                self.declare(kind, name, ep.dist.name)
        disabled = _disabled_names()
        seen: set[tuple[str, str]] = set()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else "?"
            version = ep.dist.version if ep.dist is not None else "?"
            if (ep.name, ep.value) in seen:  # the same dist visible twice on sys.path
                continue
            seen.add((ep.name, ep.value))
            if ep.name in disabled or dist in disabled:
                self.disabled.append((ep.name, dist))
                continue
            record = PluginRecord(ep.name, dist, version, ep.value)
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not break the others
                self._fail(record, exc)
                continue
            self.register(module, name=ep.name, distribution=dist, version=version, _record=record)

    def declare(self, kind: str, name: str, distribution: str) -> None:
        """Record that ``distribution`` provides component ``name`` (what its ``viper.provides``
        entry points say), for messages about a name that did not resolve."""
        _check_kind(kind)
        self.providers[(kind, name)] = distribution

    def register(
        self,
        plugin: ModuleType | object,
        name: str | None = None,
        distribution: str | None = None,
        version: str = "",
        _record: PluginRecord | None = None,
    ) -> PluginRecord:
        """Register a module or object holding hook implementations."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        record = _record or PluginRecord(name, distribution or name, version, getattr(plugin, "__name__", name))
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self._fail(record, exc)
            return record
        self.plugins[name] = record
        self._components = None
        return record

    def _fail(self, record: PluginRecord, exc: BaseException) -> None:
        record.error = exc
        record.error_text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        self.plugins[record.name] = record
        self._components = None

    # -- components ------------------------------------------------------------------------

    def _collect(self) -> dict[str, dict[str, ComponentRecord]]:
        if self._components is not None:
            return self._components
        components: dict[str, dict[str, ComponentRecord]] = {kind: {} for kind in KINDS}
        for kind, hook_name in KINDS.items():
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():
                record = self.plugins.get(impl.plugin_name)
                if record is None or not record.ok:
                    continue
                try:
                    specs = impl.function() or []
                    specs = list(specs)
                    for spec in specs:
                        if not isinstance(spec, ComponentSpec):
                            raise TypeError(f"{hook_name} returned {type(spec).__name__}, expected ComponentSpec")
                except Exception as exc:
                    self._fail(record, exc)
                    for table in components.values():  # drop what it registered before failing
                        for key in [k for k, c in table.items() if c.plugin is record]:
                            del table[key]
                    continue
                for spec in specs:
                    existing = components[kind].get(spec.name)
                    if existing is not None:
                        existing.conflicts.append(record)
                    else:
                        components[kind][spec.name] = ComponentRecord(kind, spec, record)
        self._components = components
        return components

    def components(self, kind: str | None = None) -> list[ComponentRecord]:
        """Every registered component (of one kind, if given), sorted by kind order then name."""
        table = self._collect()
        kinds = [kind] if kind is not None else list(KINDS)
        for k in kinds:
            _check_kind(k)
        return [table[k][n] for k in kinds for n in sorted(table[k])]

    def names(self, kind: str) -> list[str]:
        return [c.name for c in self.components(kind) if c.status == "ok"]

    def failed_plugins(self) -> list[PluginRecord]:
        return [p for p in self.plugins.values() if not p.ok]

    def get(self, kind: str, name: str) -> ComponentRecord:
        """The record for ``name``; raises a one-line error if it is unknown or unusable."""
        _check_kind(kind)
        label = kind.replace("_", " ")
        record = self._collect()[kind].get(name)
        if record is None:
            failed = self._failed_provider(kind, name)
            if failed is not None:
                raise PluginImportError(self._failed_provider_message(kind, name, failed)) from failed.error
            raise UnknownComponentError(self._unknown_message(kind, name))
        if record.conflicts:
            others = ", ".join(p.distribution for p in record.conflicts)
            raise DuplicateComponentError(
                f"{label} {name!r} is registered by both {record.plugin.distribution} and {others}; "
                f"uninstall one or block it with {DISABLE_ENV}=<plugin name>"
            )
        missing = record.missing_requirements()
        if missing:
            raise MissingDependencyError(
                f"{label} {name!r} (from {record.plugin.distribution}) needs {', '.join(missing)}: "
                f"{record.install_hint()}"
            )
        return record

    def load(self, kind: str, name: str) -> Any:
        """Import and return the factory of component ``name``."""
        record = self.get(kind, name)
        module_name, _, attr = record.spec.target.partition(":")
        label = kind.replace("_", " ")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except ImportError as exc:
            raise PluginImportError(
                f"{label} {name!r} from {record.plugin.distribution}: importing {record.spec.target} failed: {exc}"
            ) from exc
        except AttributeError as exc:
            raise PluginImportError(
                f"{label} {name!r} from {record.plugin.distribution}: {record.spec.target} does not exist ({exc})"
            ) from exc
        return obj

    def _failed_provider(self, kind: str, name: str) -> PluginRecord | None:
        """The plugin that failed to load from the distribution declared to provide ``name``."""
        provider = self.providers.get((kind, name))
        return next((p for p in self.failed_plugins() if provider is not None and p.distribution == provider), None)

    def _failed_provider_message(self, kind: str, name: str, plugin: PluginRecord) -> str:
        return (
            f"{kind.replace('_', ' ')} {name!r} would come from plugin {plugin.name!r} ({plugin.distribution}), "
            f"which failed to load: {plugin.error_text}"
        )

    def _unknown_message(self, kind: str, name: str) -> str:
        label = kind.replace("_", " ")
        provider = self.providers.get((kind, name))
        available = ", ".join(self.names(kind)) or "none"
        message = f"unknown {label} {name!r}; available: {available}"
        if provider is not None:
            if any(d == provider for _, d in self.disabled):
                message += f" ({provider} provides it but is disabled by {DISABLE_ENV})"
            elif any(p.distribution == provider for p in self.plugins.values()):
                message += f" ({provider} is installed but does not register it in this version)"
            else:
                message += f" (install {provider}: pip install {provider})"
        broken = [f"{p.name} ({p.distribution})" for p in self.failed_plugins()]
        if broken:
            message += f"; plugins that failed to load: {', '.join(broken)}"
        return message


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown component kind {kind!r}; expected one of {', '.join(KINDS)}")


_default_host: PluginHost | None = None


def get_host(reload: bool = False) -> PluginHost:
    """The process-wide host built from installed entry points (built on first use)."""
    global _default_host
    if _default_host is None or reload:
        _default_host = PluginHost()
    return _default_host


def load_component(kind: str, name: str) -> Any:
    """Shortcut for ``get_host().load(kind, name)``."""
    return get_host().load(kind, name)


def iter_kinds() -> Iterable[str]:
    return iter(KINDS)
