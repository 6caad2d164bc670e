"""Training the ar-transformer: learning, metrics, checkpoints, frame-skip data checks, NaN, SIGKILL
resume through the fit stages (resume in process, data checks and data parallelism shared with
the other models are in ``test_videomodels_shared.py``)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from viper.core.errors import DatasetError, NonFiniteError
from viper.core.metrics import read_metrics
from viper.videomodels.artransformer import ARTransformer, Config
from viper.videomodels.artransformer import compiled as compiled_module
from viper.videomodels.artransformer import train as train_module
from viper.videomodels.testing import GRID, VOCAB, moving_dot, store, synthetic_host, write_dataset
from viper.videomodels.testing import stage_context as context

HERE = Path(__file__).parent
SMALL = dict(layers=2, heads=2, width=32, mlp_width=64, seq_len=4, dropout=0.1, attention_dropout=0.1)
TRAIN = dict(batch_size=8, learning_rate=3e-3, warmup_steps=10, ema_decay=0.9, log_every=20)


def test_fit_learns_dynamics_and_logs(tmp_path):
    train = store(moving_dot(12, 20, tasks=2), tasks=2)
    val = store(moving_dot(4, 20, tasks=2, seed=1), tasks=2)
    config = Config(**{**SMALL, **TRAIN, "log_every": 50}, steps=400, eval_every=200, checkpoint_every=200)
    ctx = context(tmp_path, "ar-transformer", tasks=2)
    model = ARTransformer(config)
    metrics = model.fit(train, val, ctx)
    ctx.metrics.close()
    # Uniform codes would cost log2(16) = 4 bits each; a dot moving in its task's direction over a
    # fixed background is predictable but for its start position.
    assert metrics["val_bits_per_code"] < math.log2(VOCAB) / 16, metrics
    records = read_metrics(tmp_path / "wd" / "metrics.jsonl", stage="video_model")
    steps = [r["step"] for r in records]
    assert steps == [50, 100, 150, 200, 250, 300, 350, 400]
    assert [r["step"] for r in records if "val_bits_per_code" in r] == [200, 400]
    assert records[0]["train_bits_per_code"] > records[-1]["train_bits_per_code"]
    assert list((tmp_path / "wd" / "tb").glob("video_model-*/events.out.tfevents.*"))
    checkpoints = sorted(p.name for p in (ctx.directory / "checkpoints").iterdir())
    assert checkpoints == ["step_00000200", "step_00000400"]
    # The trained (EMA) model expects the motion: the same frames out of order are unlikely.
    codes = np.stack([e for e, _ in moving_dot(4, 8, tasks=2, seed=7)])
    tasks = np.arange(4) % 2
    shuffled = codes[:, np.random.default_rng(0).permutation(8)]
    real, fake = model.log_prob(codes, tasks)[:, 2:].mean(), model.log_prob(shuffled, tasks)[:, 2:].mean()
    assert real > fake + 3, (real, fake)


def test_too_few_frames_at_frame_skip(tmp_path):
    strided = Config(**SMALL, **TRAIN, steps=5, frame_skip=2)  # 7 frames needed
    with pytest.raises(DatasetError, match="at frame_skip 2"):
        ARTransformer(strided).fit(store(moving_dot(2, 6)), store([]), context(tmp_path, "ar-transformer"))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    real = train_module.make_train_step

    def poisoned(*args, **kwargs):
        step = real(*args, **kwargs)

        def run(state, batch):
            new_state, loss = step(state, batch)
            return new_state, loss * np.nan if int(new_state["step"]) == 5 else loss

        return run

    monkeypatch.setattr(train_module, "make_train_step", poisoned)
    monkeypatch.setattr(compiled_module, "_CACHE", {})  # compile the poisoned step, forget it after
    config = Config(**SMALL, **TRAIN, steps=10, checkpoint_every=2)
    ctx = context(tmp_path, "ar-transformer")
    with pytest.raises(NonFiniteError, match="training loss became nan at step 5; the last good checkpoint is kept"):
        ARTransformer(config).fit(store(moving_dot(4, 8)), store([]), ctx)
    checkpoints = ctx.directory / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step_00000002", "step_00000004"]


def stage_dir(workdir: Path) -> Path | None:
    found = sorted(workdir.glob("video_model-*"))
    return found[0] if found else None


FIT_OPTIONS = [
    "layers=2",
    "heads=2",
    "width=32",
    "mlp_width=64",
    "seq_len=4",
    "batch_size=8",
    "learning_rate=3e-3",
    "warmup_steps=10",
    "ema_decay=0.9",
    "dropout=0.1",
    "steps=240",
    "log_every=20",
    "eval_every=80",
    "checkpoint_every=20",
]


def run_entry(data: Path, workdir: Path) -> subprocess.Popen:
    env = {**os.environ, "VIPER_PROGRESS": "0"}
    return subprocess.Popen(
        [sys.executable, str(HERE / "fit_entry.py"), str(data), str(workdir), *FIT_OPTIONS],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_sigkill_resume_end_to_end(tmp_path):
    """fit-tokenizer + fit-model stages in a subprocess, SIGKILLed once a checkpoint exists, then
    rerun: the final weights and logged metrics equal an uninterrupted run's."""
    data = write_dataset(tmp_path / "data", moving_dot(10, 16, tasks=2), tasks=2)

    full = run_entry(data, tmp_path / "full")
    out, _ = full.communicate(timeout=900)
    assert full.returncode == 0, out

    cut = run_entry(data, tmp_path / "cut")
    deadline = time.time() + 900
    while time.time() < deadline:
        stage = stage_dir(tmp_path / "cut")
        if stage is not None and list((stage / "checkpoints").glob("step_*/meta.json")):
            break
        assert cut.poll() is None, cut.communicate()[0]
        time.sleep(0.2)
    cut.send_signal(signal.SIGKILL)
    cut.communicate(timeout=60)
    stage = stage_dir(tmp_path / "cut")
    assert not (stage / "artifact").exists(), "killed too late: the run had finished"
    killed_at = max(int(p.parent.name.split("_")[1]) for p in (stage / "checkpoints").glob("step_*/meta.json"))
    assert killed_at < 240

    again = run_entry(data, tmp_path / "cut")
    out, _ = again.communicate(timeout=900)
    assert again.returncode == 0, out
    assert f"resuming from step {killed_at}" in out

    def weights(workdir: Path) -> bytes:
        return (stage_dir(workdir) / "artifact" / "weights" / "state.msgpack").read_bytes()

    assert weights(tmp_path / "cut") == weights(tmp_path / "full")

    def metrics(workdir: Path) -> list[dict]:
        records = read_metrics(workdir / "metrics.jsonl", stage="video_model")
        return [{k: v for k, v in r.items() if k != "time"} for r in records]

    assert metrics(tmp_path / "cut") == metrics(tmp_path / "full")
    assert [r["step"] for r in metrics(tmp_path / "full")] == list(range(20, 241, 20))
    # The codes were encoded once and cached in the tokenizer's stage folder.
    assert len(list((tmp_path / "full").glob("tokenizer-*/codes-*/data.npy"))) == 1
    stage_info = json.loads((stage_dir(tmp_path / "full") / "stage.json").read_text())
    assert stage_info["status"] == "done" and stage_info["metrics"]["val_bits_per_code"] < 1.0

    # The saved model loads with one call and finds held-out episodes far likelier than noise.
    from viper.core.components import load_video_model

    model = load_video_model(tmp_path / "full", synthetic_host())
    assert model.tasks == ("task0", "task1") and model.vocab_size == VOCAB and model.code_grid == GRID
    codes = np.stack([e for e, _ in moving_dot(4, 8, tasks=2, seed=9)])
    noise = np.random.default_rng(0).integers(0, VOCAB, codes.shape).astype(np.int32)
    tasks = np.arange(4) % 2
    assert model.log_prob(codes, tasks).mean() > model.log_prob(noise, tasks).mean() + 10


def test_fit_model_stage_checks_preset_and_data(tmp_path):
    """The fit-model stage (viper.core.fitting) refuses an unknown preset, and a dataset whose
    episodes are too short for one clip fails with a DatasetError before any compiling."""
    from viper.core.errors import ConfigError
    from viper.core.fitting import fit_tokenizer, fit_video_model

    host = synthetic_host()
    data = write_dataset(tmp_path / "data", moving_dot(5, 3))
    fit_tokenizer(data, tmp_path / "wd", name="block", host=host, progress=False)
    with pytest.raises(ConfigError, match="--preset nope: video model 'ar-transformer' has the presets paper, quick"):
        fit_video_model(tmp_path / "wd", data, host=host, preset="nope", progress=False)
    with pytest.raises(DatasetError, match="shorter than one training clip of 5 frames"):
        fit_video_model(tmp_path / "wd", data, host=host, preset="quick", progress=False)
