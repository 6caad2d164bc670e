"""Exceptions raised across viper.

Every error a user can trigger is a :class:`ViperError` whose message is one line naming the
offending file, option or component and what was expected. The CLI prints that line and exits
with status 2 instead of showing a traceback.
"""

from __future__ import annotations


class ViperError(Exception):
    """Base class for errors caused by input, configuration or environment (not by bugs)."""


class ConfigError(ViperError, ValueError):
    """A command-line option or configuration value is malformed or out of range."""


class ContractError(ViperError, ValueError):
    """An array crossing a component boundary has the wrong dtype, shape or range."""


class DatasetError(ViperError):
    """A video dataset folder is missing, corrupt or inconsistent."""


class WorkdirError(ViperError):
    """A run's working directory lacks a stage's artifact or holds an incompatible one."""


class ComponentError(ViperError, LookupError):
    """A component cannot be resolved: unknown, duplicated, broken or missing a dependency."""


class UnknownComponentError(ComponentError):
    """No installed plugin provides a component of that kind and name."""


class DuplicateComponentError(ComponentError):
    """Two distributions register a component with the same kind and name."""


class MissingDependencyError(ComponentError, ImportError):
    """A component's declared requirement is not installed."""


class PluginImportError(ComponentError, ImportError):
    """The plugin that provides a component failed to import or to register."""


class NonFiniteError(ViperError, FloatingPointError):
    """A loss, likelihood or reward became NaN or infinite."""
