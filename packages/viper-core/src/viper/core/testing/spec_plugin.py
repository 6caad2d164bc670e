"""A plugin object built from component specs, for registering test components on a private
:class:`~viper.core.plugins.PluginHost`. Shipped test utilities for plugin authors and our own tests."""

from __future__ import annotations

import types

from viper.core.hookspecs import hookimpl
from viper.core.spec import ComponentSpec


def make_plugin(**specs: list[ComponentSpec]) -> types.SimpleNamespace:
    """An object with hook implementations returning the given specs per hook name."""
    ns = types.SimpleNamespace()
    for hook, items in specs.items():
        setattr(ns, hook, hookimpl(lambda items=items: list(items)))
    return ns
