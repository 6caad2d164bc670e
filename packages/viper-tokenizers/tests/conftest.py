"""Fixtures for viper-tokenizers' tests (the data and configs they use are in viper.tokenizers.testing)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _jax_compilation_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Share compiled XLA programs between the tests (and their subprocesses) of one session:
    the same tiny model is compiled by several tests, and XLA compiles slowly on CPU."""
    import jax

    directory = str(tmp_path_factory.mktemp("jax-cache"))
    os.environ["JAX_COMPILATION_CACHE_DIR"] = directory
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
