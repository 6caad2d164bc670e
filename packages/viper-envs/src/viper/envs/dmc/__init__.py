"""The ``dmc`` suite: DeepMind Control Suite tasks as ``dmc:DOMAIN-TASK`` with pixel observations.

Importing this package does not import dm_control; the GL backend is chosen first (see
:mod:`viper.envs.dmc.gl`).
"""

from viper.envs.dmc.suite import DMCSuite

__all__ = ["DMCSuite"]
