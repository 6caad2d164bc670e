"""Slow: two processes joined by ``jax.distributed`` on loopback (CPU collectives through gloo)
train the tokenizer and the video model to the parameters one process reaches on the same data.

Each process draws the same global batch and reads only its rows of it, so the two runs differ
only in the order floats are summed across the two devices. Only process 0 writes the stage
folders; both processes share the workdir, as hosts of a real run share a filesystem.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

pytestmark = pytest.mark.slow

ENV = {**os.environ, "VIPER_PROGRESS": "0", "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
TOKENIZER = {
    "image_size": 16, "base_channels": 8, "channel_multipliers": "1,2", "num_res_blocks": 1, "attention": False,
    "latent_channels": 8, "embed_dim": 8, "codebook_size": 16, "norm_groups": 4, "disc_channels": 8,
    "disc_layers": 1, "disc_start": 2, "batch_size": 8, "steps": 4, "learning_rate": 3e-3, "warmup_steps": 0,
    "log_every": 1, "eval_every": 1000, "checkpoint_every": 1000, "val_frames": 8, "grid_frames": 2,
    "encode_batch": 16,
}  # fmt: skip
VIDEO_MODEL = {
    "layers": 2, "heads": 2, "width": 32, "mlp_width": 64, "seq_len": 4, "dropout": 0.1, "batch_size": 8,
    "steps": 4, "learning_rate": 3e-3, "warmup_steps": 0, "log_every": 2, "eval_every": 2, "checkpoint_every": 2,
    "eval_batches": 1,
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(stage: str, kind: str, options: dict, data: Path, workdir: Path, process: int | None, port: int) -> list:
    cmd = [sys.executable, "-m", "viper.core.cli", stage, "--data", str(data), "--workdir", str(workdir)]
    settings = dict(options)
    if process is not None:
        settings.update(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process)
    for key, value in settings.items():
        cmd += ["--set", f"{kind}.{key}={value}"]
    return cmd


def run_stage(stage: str, kind: str, options: dict, data: Path, workdir: Path, processes: int) -> None:
    """``viper-run STAGE`` with one process, or with two joined on a free loopback port."""
    port = free_port()
    ids = [None] if processes == 1 else list(range(processes))
    procs = [
        subprocess.Popen(
            command(stage, kind, options, data, workdir, i, port),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=ENV,
        )
        for i in ids
    ]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=300)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for i, (proc, out) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, out[-4000:]
        if processes > 1:  # joined the run rather than training alone
            assert f"jax.distributed: process {i} of {processes}, {processes} devices in all" in out, out[-4000:]


def weights(workdir: Path, stage: str) -> dict:
    from viper.core.jaxtools import load_pytree

    folders = list(workdir.glob(f"{stage}-*"))
    assert len(folders) == 1, folders  # both processes used one folder
    tree, _ = load_pytree(folders[0] / "artifact" / "weights")
    return tree


def max_difference(one: dict, two: dict) -> float:
    leaves_one, leaves_two = jax.tree_util.tree_leaves(one), jax.tree_util.tree_leaves(two)
    assert len(leaves_one) == len(leaves_two) > 10
    for a, b in zip(leaves_one, leaves_two):
        # float32 sums over two processes' rows add in another order: ~1e-5 typical, 7e-5 seen once
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=2e-4)
    return max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(leaves_one, leaves_two))


def test_two_processes_train_what_one_process_trains(tmp_path: Path) -> None:
    from viper.core.dataset import DatasetWriter
    from viper.tokenizers.testing import synthetic_episode

    data = tmp_path / "data"
    writer = DatasetWriter(data, source={"env": "synthetic:squares"})
    rng = np.random.default_rng(0)
    for _ in range(8):
        writer.add("squares", synthetic_episode(rng, 12, 16))

    for processes in (1, 2):
        workdir = tmp_path / f"run{processes}"
        run_stage("fit-tokenizer", "tokenizer", TOKENIZER, data, workdir, processes)
        run_stage("fit-model", "video_model", VIDEO_MODEL, data, workdir, processes)

    for stage in ("tokenizer", "video_model"):
        one, two = weights(tmp_path / "run1", stage), weights(tmp_path / "run2", stage)
        print(f"{stage}: max |one process - two processes| = {max_difference(one, two):.3g}")
    # process 0 alone wrote the stage files, and the video model's saved config joins no run
    (folder,) = (tmp_path / "run2").glob("video_model-*")
    assert (folder / "stage.json").is_file() and "127.0.0.1" not in (folder / "artifact" / "config.json").read_text()
    assert not list((tmp_path / "run2").glob("video_model-*/checkpoints/sampler_*"))
