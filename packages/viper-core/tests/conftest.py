"""Fixtures for viper-core's own tests: the ``dots`` suite (viper.core.testing.dot_suite)
registered on a private host."""

from __future__ import annotations

import pytest

from viper.core import ComponentSpec, PluginHost
from viper.core.testing.spec_plugin import make_plugin


@pytest.fixture
def host() -> PluginHost:
    h = PluginHost(entry_points=False)
    h.register(
        make_plugin(
            viper_register_env_suites=[ComponentSpec("dots", "viper.core.testing.dot_suite:DotSuite", "test suite")],
        ),
        name="dots-plugin",
        distribution="dots-dist",
        version="1.0",
    )
    return h
