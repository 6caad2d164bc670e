"""Helpers shared by viper's JAX components: data-parallel sharding, multi-host setup and safe
checkpoints.

This subpackage imports jax and flax, which viper-core does not depend on: only distributions
that declare jax themselves (viper-tokenizers, viper-videomodels, ...) import it.
"""

from viper.core.jaxtools.checkpoint import CheckpointManager, load_pytree, save_pytree
from viper.core.jaxtools.mesh import (
    DistributedConfig,
    data_mesh,
    data_parallel_step,
    init_distributed,
    replicate,
    shard_batch,
)
from viper.core.jaxtools.train import assert_finite, ema_update, host_copy

__all__ = [
    "CheckpointManager",
    "DistributedConfig",
    "assert_finite",
    "data_mesh",
    "data_parallel_step",
    "ema_update",
    "host_copy",
    "init_distributed",
    "load_pytree",
    "replicate",
    "save_pytree",
    "shard_batch",
]
