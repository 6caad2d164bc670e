"""``rnd`` and ``amp``: output shapes, finiteness, and that online training does what it should."""

from __future__ import annotations

import numpy as np
import pytest

from viper.core.dataset import DatasetWriter, VideoDataset
from viper.core.errors import ConfigError, ContractError, NonFiniteError, WorkdirError
from viper.core.protocols import RewardContext, StepBatch
from viper.rewards.amp import AMPReward, amp_reward
from viper.rewards.amp import Config as AMPConfig
from viper.rewards.rnd import Config as RNDConfig
from viper.rewards.rnd import RNDReward

SIZE = 16
TINY = dict(size=8, channels=(8, 8), hidden=32, batch_size=16, learning_rate=1e-3)


def batch(frames: np.ndarray, first: bool) -> StepBatch:
    n = len(frames)
    return StepBatch(frames, np.full(n, first), np.zeros(n, np.float32), np.zeros(n, np.int32))


def dot_video(start: int, length: int = 12) -> np.ndarray:
    """A white bar sweeping right one pixel per frame."""
    frames = np.zeros((length, SIZE, SIZE, 3), np.uint8)
    for t in range(length):
        frames[t, 6:10, (start + t) % SIZE] = 255
    return frames


@pytest.fixture
def expert_data(tmp_path) -> VideoDataset:
    writer = DatasetWriter(tmp_path / "expert")
    for start in range(4):
        writer.add("a", dot_video(start))
    return VideoDataset(tmp_path / "expert")


def test_rnd_bonus_falls_on_frames_it_has_trained_on_and_stays_high_on_novel_ones():
    rng = np.random.default_rng(0)
    config = RNDConfig(features=16, normalize_reward=False, **TINY)
    reward = RNDReward(config, RewardContext(tasks=("a",), image_size=(SIZE, SIZE)))
    seen = rng.integers(0, 256, (4, SIZE, SIZE, 3)).astype(np.uint8)
    novel = rng.integers(0, 256, (4, SIZE, SIZE, 3)).astype(np.uint8)
    stream = reward.stream(4)
    first = stream.step(batch(seen, True))
    assert first.shape == (4,) and first.dtype == np.float32 and np.all(np.isfinite(first))
    for _ in range(60):
        out = stream.step(batch(seen, False))
    assert reward.train_steps > 0 and np.isfinite(stream.metrics()["rnd/loss"])
    assert out.mean() < 0.25 * first.mean()
    relabelled = reward.relabel(np.stack([seen, novel], 1))
    assert relabelled.shape == (4, 2) and np.all(np.isfinite(relabelled))
    assert relabelled[:, 1].mean() > 10 * relabelled[:, 0].mean()
    steps = reward.train_steps
    reward.relabel(novel[:, None])
    assert reward.train_steps == steps  # relabel never trains


def test_rnd_update_schedule_and_bad_input():
    reward = RNDReward(
        RNDConfig(update_every=3, updates=2, batch_size=4, size=8, channels=(8,), features=8, hidden=8),
        RewardContext(image_size=(SIZE, SIZE)),
    )
    stream = reward.stream(2)
    frames = np.zeros((2, SIZE, SIZE, 3), np.uint8)
    for _ in range(6):
        stream.step(batch(frames, False))
    assert reward.train_steps == 4  # steps 3 and 6, 2 updates each (4 frames stored by step 2)
    with pytest.raises(ContractError, match="expected a batch of 2"):
        stream.step(batch(np.zeros((3, SIZE, SIZE, 3), np.uint8), False))
    with pytest.raises(ConfigError, match="input"):
        RNDReward(RNDConfig(input="pixels"), RewardContext())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="needs a workdir"):
        RNDReward(RNDConfig(input="codes"), RewardContext())
    reward.net.params = {"trunk": reward.net.params["trunk"], "head": _nan_tree(reward.net.params["head"])}
    with pytest.raises(NonFiniteError, match="step 6 for env 0"):
        stream.step(batch(frames, False))


def _nan_tree(tree):
    import jax

    return jax.tree_util.tree_map(lambda x: x * np.nan, tree)


def test_amp_reward_formula():
    np.testing.assert_allclose(amp_reward(np.array([1.0, -1.0, 3.0, 0.0, 5.0])), [1.0, 0.0, 0.0, 0.75, 0.0])


def test_amp_learns_to_tell_expert_clips_from_agent_clips(expert_data):
    rng = np.random.default_rng(0)
    context = RewardContext(tasks=("a",), image_size=(SIZE, SIZE), expert_data=expert_data)
    reward = AMPReward(AMPConfig(**TINY), context)
    stream = reward.stream(4)
    for t in range(80):
        out = stream.step(batch(rng.integers(0, 256, (4, SIZE, SIZE, 3)).astype(np.uint8), t == 0))
        assert out.shape == (4,) and out.dtype == np.float32 and np.all((out >= 0) & (out <= 1))
    metrics = stream.metrics()
    assert reward.train_steps > 0 and metrics["amp/d_expert"] > metrics["amp/d_agent"]
    expert = reward.relabel(dot_video(5)[None])
    agent = reward.relabel(rng.integers(0, 256, (1, 12, SIZE, SIZE, 3)).astype(np.uint8))
    assert expert.shape == (1, 12) and expert.mean() > agent.mean() + 0.3


def test_amp_stores_only_clips_inside_one_episode(expert_data):
    context = RewardContext(tasks=("a",), image_size=(SIZE, SIZE), expert_data=expert_data)
    reward = AMPReward(AMPConfig(frames=3, **{**TINY, "batch_size": 1000}), context)
    stream = reward.stream(2)
    video = dot_video(0, 6)
    for t in range(6):
        stream.step(batch(np.stack([video[t], video[t]]), t == 0 or t == 4))
    # Each env: frames 2, 3 complete a clip (t = 2, 3), the reset at t = 4 needs 3 new frames again.
    assert len(reward.buffer) == 4
    np.testing.assert_array_equal(reward.buffer.items[0, :, :, :, 0].max(axis=(1, 2)) > 0, [True] * 3)


def test_amp_needs_expert_videos_of_the_env_task(expert_data):
    with pytest.raises(ConfigError, match="needs expert videos"):
        AMPReward(AMPConfig(**TINY), RewardContext(tasks=("a",), image_size=(SIZE, SIZE)))
    with pytest.raises(ConfigError, match="none of the env's"):
        AMPReward(AMPConfig(**TINY), RewardContext(tasks=("b",), image_size=(SIZE, SIZE), expert_data=expert_data))
    with pytest.raises(ConfigError, match="renders 32x32"):
        AMPReward(AMPConfig(**TINY), RewardContext(tasks=("a",), image_size=(32, 32), expert_data=expert_data))
    reward = AMPReward(
        AMPConfig(**TINY), RewardContext(tasks=("a", "b"), image_size=(SIZE, SIZE), expert_data=expert_data)
    )
    with pytest.raises(ConfigError, match="no expert videos of task"):
        reward.stream(2, np.array([0, 1]))


def test_rnd_on_the_workdir_tokenizers_codes(host, make_workdir):
    from viper.core.rewarding import build_reward
    from viper.rewards.testing import FakeTokenizer, frames_from_codes

    context = RewardContext(workdir=make_workdir(FakeTokenizer()), tasks=("a",), image_size=(8, 8))
    options = {"input": "codes", "channels": "8", "features": "8", "hidden": "16", "batch_size": "4"}
    reward = build_reward("rnd", context, options, host)
    frames = frames_from_codes(np.random.default_rng(0).integers(0, 4, (3, 5, 2, 2)))
    out = reward.relabel(frames)
    assert out.shape == (3, 5) and np.all(np.isfinite(out))
    stream = reward.stream(3)
    for t in range(5):
        assert stream.step(batch(frames[:, t], t == 0)).shape == (3,)
    assert reward.buffer.items.dtype == np.int32 and len(reward.buffer) == 15 and reward.train_steps > 0
    with pytest.raises(WorkdirError, match="trained on \\(8, 8\\) frames"):
        build_reward("rnd", RewardContext(workdir=context.workdir, image_size=(16, 16)), options, host)
