"""Multi-host JAX settings shared by the JAX components' Configs (plain Python: no jax import)."""

from __future__ import annotations

import dataclasses
from typing import Any

from viper.core.config.constraints import option

#: The fields that place a process in a multi-process run.
PROCESS_FIELDS = ("coordinator_address", "num_processes", "process_id")


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


def single_process(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` (a Config as a dict) with the multi-process settings cleared: what a saved
    model or a stage's name records. N processes train the model one process would, and a model
    loaded later must not try to join the run that trained it; a one-process config is unchanged."""
    return {k: (None if k in PROCESS_FIELDS else v) for k, v in options.items()}
