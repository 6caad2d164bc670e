"""Building components from the registry: name + options -> configured object.

This is the one place that knows each kind's factory signature (see :mod:`viper.core.protocols`).
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from viper.core.config import apply_preset, build_config, config_class
from viper.core.config import presets as config_presets
from viper.core.errors import ConfigError, WorkdirError
from viper.core.plugins import PluginHost, get_host

_ENV = re.compile(r"^(?P<suite>[a-z0-9][a-z0-9_.-]*):(?P<task>[A-Za-z0-9][A-Za-z0-9_.-]*)$")


@dataclasses.dataclass(frozen=True)
class EnvName:
    """A parsed ``SUITE:TASK`` string."""

    suite: str
    task: str

    def __str__(self) -> str:
        return f"{self.suite}:{self.task}"


def parse_env(text: str, option: str = "--env") -> EnvName:
    match = _ENV.match(text or "")
    if not match:
        raise ConfigError(f"{option} {text!r}: expected SUITE:TASK, e.g. lite:reach or dmc:cartpole-swingup")
    return EnvName(match["suite"], match["task"])


def check_task(name: EnvName, suite: Any, option: str = "--env") -> None:
    """Refuse a task the suite does not have, listing the ones it has."""
    if name.task not in suite.tasks():
        raise ConfigError(
            f"{option} {name}: unknown task {name.task!r}; tasks of {name.suite!r}: {', '.join(suite.tasks())}"
        )


def resolve_env(env: str | EnvName, host: PluginHost | None = None, option: str = "--env") -> tuple[EnvName, Any]:
    """``"lite:reach"`` -> its parsed name and suite instance, the task checked."""
    name = parse_env(env, option) if isinstance(env, str) else env
    suite = load_suite(name.suite, host)
    check_task(name, suite, option)
    return name, suite


def presets(factory: Any) -> dict[str, dict[str, Any]]:
    """A factory's named option sets (its Config's ``PRESETS``), e.g. ``{"quick": {...}}``;
    empty when it has none."""
    return config_presets(config_class(factory))


def make_config(
    kind: str,
    name: str,
    options: dict[str, Any] | None = None,
    host: PluginHost | None = None,
    preset: str | None = None,
) -> Any:
    """The factory's ``Config`` filled from its ``preset`` (if it has one by that name) and then
    ``options`` (None if the factory has no Config). A Config with its own ``preset`` field
    (the agents') picks its preset from ``--set KIND.preset`` only."""
    factory = (host or get_host()).load(kind, name)
    cls = config_class(factory)
    if cls is None:
        if options:
            raise ConfigError(f"--set {kind}.{next(iter(options))}: {kind.replace('_', ' ')} {name!r} takes no options")
        return None
    own_preset = any(f.name == "preset" for f in dataclasses.fields(cls))
    if preset is not None and not own_preset and preset in config_presets(cls):
        options = apply_preset(cls, preset, options)
    return build_config(cls, options, where=f"--set {kind}")


def load_suite(name: str, host: PluginHost | None = None) -> Any:
    """An :class:`~viper.core.protocols.EnvSuite` instance."""
    return (host or get_host()).load("env_suite", name)()


def make_env(
    env: str | EnvName, *, seed: int | None = None, size: int = 64, host: PluginHost | None = None, **options: Any
) -> Any:
    """``make_env("lite:reach")`` -> a gymnasium env from the named suite."""
    parsed, suite = resolve_env(env, host)
    return suite.make(parsed.task, seed=seed, size=size, **options)


def load_artifact(workdir: Any, stage: str, kind: str, host: PluginHost | None = None) -> Any:
    """Load the trained component a finished ``stage`` saved in a workdir, in one call.

    ``load_artifact(wd, "tokenizer", "tokenizer")`` reads ``stage.json`` to find which component
    made it, imports that component's factory and calls ``factory.load(<stage>/artifact)``.
    """
    from viper.core.workdir import Workdir

    wd = workdir if isinstance(workdir, Workdir) else Workdir(workdir, create=False)
    folder = wd.latest(stage)
    info = wd.latest_info(stage)
    name = info.get("component")
    artifact = folder / "artifact"
    if not name or not artifact.is_dir():
        raise WorkdirError(f"{folder}: stage {stage!r} finished without an artifact folder; re-run it")
    factory = (host or get_host()).load(kind, name)
    if not hasattr(factory, "load"):
        raise WorkdirError(f"{kind} {name!r} cannot be loaded from disk (its factory has no load())")
    return factory.load(Path(artifact))


def load_tokenizer(workdir: Any, host: PluginHost | None = None) -> Any:
    return load_artifact(workdir, "tokenizer", "tokenizer", host)


def load_video_model(workdir: Any, host: PluginHost | None = None) -> Any:
    return load_artifact(workdir, "video_model", "video_model", host)


def literal_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Env options as a suite's ``make`` takes them: ``--set env.episode_length=50`` arrives as a
    string, so numbers, booleans and None are read as such (suites with a typed ``Config`` convert
    again; plain third-party suites get Python values)."""
    out = {}
    for key, value in options.items():
        if isinstance(value, str):
            text = {"true": "True", "false": "False", "none": "None"}.get(value.lower(), value)
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                pass
        out[key] = value
    return out


def check_env_options(env: EnvName, suite: Any, options: Mapping[str, Any]) -> None:
    """Validate ``--set env.*`` against the suite's ``Config`` where it declares one (a
    :class:`~viper.core.suites.TableSuite`); other suites check their options in ``make``."""
    if options and hasattr(suite, "options"):
        suite.options(env.task, literal_options(options))
