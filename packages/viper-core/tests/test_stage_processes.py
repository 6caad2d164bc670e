"""A stage run by several processes: process 0 writes it, the others train alongside and wait."""

from __future__ import annotations

import threading
import time

import pytest

from viper.core.errors import WorkdirError
from viper.core.stages.fit import is_lead
from viper.core.stages.lifecycle import run_stage
from viper.core.workdir import Workdir


class Options:
    def __init__(self, process_id):
        self.process_id = process_id


def test_only_process_zero_or_a_lone_process_leads():
    assert is_lead(Options(None)) and is_lead(Options(0)) and not is_lead(Options(1))
    assert is_lead(object())  # a component without multi-process settings


def test_a_follower_writes_nothing_and_returns_once_the_lead_finished(tmp_path):
    workdir = Workdir(tmp_path / "run")
    stage = workdir.stage("tokenizer", {"x": 1}, component="vqgan")
    seen = []

    def follower_work(ctx):
        ctx.metrics.log(1, {"loss": 1.0})  # discarded
        seen.append(ctx.directory)
        return {"loss": 1.0}

    results = {}
    follower = threading.Thread(
        target=lambda: results.update(out=run_stage(stage, follower_work, lead=False, progress=False, wait_s=30))
    )
    follower.start()
    time.sleep(0.5)
    assert follower.is_alive() and not (stage.directory / "stage.json").exists()
    assert not (workdir.path / "metrics.jsonl").exists()
    run_stage(stage, lambda ctx: ctx.metrics.log(1, {"loss": 2.0}) or {"loss": 2.0}, progress=False)
    follower.join(10)
    assert not follower.is_alive() and results["out"] == {"loss": 1.0} and seen == [stage.directory]
    assert stage.info["metrics"] == {"loss": 2.0} and stage.info["attempts"] == 1
    assert '"loss": 2.0' in (workdir.path / "metrics.jsonl").read_text()
    assert '"loss": 1.0' not in (workdir.path / "metrics.jsonl").read_text()


def test_a_follower_whose_lead_never_finishes_says_the_workdir_must_be_shared(tmp_path):
    stage = Workdir(tmp_path / "run").stage("video_model", {"x": 1})
    with pytest.raises(WorkdirError, match="process 0 did not finish the video_model stage within 0 s.*shared"):
        run_stage(stage, lambda ctx: {}, lead=False, progress=False, wait_s=0.3)
