"""Training maskgit: resume, data parallelism, and (slow) learning the training dynamics."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from viper.core.workdir import Workdir
from viper.videomodels.common import train as shared_train
from viper.videomodels.maskgit import Config, MaskGIT
from viper.videomodels.testing import GRID, VOCAB, moving_dot, store

SMALL = dict(layers=2, heads=2, width=32, mlp_width=64, context=3, dropout=0.1, score_steps=4)
TRAIN = dict(batch_size=8, learning_rate=3e-3, warmup_steps=10, ema_decay=0.9, log_every=20)


def context(tmp_path: Path, tasks: int = 1, seed: int = 0):
    stage = Workdir(tmp_path / "wd").stage("video_model", {"test": 1}, "maskgit")
    stage.start()
    options = {"vocab_size": VOCAB, "code_grid": GRID, "tasks": tuple(f"task{i}" for i in range(tasks))}
    return stage.context(seed=seed, progress=False, options=options)


def test_resume_in_process_matches_uninterrupted(tmp_path, monkeypatch):
    config = Config(**SMALL, **TRAIN, steps=8, checkpoint_every=3)
    data = store(moving_dot(6, 10))
    full = MaskGIT(config)
    full_metrics = full.fit(data, store([]), context(tmp_path / "full"))
    real_save = shared_train.save_checkpoint

    def save_then_die(manager, step, *args, **kwargs):
        real_save(manager, step, *args, **kwargs)
        if step == 6:
            raise KeyboardInterrupt

    monkeypatch.setattr(shared_train, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        MaskGIT(config).fit(data, store([]), context(tmp_path / "cut"))
    monkeypatch.setattr(shared_train, "save_checkpoint", real_save)
    resumed = MaskGIT(config)
    assert resumed.fit(data, store([]), context(tmp_path / "cut")) == full_metrics
    for a, b in zip(*(jax.tree_util.tree_leaves(m.params) for m in (full, resumed))):
        np.testing.assert_array_equal(a, b)


TWO_DEVICES = textwrap.dedent(
    """
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax, numpy as np
    from viper.videomodels.testing import GRID, VOCAB, moving_dot, store
    from viper.core.jaxtools import data_mesh, replicate, shard_batch, to_host
    from viper.videomodels.common.train import ClipSampler, make_optimizer
    from viper.videomodels.maskgit import Config
    from viper.videomodels.maskgit.network import build_network
    from viper.videomodels.maskgit.train import init_state, make_train_step

    assert len(jax.devices()) == 2, jax.devices()
    config = Config(layers=2, heads=2, width=32, mlp_width=64, context=3, batch_size=4, dropout=0.1)
    network, optimizer = build_network(config, VOCAB, GRID, 2, train=True), make_optimizer(config)
    start = to_host(init_state(network, optimizer, seed=0))
    batch = ClipSampler(store(moving_dot(4, 8, tasks=2), tasks=2), 4, 4, 1, 0, 0).sample()
    results = []
    for devices in (jax.devices()[:1], jax.devices()):
        mesh = data_mesh(devices)
        state, loss = make_train_step(network, optimizer, config, mesh)(replicate(start, mesh), shard_batch(batch, mesh))
        results.append((float(loss), to_host(state["params"]), len(state["params"]["head"]["kernel"].sharding.device_set)))
    (loss1, params1, n1), (loss2, params2, n2) = results
    assert (n1, n2) == (1, 2), (n1, n2)
    assert abs(loss1 - loss2) < 1e-5 * abs(loss1), (loss1, loss2)
    for a, b in zip(jax.tree_util.tree_leaves(params1), jax.tree_util.tree_leaves(params2)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    print("ok", loss1, loss2)
    """
)


def test_one_step_on_two_devices_equals_one_device():
    result = subprocess.run([sys.executable, "-c", TWO_DEVICES], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok")


@pytest.mark.slow
def test_fit_learns_dynamics(tmp_path):
    """Trained on a dot moving in its task's direction, the model finds held-out episodes far
    likelier than the same frames shuffled in time."""
    train = store(moving_dot(12, 20, tasks=2), tasks=2)
    val = store(moving_dot(4, 20, tasks=2, seed=1), tasks=2)
    # Batches of 32: with 8 the model learns each frame's marginal long before it uses the context.
    options = {**SMALL, **TRAIN, "dropout": 0.0, "batch_size": 32}
    model = MaskGIT(Config(**options, steps=900, eval_every=900, checkpoint_every=900))
    metrics = model.fit(train, val, context(tmp_path, tasks=2))
    # Uniform codes cost 4 bits each; knowing the dot's start leaves nearly nothing to guess.
    assert metrics["val_bits_per_code"] < 0.15, metrics
    codes = np.stack([e for e, _ in moving_dot(4, 8, tasks=2, seed=7)])
    tasks = np.arange(4) % 2
    shuffled = codes[:, np.random.default_rng(0).permutation(8)]
    real, fake = model.log_prob(codes, tasks)[:, 2:].mean(), model.log_prob(shuffled, tasks)[:, 2:].mean()
    assert real > fake + 3, (real, fake)
