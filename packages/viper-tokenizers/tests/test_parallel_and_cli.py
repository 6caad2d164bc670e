"""Data parallelism over two (virtual CPU) devices, and `viper-run fit-tokenizer` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from viper.tokenizers.testing import TINY, synthetic_episode

# Run in a fresh interpreter: XLA reads the device count when jax starts.
TWO_DEVICES = r"""
import json
import jax, numpy as np
from viper.tokenizers.testing import synthetic_store, tiny_config
from viper.core.jaxtools import data_mesh, data_parallel_step, replicate, shard_batch
from viper.tokenizers.vqgan.train_step import VQGANModel

assert jax.device_count() == 2, jax.devices()
import optax
config = tiny_config(dead_code_threshold=0.5)
model = VQGANModel(config)
# Plain SGD: its update is linear in the gradient, so equal gradients give equal parameters to
# float precision. (AdamW's first step is lr * sign(gradient), which turns float-order noise in
# elements whose gradient is ~0 into differences of 2 * lr; it is elementwise on the same
# gradients, so SGD checks everything data parallelism could get wrong.)
model.tx = model.disc_tx = optax.sgd(config.learning_rate)
frames = np.concatenate(synthetic_store(2).arrays)[:8]
results = {}
for name, devices in (("one", jax.devices()[:1]), ("two", jax.devices())):
    mesh = data_mesh(devices)
    state = replicate(model.init_state(0), mesh)
    # the adversarial step holds every term: reconstruction, commitment, EMA codebook with
    # restarts (all codes restart at step 1), adaptive weight and the discriminator update
    step = data_parallel_step(lambda s, b, p: model.train_step(s, b, p, None, True), mesh)
    losses, after_one = [], None
    for i in range(2):
        batch = shard_batch(frames[::-1] if i else frames, mesh)
        assert len(batch.sharding.device_set) == len(devices)
        state, metrics = step(state, batch, None)
        losses.append(float(metrics["loss"]))
        after_one = after_one or [np.asarray(x) for x in jax.tree_util.tree_leaves(state)]
    results[name] = (losses, after_one)
(l1, s1), (l2, s2) = results["one"], results["two"]
worst = max(float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in zip(s1, s2))
print(json.dumps({"losses_one": l1, "losses_two": l2, "max_param_diff": worst, "leaves": len(s1)}))
"""


def test_two_devices_match_one_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", TWO_DEVICES], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # both steps' losses agree, and so does the whole state after step 1 (weights, codebook and its
    # statistics, discriminator)
    np.testing.assert_allclose(result["losses_one"], result["losses_two"], rtol=1e-5)
    assert result["leaves"] > 20
    assert result["max_param_diff"] < 1e-5, result


def write_dataset(root: Path, episodes: int = 5, size: int = 16) -> Path:
    from viper.core.dataset import DatasetWriter

    writer = DatasetWriter(root, source={"env": "synthetic:squares"})
    rng = np.random.default_rng(0)
    for _ in range(episodes):
        writer.add("squares", synthetic_episode(rng, 10, size))
    return root


def viper_run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VIPER_PROGRESS": "0"}
    return subprocess.run(
        [sys.executable, "-m", "viper.core.cli", *args], capture_output=True, text=True, env=env, timeout=600
    )


def tiny_options(**changes) -> list[str]:
    options = {**TINY, "steps": 3, "log_every": 1, "checkpoint_every": 2, **changes}
    out = []
    for key, value in options.items():
        text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        out += ["--set", f"tokenizer.{key}={text}"]
    return out


def test_fit_tokenizer_command_end_to_end(tmp_path):
    data = write_dataset(tmp_path / "data")
    workdir = tmp_path / "run"
    proc = viper_run("fit-tokenizer", "--data", str(data), "--workdir", str(workdir), *tiny_options())
    assert proc.returncode == 0, proc.stderr[-3000:]
    stage = next(workdir.glob("tokenizer-*"))
    assert (stage / "artifact/config.json").is_file() and (stage / "artifact/weights/state.msgpack").is_file()
    assert (stage / "reconstructions.png").read_bytes().startswith(b"\x89PNG")
    info = json.loads((stage / "stage.json").read_text())
    assert info["status"] == "done" and info["component"] == "vqgan"
    assert info["metrics"]["val_psnr"] > 0 and info["metrics"]["steps"] == 3
    lines = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "loss" in line] == [1, 2, 3]
    assert all(line["stage"] == "tokenizer" for line in lines) and any("val_psnr" in line for line in lines)

    again = viper_run("fit-tokenizer", "--data", str(data), "--workdir", str(workdir), *tiny_options())
    assert again.returncode == 0, again.stderr[-3000:]
    assert "tokenizer: cached in" in again.stdout
    assert len((workdir / "metrics.jsonl").read_text().splitlines()) == len(lines)

    from viper.core.components import load_tokenizer

    tokenizer = load_tokenizer(workdir)
    codes = tokenizer.encode(np.zeros((2, 16, 16, 3), np.uint8))
    assert codes.shape == (2, 4, 4)


def test_fit_tokenizer_command_reports_bad_input_in_one_line(tmp_path):
    data = write_dataset(tmp_path / "data", episodes=2, size=32)
    proc = viper_run("fit-tokenizer", "--data", str(data), "--workdir", str(tmp_path / "run"), *tiny_options())
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "viper-run: error: fit-tokenizer: the dataset's frames are 32x32 but tokenizer.image_size=16; "
        "pass --set tokenizer.image_size=32 (square frames only) or resize the videos"
    ]
    proc = viper_run(
        "fit-tokenizer", "--data", str(data), "--workdir", str(tmp_path / "run"), "--set", "tokenizer.depth=3"
    )
    assert proc.returncode == 2 and "tokenizer.depth: unknown option" in proc.stderr
    proc = viper_run("fit-tokenizer", "--data", str(data), "--workdir", str(tmp_path / "run"), "--preset", "huge")
    assert (
        proc.returncode == 2 and "--preset huge: tokenizer 'vqgan' has the presets paper, quick, light" in proc.stderr
    )
