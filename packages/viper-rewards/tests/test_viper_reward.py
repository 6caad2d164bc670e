"""The ``viper`` likelihood reward against a hand-built model whose likelihoods are known."""

from __future__ import annotations

import numpy as np
import pytest

from viper.core.errors import ConfigError, ContractError, NonFiniteError, WorkdirError
from viper.core.protocols import Reward, RewardContext, RewardStream, StepBatch
from viper.core.rewarding import build_reward
from viper.rewards.likelihood import Config, ViperReward
from viper.rewards.testing import LOG_HIT, LOG_MISS, LOG_UNIFORM, FakeTokenizer, FakeVideoModel, frames_from_codes

CONTEXT = RewardContext(tasks=("a",), image_size=(8, 8))


def uniform_codes(values: list[int]) -> np.ndarray:
    """One frame per value, every grid position holding that code: ``int[T,2,2]``."""
    return np.asarray(values, np.int32)[:, None, None] * np.ones((1, 2, 2), np.int32)


def make(config: Config | None = None, ctx: RewardContext = CONTEXT, **model) -> ViperReward:
    return ViperReward(config or Config(), ctx, tokenizer=FakeTokenizer(), video_model=FakeVideoModel(**model))


def step(stream, frames: np.ndarray, is_first, task_ids=None) -> np.ndarray:
    n = len(frames)
    ids = np.zeros(n, np.int32) if task_ids is None else task_ids
    return stream.step(StepBatch(frames, np.asarray(is_first, bool), np.zeros(n, np.float32), ids))


def run_stream(reward, episodes: np.ndarray) -> np.ndarray:
    """Feed ``frames[B,T]`` through a fresh stream, frame 0 starting each episode."""
    stream = reward.stream(len(episodes))
    return np.stack([step(stream, episodes[:, t], np.full(len(episodes), t == 0)) for t in range(episodes.shape[1])], 1)


# Frame codes 0,0,0,1,2 (every position the same) with a context of 2 frames:
#   r0: no context -> uniform; r1, r2: repeat predicted -> hit; r3: 1 after 0,0 -> miss;
#   r4: 2 after 0,1 (prediction 1 + (1 - 0) = 2) -> hit.
SEQUENCE = [0, 0, 0, 1, 2]
EXPECTED = 4 * np.array([LOG_UNIFORM, LOG_HIT, LOG_HIT, LOG_MISS, LOG_HIT], np.float32)


def test_reward_t_scores_frame_t_given_the_previous_frames_in_both_forms():
    frames = frames_from_codes(uniform_codes(SEQUENCE))[None]
    reward = make()
    assert isinstance(reward, Reward)
    np.testing.assert_allclose(reward.relabel(frames)[0], EXPECTED, rtol=1e-6)
    np.testing.assert_allclose(run_stream(reward, frames)[0], EXPECTED, rtol=1e-6)


def test_incremental_stream_and_trailing_window_agree():
    frames = frames_from_codes(uniform_codes(SEQUENCE))[None]
    windowed = make(Config(incremental=False))
    assert not windowed.incremental and make().incremental
    np.testing.assert_allclose(windowed.relabel(frames)[0], EXPECTED, rtol=1e-6)
    np.testing.assert_allclose(run_stream(windowed, frames)[0], EXPECTED, rtol=1e-6)


def test_episode_start_resets_only_that_env_and_scores_its_first_frames():
    reward = make()
    stream = reward.stream(2)
    assert isinstance(stream, RewardStream)
    env0 = uniform_codes([0, 0, 0, 1, 2])
    env1 = uniform_codes([0, 0, 3, 3, 3])  # env 1 resets at step 2 onto frame 3
    firsts = [[True, True], [False, False], [False, True], [False, False], [False, False]]
    out = np.stack([step(stream, frames_from_codes(np.stack([env0[t], env1[t]])), firsts[t]) for t in range(5)])
    np.testing.assert_allclose(out[:, 0], EXPECTED, rtol=1e-6)
    # Without the reset, step 2 would be a miss (3 after 0,0); with it the frame has no context,
    # then 3 after 3 is a hit and 3 after 3,3 is a hit.
    np.testing.assert_allclose(
        out[:, 1], 4 * np.array([LOG_UNIFORM, LOG_HIT, LOG_UNIFORM, LOG_HIT, LOG_HIT]), rtol=1e-6
    )
    # ... and equals relabelling env 1's second episode on its own.
    np.testing.assert_allclose(reward.relabel(frames_from_codes(env1[2:])[None])[0], out[2:, 1], rtol=1e-6)


@pytest.mark.parametrize("incremental", [True, False])
def test_online_equals_batch_on_random_episodes_with_resets(incremental):
    rng = np.random.default_rng(0)
    reward = make(Config(incremental=incremental), context=3)
    episodes = [rng.integers(0, 4, size=(int(rng.integers(1, 9)), 2, 2)).astype(np.int32) for _ in range(7)]
    # Two envs play the episodes back to back, each starting a new one when its last ends.
    queues = [episodes[0::2], episodes[1::2]]
    cursors, positions, results = [0, 0], [0, 0], {0: [], 1: []}
    stream = reward.stream(2)
    while all(c < len(q) for c, q in zip(cursors, queues)):
        codes = np.stack([queues[i][cursors[i]][positions[i]] for i in range(2)])
        out = step(stream, frames_from_codes(codes), [positions[i] == 0 for i in range(2)])
        for i in range(2):
            results[i].append(out[i])
            positions[i] += 1
            if positions[i] == len(queues[i][cursors[i]]):
                cursors[i], positions[i] = cursors[i] + 1, 0
    for i in range(2):
        online = np.asarray(results[i])
        offset = 0
        for episode in queues[i][: cursors[i]]:
            batch = reward.relabel(frames_from_codes(episode)[None])[0]
            np.testing.assert_allclose(online[offset : offset + len(episode)], batch, rtol=1e-6)
            offset += len(episode)


def test_joint_mode_sums_the_trailing_window_rescaled_while_the_episode_is_short():
    frames = frames_from_codes(uniform_codes(SEQUENCE))[None]
    u, h, m = 4 * LOG_UNIFORM, 4 * LOG_HIT, 4 * LOG_MISS
    expected = [3 * u, 1.5 * (u + h), u + 2 * h, u + h + m, u + m + h]  # window of 3 frames
    reward = make(Config(mode="joint"))
    assert not reward.incremental
    np.testing.assert_allclose(reward.relabel(frames)[0], expected, rtol=1e-6)
    np.testing.assert_allclose(run_stream(reward, frames)[0], expected, rtol=1e-6)


@pytest.mark.parametrize("incremental", [True, False])
def test_frame_skip_follows_the_model_and_conditions_on_every_kth_frame(incremental):
    # Alternating 0,1,0,1,...: at frame skip 2 each chain sees a constant sequence.
    frames = frames_from_codes(uniform_codes([0, 1, 0, 1, 0, 1]))[None]
    expected = 4 * np.array([LOG_UNIFORM, LOG_UNIFORM, LOG_HIT, LOG_HIT, LOG_HIT, LOG_HIT])
    # The model skips frames itself (as ar-transformer): the reward follows and feeds every frame.
    reward = make(Config(incremental=incremental), frame_skip=2)
    assert (reward.frame_skip, reward.extra_skip, reward.incremental) == (2, 1, incremental)
    # A model that knows nothing of frame skips: the reward applies the configured one.
    plain = make(Config(frame_skip=2, incremental=incremental))
    assert (plain.frame_skip, plain.extra_skip, plain.incremental) == (2, 2, False)
    for r in (reward, plain):
        np.testing.assert_allclose(r.relabel(frames)[0], expected, rtol=1e-6)
        np.testing.assert_allclose(run_stream(r, frames)[0], expected, rtol=1e-6)


def test_frame_skip_composes_with_the_models_own():
    # Period 4: chains 4 apart are constant, chains 2 apart are not.
    frames = frames_from_codes(uniform_codes([0, 1, 2, 3, 0, 1, 2, 3, 0]))[None]
    reward = make(Config(frame_skip=4), frame_skip=2)
    assert (reward.frame_skip, reward.extra_skip) == (4, 2)
    expected = 4 * np.array([LOG_UNIFORM] * 4 + [LOG_HIT] * 5)
    np.testing.assert_allclose(reward.relabel(frames)[0], expected, rtol=1e-6)
    np.testing.assert_allclose(run_stream(reward, frames)[0], expected, rtol=1e-6)
    own = make(frame_skip=2).relabel(frames)[0]
    assert own[2] == pytest.approx(4 * LOG_MISS)  # 2 after 0 at skip 2
    with pytest.raises(ConfigError, match="every 2th frame"):
        make(Config(frame_skip=3), frame_skip=2)
    with pytest.raises(ConfigError, match="frame_skip=0: expected an integer >= 1"):
        make(Config(frame_skip=0))


def test_joint_mode_with_a_frame_skipping_model_sums_the_newest_frames_chain():
    frames = frames_from_codes(uniform_codes([0, 1, 0, 1, 0]))[None]
    u, h = 4 * LOG_UNIFORM, 4 * LOG_HIT
    # Chain of frame 4 at skip 2 with a context of 2: frames 0, 2, 4 (all 0): u + h + h.
    expected = [3 * u, 3 * u, 1.5 * (u + h), 1.5 * (u + h), u + 2 * h]
    reward = make(Config(mode="joint"), frame_skip=2)
    np.testing.assert_allclose(reward.relabel(frames)[0], expected, rtol=1e-6)
    np.testing.assert_allclose(run_stream(reward, frames)[0], expected, rtol=1e-6)


def test_task_ids_map_env_task_names_to_the_model_tasks():
    frames = frames_from_codes(uniform_codes([1, 2]))[None]
    context = RewardContext(tasks=("b", "a"), image_size=(8, 8))
    reward = make(ctx=context, tasks=("a", "b"))
    np.testing.assert_array_equal(reward.task_map, [1, 0])
    # Model task 1 predicts last + 1: 2 after 1 is a hit only under env task 0 ("b").
    assert reward.relabel(frames, task_ids=np.array([0]))[0, 1] == pytest.approx(4 * LOG_HIT)
    assert reward.relabel(frames, task_ids=np.array([1]))[0, 1] == pytest.approx(4 * LOG_MISS)
    forced = make(Config(task="b"), ctx=context, tasks=("a", "b"))
    np.testing.assert_array_equal(forced.task_map, [1, 1])
    with pytest.raises(ConfigError, match="knows tasks a, b"):
        make(Config(task="c"), ctx=context, tasks=("a", "b"))


def test_image_mask_hides_pixels_before_tokenizing():
    mask = np.ones((8, 8), bool)
    mask[:, :4] = False  # hide the left column of blocks
    context = RewardContext(tasks=("a",), image_size=(8, 8), image_masks={"a": mask})
    codes = uniform_codes([0, 0, 0])
    codes[1, :, 0] = 3  # only the hidden blocks change
    frames = frames_from_codes(codes)[None]
    masked = make(ctx=context).relabel(frames)
    np.testing.assert_allclose(masked[0], 4 * np.array([LOG_UNIFORM, LOG_HIT, LOG_HIT]), rtol=1e-6)
    unmasked = make(Config(mask=False), ctx=context).relabel(frames)
    assert unmasked[0, 1] < masked[0, 1]


def test_normalisation_is_off_by_default_and_symlog_or_running_when_asked():
    frames = frames_from_codes(uniform_codes(SEQUENCE))[None]
    symlog = make(Config(normalize="symlog", scale=2.0)).relabel(frames)[0]
    np.testing.assert_allclose(symlog, 2.0 * np.sign(EXPECTED) * np.log1p(np.abs(EXPECTED)), rtol=1e-5)
    running = make(Config(normalize="running"))
    online = run_stream(running, np.repeat(frames, 3, axis=0))
    assert np.all(np.isfinite(online)) and abs(float(online[:, -1].mean())) < 5
    stats = running.normalizer.stats.count
    running.relabel(frames)
    assert running.normalizer.stats.count == stats  # relabelling does not move the statistics


def test_non_finite_likelihood_names_step_and_env():
    reward = make(poison=3)
    stream = reward.stream(2)
    step(stream, frames_from_codes(uniform_codes([0, 0])), [True, True])
    with pytest.raises(NonFiniteError, match="at step 1 for env 1"):
        step(stream, frames_from_codes(uniform_codes([0, 3])), [False, False])
    with pytest.raises(NonFiniteError, match="step 2 for env 0"):
        reward.relabel(frames_from_codes(uniform_codes([0, 0, 3]))[None])


def test_bad_batches_are_refused():
    reward = make()
    stream = reward.stream(2)
    with pytest.raises(ContractError, match="expected a batch of 2"):
        step(stream, frames_from_codes(uniform_codes([0, 0, 0])), [True, True, True])
    with pytest.raises(ContractError, match="is_first must be bool"):
        step(stream, frames_from_codes(uniform_codes([0, 0])), [True])
    with pytest.raises(ContractError, match="expected 8x8 frames"):
        step(stream, np.zeros((2, 16, 16, 3), np.uint8), [True, True])
    with pytest.raises(ContractError, match="uint8"):
        step(stream, np.zeros((2, 8, 8, 3), np.float32), [True, True])
    with pytest.raises(ContractError, match="differ from the stream's"):
        step(stream, frames_from_codes(uniform_codes([0, 0])), [True, True], task_ids=np.array([0, 1], np.int32))
    with pytest.raises(ContractError, match="task ids must index"):
        reward.stream(2, np.array([0, 5]))
    with pytest.raises(ContractError, match="B,T,H,W,3"):
        reward.relabel(np.zeros((2, 8, 8, 3), np.uint8))


def test_components_that_do_not_fit_the_env_are_refused():
    with pytest.raises(WorkdirError, match="trained on 8x8 frames but the env renders 16x16"):
        make(ctx=RewardContext(tasks=("a",), image_size=(16, 16)))
    with pytest.raises(WorkdirError, match="trained on tasks reach but the env runs push"):
        make(ctx=RewardContext(tasks=("push",), image_size=(8, 8)), tasks=("reach",))
    with pytest.raises(WorkdirError, match="expects 4 codes on a \\(3, 3\\) grid"):
        make(code_grid=(3, 3))
    with pytest.raises(WorkdirError, match="trained on 2 tasks but the env has 3"):
        make(ctx=RewardContext(tasks=("x", "y", "z"), image_size=(8, 8)), tasks=None, num_tasks=2)
    with pytest.raises(ConfigError, match="mode"):
        make(Config(mode="marginal"))  # type: ignore[arg-type]


def test_loads_from_a_workdir_through_the_plugin_host(host, make_workdir):
    wd = make_workdir(FakeTokenizer(), FakeVideoModel())
    reward = build_reward("viper", RewardContext(workdir=wd, tasks=("a",), image_size=(8, 8)), {"mode": "joint"}, host)
    assert isinstance(reward.model, FakeVideoModel) and reward.config.mode == "joint"
    frames = frames_from_codes(uniform_codes(SEQUENCE))[None]
    assert reward.relabel(frames).shape == (1, 5)
    plain = build_reward("viper", RewardContext(workdir=wd.path, tasks=("a",), image_size=(8, 8)), None, host)
    np.testing.assert_allclose(plain.relabel(frames)[0], EXPECTED, rtol=1e-6)


def test_a_workdir_without_trained_stages_says_what_to_run(host, make_workdir):
    context = RewardContext(workdir=make_workdir(), tasks=("a",), image_size=(8, 8))
    with pytest.raises(WorkdirError, match="viper-run fit-tokenizer"):
        build_reward("viper", context, None, host)
    context = RewardContext(workdir=make_workdir(FakeTokenizer(), name="tok-only"), tasks=("a",), image_size=(8, 8))
    with pytest.raises(WorkdirError, match="viper-run fit-model"):
        build_reward("viper", context, None, host)
    with pytest.raises(ConfigError, match="needs a workdir"):
        build_reward("viper", RewardContext(tasks=("a",), image_size=(8, 8)), None, host)


def test_a_tokenizer_retrained_after_the_video_model_is_refused(host, make_workdir):
    from viper.rewards.testing import save_stage

    wd = make_workdir(FakeTokenizer(), FakeVideoModel())
    newer = save_stage(wd, "tokenizer", "fake-tok", FakeTokenizer(), {"other": "options"})
    with pytest.raises(WorkdirError, match=f"newest tokenizer is {newer.name}; re-run `viper-run fit-model"):
        build_reward("viper", RewardContext(workdir=wd, tasks=("a",), image_size=(8, 8)), None, host)
