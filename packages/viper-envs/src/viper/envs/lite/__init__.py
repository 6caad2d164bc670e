"""The lite suite: 2D tasks rendered with numpy, fast enough for tests and CPU demos."""

from viper.envs.lite.suite import LiteSuite

__all__ = ["LiteSuite"]
