"""Data parallelism over every JAX device (and every host) with ``jax.sharding``.

Parameters are replicated; batches are split along their leading axis over a 1-D mesh named
``"data"``. The same code runs on one CPU (a mesh of one device), on
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (N CPU devices) and on several hosts after
:func:`init_distributed`.
"""

from __future__ import annotations

import sys
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from viper.core.config import DistributedConfig
from viper.core.errors import ConfigError

AXIS = "data"


_initialized = False


def init_distributed(config: DistributedConfig | None) -> None:
    """Join a multi-host job when a coordinator is configured; a no-op otherwise."""
    global _initialized
    if config is None or config.coordinator_address is None or _initialized:
        return
    if config.num_processes is None or config.process_id is None:
        raise ConfigError("distributed: coordinator_address needs num_processes and process_id too")
    if config.process_id >= config.num_processes:
        raise ConfigError(
            f"distributed: process_id={config.process_id}: expected an integer < num_processes={config.num_processes}"
        )
    if jax.config.jax_cpu_collectives_implementation is None:
        # CPU devices of different processes exchange gradients through gloo (the default of
        # recent jax); with none set, a CPU run would fail at its first cross-process step
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=config.coordinator_address,
        num_processes=config.num_processes,
        process_id=config.process_id,
    )
    _initialized = True
    print(
        f"jax.distributed: process {jax.process_index()} of {jax.process_count()}, {jax.device_count()} devices "
        f"in all (coordinator {config.coordinator_address})",
        file=sys.stderr,
        flush=True,
    )


def data_mesh(devices: list[Any] | None = None) -> Mesh:
    """A 1-D mesh over ``devices`` (default: every device of every process)."""
    devices = list(jax.devices() if devices is None else devices)
    return Mesh(np.asarray(devices), (AXIS,))


def training_mesh(batch_size: int, option: str, distributed: DistributedConfig | None = None) -> Mesh:
    """Join the multi-host job ``distributed`` describes (if any) and return the mesh over every
    device, checking that the global ``batch_size`` (the option ``option``, e.g.
    ``tokenizer.batch_size``, in the error) splits evenly among the devices."""
    init_distributed(distributed)
    mesh = data_mesh()
    devices = mesh.devices.size
    if batch_size % devices:
        raise ConfigError(
            f"--set {option}={batch_size}: expected a multiple of the {devices} devices (each takes an equal share)"
        )
    return mesh


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(AXIS))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def shard_batch(batch: Any, mesh: Mesh) -> Any:
    """Split every array of ``batch`` (this process's share) along axis 0 over the mesh.

    The per-process batch must divide evenly among this process's devices.
    """
    local = len([d for d in mesh.devices.flat if d.process_index == jax.process_index()])
    sharding = batch_sharding(mesh)

    def put(x: Any) -> Any:
        x = np.asarray(x)
        if x.shape[0] % local:
            raise ConfigError(
                f"batch size {x.shape[0]} does not divide among {local} devices; choose a multiple of {local}"
            )
        if jax.process_count() == 1:
            return jax.device_put(x, sharding)
        return jax.make_array_from_process_local_data(sharding, x)

    return jax.tree_util.tree_map(put, batch)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place a copy of ``tree`` on every device of the mesh."""
    return jax.device_put(tree, replicated_sharding(mesh))


def data_parallel_step(fn: Any, mesh: Mesh, *, batch_argnums: tuple[int, ...] = (1,), donate_state: bool = True) -> Any:
    """Compile ``fn(state, batch, *rest)`` as one data-parallel training step over ``mesh``.

    The arguments at ``batch_argnums`` are split along their leading axis over the mesh (every leaf
    must be batched), every other argument and every output is replicated. Written as if for one
    device, ``fn`` averages its loss over the global batch; XLA (GSPMD) inserts the cross-device
    reductions, so the step equals the single-device step up to float summation order. The same
    function runs on one CPU, on N local devices and, after :func:`init_distributed`, on several
    hosts (pass batches placed by :func:`shard_batch`). The state (argument 0) is donated on
    accelerators, so do not reuse the state passed in.
    """
    replicated = replicated_sharding(mesh)
    batched = batch_sharding(mesh)
    donate = (0,) if donate_state and jax.default_backend() != "cpu" else ()  # CPU ignores donation
    compiled: dict[int, Any] = {}

    def step(*args: Any) -> Any:
        if len(args) not in compiled:
            shardings = tuple(batched if i in batch_argnums else replicated for i in range(len(args)))
            compiled[len(args)] = jax.jit(fn, in_shardings=shardings, out_shardings=replicated, donate_argnums=donate)
        return compiled[len(args)](*args)

    return step
