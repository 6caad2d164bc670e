"""The ``atari`` suite: ALE games (ROMs ship with ale-py) as ``atari:GAME`` with 64x64 frames."""

from viper.envs.atari.suite import AtariSuite

__all__ = ["AtariSuite"]
