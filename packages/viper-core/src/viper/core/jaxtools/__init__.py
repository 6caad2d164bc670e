"""Helpers shared by viper's JAX components: data-parallel sharding, multi-host setup, host copies,
the NaN check of a training step, and the on-disk format of weights and component folders.

This subpackage imports jax, flax and optax, which viper-core's base install does not: they come
with the ``viper-core[jax]`` extra, and every JAX package (viper-tokenizers, viper-videomodels,
viper-rewards) depends on ``viper-core[jax]`` rather than listing jax itself. Keeping the helpers
here (one place, beside the contracts they serve) instead of in a separate distribution means one
version of them per install; only the extra's users import it, and nothing in viper-core outside
this subpackage may (``viper-run plugins`` never imports jax).
"""

from viper.core.jaxtools.artifact import ArtifactFormat
from viper.core.jaxtools.checkpoint import CheckpointManager, load_pytree, save_pytree
from viper.core.jaxtools.host import to_host
from viper.core.jaxtools.mesh import (
    DistributedConfig,
    data_mesh,
    data_parallel_step,
    init_distributed,
    replicate,
    shard_batch,
    training_mesh,
)
from viper.core.jaxtools.train import assert_finite, ema_update

__all__ = [
    "ArtifactFormat",
    "CheckpointManager",
    "DistributedConfig",
    "assert_finite",
    "data_mesh",
    "data_parallel_step",
    "ema_update",
    "init_distributed",
    "load_pytree",
    "replicate",
    "save_pytree",
    "shard_batch",
    "to_host",
    "training_mesh",
]
