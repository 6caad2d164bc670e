"""viper.core.jaxtools' host copies and saved-component format (used by vqgan and ar-transformer)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest


def test_to_host_returns_writable_numpy_copies_of_every_leaf():
    import jax.numpy as jnp

    from viper.core.jaxtools import to_host

    tree = {"a": jnp.arange(4.0), "b": (np.ones(2, np.int32), 3)}
    host = to_host(tree)
    assert isinstance(host["a"], np.ndarray) and host["a"].flags.writeable
    host["a"][0] = 7.0  # a copy: the device array is untouched
    assert float(tree["a"][0]) == 0.0
    host["b"][0][0] = 5
    assert tree["b"][0][0] == 1
    assert host["b"][1] == np.asarray(3) and isinstance(host["b"][1], np.ndarray)


TWO_DEVICES = """
import jax, numpy as np
from viper.core.jaxtools import data_mesh, replicate, shard_batch, to_host
mesh = data_mesh()
assert mesh.devices.size == 2
x = np.arange(8.0, dtype=np.float32).reshape(4, 2)
for placed in (replicate(x, mesh), shard_batch(x, mesh)):
    host = to_host(placed)
    assert host.flags.writeable and host.dtype == np.float32
    np.testing.assert_array_equal(host, x)
print("ok")
"""


def test_to_host_gathers_replicated_and_sharded_arrays_over_two_devices():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", TWO_DEVICES], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_artifact_format_round_trip_and_header_errors(tmp_path):
    from viper.core.errors import WorkdirError
    from viper.core.jaxtools import ArtifactFormat

    fmt = ArtifactFormat("viper-test", 2, "a test model", "model config", "; make one")
    weights = {"dense": {"kernel": np.ones((2, 3), np.float32)}}
    fmt.save(tmp_path / "m", {"config": {"width": 3}}, weights, {"architecture": "x"})
    assert fmt.read_header(tmp_path / "m") == {"format": "viper-test", "version": 2, "config": {"width": 3}}
    loaded, meta = fmt.load_weights(tmp_path / "m", {"dense": {"kernel": np.zeros((2, 3), np.float32)}})
    np.testing.assert_array_equal(loaded["dense"]["kernel"], weights["dense"]["kernel"])
    assert meta == {"format": "viper-test", "architecture": "x"}
    with pytest.raises(WorkdirError, match=r"parameter 'dense/kernel' has shape \(2, 3\)"):
        fmt.load_weights(tmp_path / "m", {"dense": {"kernel": np.zeros((3, 3), np.float32)}})
    other = ArtifactFormat("viper-test", 3, "a test model", "model config", "; make one")
    with pytest.raises(WorkdirError, match=r"model config version 2; this viper reads version 3; make one"):
        other.read_header(tmp_path / "m")
    with pytest.raises(WorkdirError, match=r"not a test model \(no config.json\); make one"):
        fmt.read_header(tmp_path / "missing")
