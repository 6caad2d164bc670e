"""The fakes as a plugin: ``fake_host()`` resolves ``fake`` in every kind, like an installed one.

Not an entry point (``viper-run plugins`` never lists the fakes): tests and the contract checks
register it on their own :class:`~viper.core.plugins.PluginHost`.
"""

from __future__ import annotations

import sys

from viper.core.hookspecs import hookimpl
from viper.core.plugins import PluginHost
from viper.core.spec import ComponentSpec

_TARGETS = {
    "env_suite": "viper.core.testing.fake_suite:FakeSuite",
    "tokenizer": "viper.core.testing.fake_tokenizer:FakeTokenizer",
    "video_model": "viper.core.testing.fake_video_model:FakeVideoModel",
    "reward": "viper.core.testing.fake_reward:FakeReward",
    "agent": "viper.core.testing.fake_agent:FakeAgent",
}


def _specs(kind: str) -> list[ComponentSpec]:
    return [ComponentSpec("fake", _TARGETS[kind], f"viper.core.testing's fake {kind.replace('_', ' ')}")]


@hookimpl
def viper_register_env_suites() -> list[ComponentSpec]:
    return _specs("env_suite")


@hookimpl
def viper_register_tokenizers() -> list[ComponentSpec]:
    return _specs("tokenizer")


@hookimpl
def viper_register_video_models() -> list[ComponentSpec]:
    return _specs("video_model")


@hookimpl
def viper_register_rewards() -> list[ComponentSpec]:
    return _specs("reward")


@hookimpl
def viper_register_agents() -> list[ComponentSpec]:
    return _specs("agent")


def fake_host(entry_points: bool = False) -> PluginHost:
    """A host holding the ``fake`` components (and, with ``entry_points``, the installed plugins)."""
    host = PluginHost(entry_points=entry_points)
    host.register(sys.modules[__name__], name="viper-core-fakes", distribution="viper-core")
    return host
