"""Fixtures for the agent tests (their tiny env and driver are in viper.agents.testing)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # Small nets on a shared CPU run fastest single-threaded.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
