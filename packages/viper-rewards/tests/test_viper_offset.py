"""The ``viper`` reward's ``offset``: an alive baseline for tasks that end when the agent fails."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from viper.core.config import to_dict
from viper.core.dataset import DatasetWriter, VideoDataset
from viper.core.errors import ConfigError
from viper.core.protocols import RewardContext, StepBatch
from viper.core.rewarding import build_reward, reward_context
from viper.core.suites import TableSuite, Task
from viper.rewards.likelihood import Config, ViperReward
from viper.rewards.normalize import symlog
from viper.rewards.testing import LOG_HIT, LOG_MISS, FakeTokenizer, FakeVideoModel, frames_from_codes

CONTEXT = RewardContext(tasks=("a",), image_size=(8, 8))
TERMINATING = dataclasses.replace(CONTEXT, terminates=True)
HIT, MISS = 4 * LOG_HIT, 4 * LOG_MISS  # a frame (4 codes) the fake model predicts / does not


def episode(values: list[int]) -> np.ndarray:
    """Frames ``uint8[T,8,8,3]`` whose 2x2 code grid holds one value per frame."""
    return frames_from_codes(np.asarray(values, np.int32)[:, None, None] * np.ones((1, 2, 2), np.int32))


# With a context of 2, a constant run is predicted (hit) and a jump is not (miss): the expert
# holds still; the "random" policy jumps every step.
EXPERT = episode([0] * 21)
SHAKY = episode([0] * 20 + [1] * 21)  # two misses (the jump, then its wrong extrapolation) in 40 steps
RANDOM = episode([0, 3, 1, 0, 2, 1, 3, 0, 2, 3, 1])


def make(config: Config, context: RewardContext = CONTEXT) -> ViperReward:
    return ViperReward(config, context, tokenizer=FakeTokenizer(), video_model=FakeVideoModel())


def stream_rewards(reward: ViperReward, frames: np.ndarray) -> np.ndarray:
    stream = reward.stream(1)
    out = []
    for t, frame in enumerate(frames):
        batch = StepBatch(frame[None], np.asarray([t == 0]), np.zeros(1, np.float32), np.zeros(1, np.int32))
        out.append(stream.step(batch)[0])
    return np.asarray(out)


@pytest.fixture
def expert_data(tmp_path: Path) -> VideoDataset:
    writer = DatasetWriter(tmp_path / "data")
    for i in range(10):  # one held out: its 5% quantile lies between a miss and a hit
        writer.add("a", SHAKY, key=f"seed-{i}")
    return VideoDataset(tmp_path / "data")


def test_default_is_off_on_a_task_that_does_not_terminate_and_stays_out_of_the_stage_hash():
    default, off = make(Config()), make(Config(offset="none"))
    assert default.baseline is None
    for frames in (EXPERT, RANDOM):
        np.testing.assert_array_equal(default.relabel(frames[None]), off.relabel(frames[None]))
        np.testing.assert_array_equal(stream_rewards(default, frames), stream_rewards(off, frames))
    # The default run's reward_config (and so its agent stage folder) is the one from before the option.
    keys = {"encode_batch", "frame_skip", "incremental", "mask", "mode", "normalize", "scale", "task"}
    assert set(to_dict(Config(normalize="running"))) == keys
    assert to_dict(Config(offset="expert"))["offset"] == "expert"
    assert to_dict(Config(offset_quantile=0.1))["offset_quantile"] == 0.1


@pytest.mark.parametrize("normalize", ["none", "symlog", "running"])
def test_a_number_is_the_raw_reward_that_maps_to_zero_under_every_normalisation(normalize):
    baseline = (HIT + MISS) / 2
    raw = make(Config(offset="none")).relabel(SHAKY[None])[0]
    shifted = make(Config(offset=baseline, normalize=normalize, scale=2.0))
    online = stream_rewards(shifted, SHAKY)
    assert np.all(np.sign(online[1:]) == np.sign(raw[1:] - baseline))
    if normalize == "none":
        np.testing.assert_allclose(online, 2.0 * (raw - baseline), rtol=1e-6)
    elif normalize == "symlog":
        np.testing.assert_allclose(online, 2.0 * (symlog(raw) - symlog(baseline)), rtol=1e-6)
    else:  # standardised by the running std, centred on the baseline rather than the mean
        std = shifted.normalizer.stats.std
        np.testing.assert_allclose(online[-1], 2.0 * (raw[-1] - baseline) / (std + 1e-8), rtol=1e-5)
        np.testing.assert_allclose(shifted.relabel(SHAKY[None])[0], 2.0 * (raw - baseline) / (std + 1e-8), rtol=1e-5)


def test_expert_baseline_is_a_low_quantile_of_held_out_expert_steps(expert_data):
    reward = make(Config(offset="expert", offset_quantile=0.05), dataclasses.replace(CONTEXT, expert_data=expert_data))
    _, held_out = expert_data.split(0.1)
    raw = np.concatenate([make(Config()).relabel(expert_data.load(e)["frames"][None])[0, 1:] for e in held_out])
    assert reward.baseline == pytest.approx(float(np.quantile(raw, 0.05)))
    assert MISS < reward.baseline < HIT


def test_auto_turns_the_expert_offset_on_where_episodes_end_on_failure(expert_data):
    context = dataclasses.replace(TERMINATING, expert_data=expert_data)
    auto, expert = make(Config(), context), make(Config(offset="expert"), context)
    assert auto.baseline is not None and auto.baseline == expert.baseline
    rewards = {name: auto.relabel(frames[None])[0, 1:] for name, frames in [("expert", EXPERT), ("random", RANDOM)]}
    assert np.all(rewards["expert"] > 0)  # every expert-like step beats ending the episode
    assert rewards["random"].sum() < 0
    # Staying alive like the expert for 20 steps beats falling after 5; without the offset it does not.
    off = make(Config(offset="none"), context)
    assert auto.relabel(EXPERT[None])[0, 1:].sum() > auto.relabel(EXPERT[None, :6])[0, 1:].sum()
    assert off.relabel(EXPERT[None])[0, 1:].sum() < off.relabel(EXPERT[None, :6])[0, 1:].sum()
    assert stream_rewards(auto, EXPERT)[1:] == pytest.approx(rewards["expert"])
    assert auto.stream(1).metrics().get("viper/baseline") == auto.baseline


def test_expert_offset_without_expert_videos_of_the_task_is_refused_before_any_work(expert_data):
    with pytest.raises(ConfigError, match=r"reward.offset=auto.*can terminate.*'none' or a number"):
        make(Config(), TERMINATING)
    other = RewardContext(tasks=("b",), image_size=(8, 8), expert_data=expert_data)
    model = FakeVideoModel(tasks=None)  # unconditional: any env task is scored
    with pytest.raises(ConfigError, match=r"reward.offset=expert.*holds no episode of b"):
        ViperReward(Config(offset="expert"), other, tokenizer=FakeTokenizer(), video_model=model)


def test_offset_option_is_validated(host):
    for bad in ("sometimes", "nan"):
        with pytest.raises(ConfigError, match=r"reward.offset"):
            build_reward("viper", CONTEXT, {"offset": bad}, host)


class _Suite(TableSuite):
    name = "toy"
    Config = Config  # any dataclass works for this check
    TASKS = {"ends": Task(make=None, terminates=True), "runs": Task(make=None)}  # type: ignore[arg-type]


def test_the_suites_terminates_flag_reaches_the_reward_context(tmp_path):
    assert _Suite().terminates("ends") and not _Suite().terminates("runs")
    assert reward_context(tmp_path, _Suite(), "ends", size=8, seed=0, host=None).terminates
    assert not reward_context(tmp_path, _Suite(), "runs", size=8, seed=0, host=None).terminates

    class NoFlag:  # a suite written before the flag: its tasks run to their time limit
        def image_mask(self, task: str, size: int = 64) -> None:
            return None

    assert not reward_context(tmp_path, NoFlag(), "x", size=8, seed=0, host=None).terminates


def test_expert_baseline_comes_from_the_workdir_s_collected_data(make_workdir, host):
    wd = make_workdir(FakeTokenizer(), FakeVideoModel())
    stage = wd.stage("data", {"test": "data"})
    stage.start()
    writer = DatasetWriter(stage.directory / "dataset")
    for i in range(10):
        writer.add("a", SHAKY, key=f"seed-{i}")
    stage.finish({})
    context = dataclasses.replace(TERMINATING, workdir=wd)
    reward = build_reward("viper", context, {"normalize": "running"}, host)
    assert MISS < reward.baseline < HIT
    assert np.all(reward.relabel(EXPERT[None])[0, 1:] > 0)
    assert build_reward("viper", dataclasses.replace(context, terminates=False), {}, host).baseline is None
