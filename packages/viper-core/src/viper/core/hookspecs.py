"""The hooks a viper plugin implements.

A plugin is a module named by an entry point in the ``viper`` group::

    [project.entry-points.viper]
    my_plugin = "my_package.viper_plugin"

whose functions are decorated with :data:`viper.core.hookimpl` and named after the hooks below.
Each hook returns the :class:`~viper.core.spec.ComponentSpec` records of one kind. Hook modules
must import cheaply: they describe components, they do not build them.

A distribution also declares, as data, which components it provides, so the host can name it
when its plugin fails to import or is disabled (the host itself knows no package names)::

    [project.entry-points."viper.provides"]
    "reward:my-reward" = "my_package.viper_plugin"    # "KIND:NAME" = the hook module

Before publishing, run ``viper-run check-plugin <your distribution>``: it checks every component
against its kind's contract (:mod:`viper.core.testing`) and exits non-zero on a broken rule.
"""

from __future__ import annotations

import pluggy

from viper.core.spec import ComponentSpec

PROJECT = "viper"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def viper_register_env_suites() -> list[ComponentSpec]:
    """Environment suites: factories returning a :class:`~viper.core.protocols.EnvSuite`."""


@hookspec
def viper_register_tokenizers() -> list[ComponentSpec]:
    """Frame tokenizers: :class:`~viper.core.protocols.Tokenizer` factories."""


@hookspec
def viper_register_video_models() -> list[ComponentSpec]:
    """Video prediction models: :class:`~viper.core.protocols.VideoModel` factories."""


@hookspec
def viper_register_rewards() -> list[ComponentSpec]:
    """Rewards: :class:`~viper.core.protocols.Reward` factories."""


@hookspec
def viper_register_agents() -> list[ComponentSpec]:
    """RL agents: :class:`~viper.core.protocols.Agent` factories."""
