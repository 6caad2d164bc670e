"""Tiny inputs for the contract checks: expert episodes of the fake suite, fit contexts, and a
reward context whose workdir holds a trained fake tokenizer and video model.

Everything is small enough that a check fits a component in seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from viper.core.dataset import MANIFEST, DatasetWriter, EpisodeStore, VideoDataset
from viper.core.metrics import MetricsLogger
from viper.core.protocols import RewardContext
from viper.core.testing.fake_suite import FakeSuite
from viper.core.testing.fake_tokenizer import FakeTokenizer
from viper.core.testing.fake_video_model import FakeVideoModel
from viper.core.workdir import StageContext, Workdir

TASKS = ("reach", "steer")


def expert_episodes(
    size: int = 16, episodes: int = 4, seed: int = 0, tasks: tuple[str, ...] = TASKS, length: int = 12
) -> tuple[list[np.ndarray], np.ndarray]:
    """``episodes`` expert episodes per task of the fake suite: (frames ``uint8[T,size,size,3]``
    each, task ids); every episode has ``length + 1`` frames."""
    suite = FakeSuite()
    arrays, ids = [], []
    for task_id, task in enumerate(tasks):
        env = suite.make(task, size=size, episode_length=length, speed=1.0)
        expert = suite.expert(task, env)
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed + 1000 * task_id + episode)
            expert.reset()
            frames = [obs["image"]]
            for _ in range(length):
                obs, _, terminated, truncated, _ = env.step(expert.act(obs))
                frames.append(obs["image"])
            arrays.append(np.stack(frames))
            ids.append(task_id)
    return arrays, np.asarray(ids, np.int32)


def frame_stores(size: int = 16, seed: int = 0) -> tuple[EpisodeStore, EpisodeStore]:
    """(train, val) stores of fake-suite frames."""
    arrays, ids = expert_episodes(size, episodes=4, seed=seed)
    val = np.arange(len(arrays)) % 4 == 3
    pick = lambda keep: EpisodeStore([a for a, k in zip(arrays, keep) if k], ids[keep], TASKS)  # noqa: E731
    return pick(~val), pick(val)


def stage_context(directory: Path, stage: str, options: dict[str, Any], seed: int = 0) -> StageContext:
    """What a fit stage hands a component, writing into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    metrics = MetricsLogger(directory / "metrics.jsonl", stage=stage)
    return StageContext(directory=directory, metrics=metrics, seed=seed, progress=False, options=options)


def fit_tokenizer(tokenizer: Any, directory: Path, size: int = 16) -> Any:
    """``tokenizer`` (untrained) fitted on fake-suite frames; returns it."""
    train, val = frame_stores(size)
    ctx = stage_context(directory, "tokenizer", {"tasks": TASKS, "image_size": (size, size)})
    try:
        tokenizer.fit(train, val, ctx)
    finally:
        ctx.metrics.close()
    return tokenizer


def code_stores(tokenizer: Any, size: int = 16) -> tuple[EpisodeStore, EpisodeStore]:
    """(train, val) stores of the fake-suite frames encoded by ``tokenizer``."""
    train, val = frame_stores(size)
    return train.map(tokenizer.encode), val.map(tokenizer.encode)


def fit_video_model(model: Any, tokenizer: Any, directory: Path) -> Any:
    """``model`` (untrained) fitted on ``tokenizer``'s codes of fake-suite frames; returns it."""
    size = tuple(tokenizer.image_size)
    train, val = code_stores(tokenizer, size[0])
    options = {
        "tasks": TASKS,
        "vocab_size": int(tokenizer.vocab_size),
        "code_grid": tuple(tokenizer.code_grid),
        "image_size": size,
    }
    ctx = stage_context(directory, "video_model", options)
    try:
        model.fit(train, val, ctx)
    finally:
        ctx.metrics.close()
    return model


def _finished_stage(workdir: Workdir, name: str, config: dict[str, Any], component: Any) -> str:
    stage = workdir.stage(name, config, component="fake")
    stage.start()
    artifact = stage.directory / "artifact"
    artifact.mkdir(parents=True, exist_ok=True)
    component.save(artifact)
    stage.finish({})
    return stage.directory.name


def reward_context(directory: Path, size: int = 16, host: Any = None, seed: int = 0) -> RewardContext:
    """A :class:`RewardContext` over the fake suite's tasks: its workdir (``directory``) holds
    finished ``tokenizer`` and ``video_model`` stages of the fake components (load them with
    ``host``, e.g. :func:`viper.core.testing.fake_host`) and a collected expert dataset."""
    from viper.core.testing.fake_plugin import fake_host

    host = host or fake_host()
    workdir = Workdir(directory)
    data = directory / "expert-data"
    if not (data / MANIFEST).exists():
        writer = DatasetWriter(data, source={"suite": "fake"})
        arrays, ids = expert_episodes(size)
        for frames, task_id in zip(arrays, ids):
            writer.add(TASKS[task_id], frames)
    tokenizer = fit_tokenizer(FakeTokenizer(), directory / "fit-tokenizer", size)
    model = fit_video_model(FakeVideoModel(), tokenizer, directory / "fit-video-model")
    folder = _finished_stage(workdir, "tokenizer", {"contract": "fake"}, tokenizer)
    _finished_stage(workdir, "video_model", {"contract": "fake", "tokenizer": folder}, model)
    suite = FakeSuite()
    masks = {task: mask for task in TASKS if (mask := suite.image_mask(task, size)) is not None}
    return RewardContext(
        workdir=workdir,
        expert_data=VideoDataset(data),
        tasks=TASKS,
        image_size=(size, size),
        image_masks=masks,
        seed=seed,
        host=host,
    )
