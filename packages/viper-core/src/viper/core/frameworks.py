"""Framework set-up that must happen before JAX or PyTorch first touch a GPU."""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from pathlib import Path


def configure_frameworks() -> None:
    """Let a JAX reward and a PyTorch agent share one GPU: unless the user decided otherwise,
    turn off JAX's default grab of 75% of GPU memory (``XLA_PYTHON_CLIENT_PREALLOCATE=false``)
    when torch is installed and a GPU is visible. Must run before JAX first touches the GPU;
    ``viper-run`` calls it at start-up."""
    if "XLA_PYTHON_CLIENT_PREALLOCATE" in os.environ:
        return
    if torch_gpu_visible():
        os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        if "jax" in sys.modules:
            warnings.warn(
                "jax was imported before viper could turn off its GPU preallocation; set "
                "XLA_PYTHON_CLIENT_PREALLOCATE=false yourself if JAX and PyTorch share a GPU",
                stacklevel=2,
            )


def torch_gpu_visible() -> bool:
    """Whether torch would see a GPU, answered without importing torch when it is not loaded."""
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        return bool(getattr(torch, "cuda", None) and torch.cuda.is_available())
    if importlib.util.find_spec("torch") is None:
        return False
    # Do not import torch just to ask: a driver's device files are enough of a hint.
    return any(Path(p).exists() for p in ("/dev/nvidiactl", "/proc/driver/nvidia/version", "/dev/kfd"))
