"""The ``metaworld`` suite: Meta-World v3 manipulation tasks as ``metaworld:TASK`` with pixels.

Importing this package imports neither metaworld nor MuJoCo; they load when the task table or
an env is first needed.
"""

from viper.envs.metaworld.suite import MetaWorldSuite

__all__ = ["MetaWorldSuite"]
