"""viper-envs' hook implementations: which env suites this distribution provides."""

from __future__ import annotations

from viper.core import ComponentSpec, hookimpl


@hookimpl
def viper_register_env_suites() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            name="lite",
            target="viper.envs.lite:LiteSuite",
            summary="2D reach / push / balance rendered with numpy; fast, no simulator",
            framework="numpy",
        ),
    ]
