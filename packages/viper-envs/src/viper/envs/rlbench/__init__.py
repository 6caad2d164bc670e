"""The ``rlbench`` suite: the paper's six RLBench manipulation tasks (needs CoppeliaSim).

Nothing here imports RLBench until an env is made; see :mod:`viper.envs.rlbench.backend`.
"""
