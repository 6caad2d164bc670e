"""viper-core: the plugin host and contracts every viper package builds on.

Plugins implement the hooks in :mod:`viper.core.hookspecs` with :data:`hookimpl` and return
:class:`ComponentSpec` records; :func:`get_host` finds them through the ``viper`` entry-point
group. This module imports neither jax nor torch.
"""

from viper.core.errors import (
    ComponentError,
    ConfigError,
    ContractError,
    DatasetError,
    DuplicateComponentError,
    MissingDependencyError,
    NonFiniteError,
    PluginImportError,
    UnknownComponentError,
    ViperError,
    WorkdirError,
)
from viper.core.hookspecs import hookimpl, hookspec
from viper.core.plugins import PluginHost, get_host, load_component
from viper.core.spec import KINDS, ComponentSpec

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "ComponentError",
    "ComponentSpec",
    "ConfigError",
    "ContractError",
    "DatasetError",
    "DuplicateComponentError",
    "MissingDependencyError",
    "NonFiniteError",
    "PluginHost",
    "PluginImportError",
    "UnknownComponentError",
    "ViperError",
    "WorkdirError",
    "get_host",
    "hookimpl",
    "hookspec",
    "load_component",
]
