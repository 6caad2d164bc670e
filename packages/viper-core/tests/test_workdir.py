from __future__ import annotations

import json
import os

import numpy as np
import pytest

from viper.core.atomic import atomic_directory, atomic_save_npz, atomic_write_json, load_npz
from viper.core.errors import WorkdirError
from viper.core.metrics import read_metrics
from viper.core.workdir import Workdir


def test_atomic_json_and_npz(tmp_path) -> None:
    atomic_write_json(tmp_path / "a" / "x.json", {"b": np.float32(1.5), "a": [1, 2]})
    assert json.loads((tmp_path / "a" / "x.json").read_text()) == {"a": [1, 2], "b": 1.5}
    atomic_save_npz(tmp_path / "x.npz", {"f": np.arange(3)})
    assert load_npz(tmp_path / "x.npz")["f"].tolist() == [0, 1, 2]
    with pytest.raises(TypeError, match="pickle"):
        atomic_save_npz(tmp_path / "y.npz", {"o": np.array([{}], dtype=object)})
    assert not (tmp_path / "y.npz").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_atomic_directory_keeps_old_version_on_failure(tmp_path) -> None:
    target = tmp_path / "ckpt"
    with atomic_directory(target) as tmp:
        (tmp / "w.bin").write_bytes(b"v1")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "w.bin").write_bytes(b"partial")
            raise RuntimeError("killed mid-write")
    assert (target / "w.bin").read_bytes() == b"v1"
    with atomic_directory(target) as tmp:
        (tmp / "w.bin").write_bytes(b"v2")
    assert (target / "w.bin").read_bytes() == b"v2"
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]


def test_stage_caching_and_latest(tmp_path) -> None:
    wd = Workdir(tmp_path / "run")
    with pytest.raises(WorkdirError, match=r"no finished tokenizer stage; run `viper-run fit-tokenizer --workdir"):
        wd.latest("tokenizer")
    stage = wd.stage("tokenizer", {"depth": 2}, component="vqgan")
    assert not stage.done
    stage.start()
    ctx = stage.context(seed=1)
    ctx.metrics.log(5, {"loss": np.float32(0.5)})
    ctx.metrics.close()
    stage.finish({"psnr": 30.0})
    assert stage.done and wd.latest("tokenizer") == stage.directory
    assert wd.latest_info("tokenizer")["metrics"] == {"psnr": 30.0}
    again = wd.stage("tokenizer", {"depth": 2}, component="vqgan")
    assert again.done and again.directory == stage.directory
    other = wd.stage("tokenizer", {"depth": 3}, component="vqgan")
    assert not other.done and other.directory != stage.directory
    records = read_metrics(wd.path / "metrics.jsonl", stage="tokenizer")
    assert records[0]["loss"] == 0.5 and records[0]["step"] == 5
    assert list((wd.path / "tb" / stage.directory.name).iterdir())


def test_workdir_that_is_a_file(tmp_path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(WorkdirError, match="not a directory"):
        Workdir(tmp_path / "f")


def test_read_metrics_keeps_last_line_per_step_and_skips_torn_lines(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(
        '{"stage": "s", "step": 1, "loss": 3}\n{"stage": "s", "step": 2, "loss": 2}\n'
        '{"stage": "s", "step": 2, "loss": 1.5}\n{"stage": "s", "st'
    )
    assert [(r["step"], r["loss"]) for r in read_metrics(path)] == [(1, 3), (2, 1.5)]
