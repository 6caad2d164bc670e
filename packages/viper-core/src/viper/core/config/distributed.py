"""Multi-host JAX settings shared by the JAX components' Configs (plain Python: no jax import)."""

from __future__ import annotations

import dataclasses

from viper.core.config.constraints import option


@dataclasses.dataclass
class DistributedConfig:
    """Settings for ``jax.distributed.initialize``; leave all None on one host."""

    coordinator_address: str | None = None
    """``host:port`` of process 0 for ``jax.distributed.initialize``; None trains on one host."""
    num_processes: int | None = option(None, ge=1)
    """Number of processes (hosts) in a multi-host run."""
    process_id: int | None = option(None, ge=0)
    """This process's index in ``[0, num_processes)``."""

    def distributed(self) -> DistributedConfig:
        """Just the multi-host settings (for ``viper.core.jaxtools.init_distributed``)."""
        return DistributedConfig(self.coordinator_address, self.num_processes, self.process_id)
