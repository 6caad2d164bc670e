"""Copying JAX arrays to the host, on one process or every process of a multi-host job."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def to_host(tree: Any) -> Any:
    """A writable numpy copy of every leaf of ``tree``, on every process of a multi-host job.

    * an array this process holds entirely: ``jax.device_get``;
    * an array replicated over several hosts (parameters, metrics): this process's replica, with
      no communication, so one process alone may call it (e.g. to log);
    * an array sharded over several hosts (a global batch): gathered with
      ``multihost_utils.process_allgather``, a collective: every process must call ``to_host`` at
      the same point.

    The copy matters: ``np.asarray`` of a jax array is read-only and may share its memory, and
    whatever is mutated or handed to another framework must own its data.
    """

    def one(x: Any) -> np.ndarray:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            if x.sharding.is_fully_replicated:
                x = x.addressable_data(0)
            else:
                from jax.experimental import multihost_utils

                x = multihost_utils.process_allgather(x, tiled=True)
        return np.array(jax.device_get(x), copy=True)

    return jax.tree_util.tree_map(one, tree)
