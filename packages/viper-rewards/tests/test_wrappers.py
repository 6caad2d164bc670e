"""The gymnasium wrappers and ``relabel``: the same rewards as viper's own loop for the same frames,
under every autoreset mode and frame source, and clear errors for frames the models cannot read."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import viper.rewards.plugin
import viper.rewards.testing as fakes
from viper.core.errors import ConfigError, WorkdirError
from viper.core.loop.driver import Driver
from viper.core.protocols import RewardContext
from viper.core.rewarding import build_training_reward
from viper.core.testing import fake_host
from viper.rewards import RewardWrapper, VectorRewardWrapper, relabel
from viper.rewards.testing import FakeTokenizer, FakeVideoModel, frames_from_codes
from viper.rewards.wrappers import resize_frames

SIZE = 8
NEXT, SAME, DISABLED = (
    gym.vector.AutoresetMode.NEXT_STEP,
    gym.vector.AutoresetMode.SAME_STEP,
    gym.vector.AutoresetMode.DISABLED,
)


class CodeEnv(gym.Env):
    """Frames the fake tokenizer reads back exactly: a 2x2 grid of codes that drifts with the
    action and the env's own noise; episodes of 3-7 steps (drawn at reset); the env's reward is
    the code sum. ``image_key=False`` observes only ``state`` (frames then come from render())."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, image_key: bool = True, channels: int = 3, size: int = SIZE) -> None:
        self.image_key, self.channels, self.size = image_key, channels, size
        spaces = {"state": gym.spaces.Box(-10, 10, (2,), np.float32)}
        if image_key:
            spaces["image"] = gym.spaces.Box(0, 255, (size, size, channels), np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.render_mode = "rgb_array"
        self.codes = np.zeros((2, 2), np.int64)

    def render(self) -> np.ndarray:
        frame = frames_from_codes(self.codes, self.size // 2)
        return (
            np.concatenate([frame, np.full((*frame.shape[:2], 1), 255, np.uint8)], -1) if self.channels == 4 else frame
        )

    def _obs(self) -> dict[str, np.ndarray]:
        obs = {"state": np.asarray([self.codes.sum(), self.t], np.float32)}
        if self.image_key:
            obs["image"] = self.render()
        return obs

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        self.codes = self.np_random.integers(0, 4, (2, 2))
        self.length, self.t = int(self.np_random.integers(3, 8)), 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        push = int(np.round(np.asarray(action).sum()))
        self.codes = (self.codes + push + self.np_random.integers(0, 2, (2, 2))) % 4
        self.t += 1
        reward = float(self.codes.sum())
        return self._obs(), reward, self.t >= self.length, False, {"task_reward": reward}


@pytest.fixture
def host():
    h = fake_host()
    h.register(fakes, name="fakes")
    h.register(viper.rewards.plugin, name="rewards")
    return h


@pytest.fixture
def workdir(make_workdir):
    return make_workdir(FakeTokenizer((SIZE, SIZE)), FakeVideoModel(context=2, tasks=None, num_tasks=1))


def vector(n: int = 3, mode: Any = NEXT, **kwargs: Any) -> gym.vector.SyncVectorEnv:
    return gym.vector.SyncVectorEnv([lambda: CodeEnv(**kwargs)] * n, autoreset_mode=mode)


def actions(n: int, steps: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (steps, n, 2)).astype(np.float32)


SEEDS = [11, 12, 13]


@pytest.mark.parametrize(("reward", "options"), [("viper", {}), ("viper", {"normalize": "running"}), ("task", {})])
def test_vector_wrapper_gives_the_loops_rewards(host, workdir, reward, options):
    acts = actions(3, 30)
    context = RewardContext(workdir=workdir, image_size=(SIZE, SIZE), host=host)  # as train_stage builds it
    loop_reward = build_training_reward(reward, context, options=options, host=host)
    driver = Driver(vector(), np.zeros(3, np.int32))
    driver.reset(SEEDS, loop_reward.stream(3, np.zeros(3, np.int32)))
    expected = []
    for t in range(31):
        step, _ = driver.observe(t)
        expected.append(step.reward)
        if t < 30:
            driver.step(acts[t])
    wrapped = VectorRewardWrapper(vector(), reward, workdir, host=host, **options)
    wrapped.reset(seed=SEEDS)
    got = [np.zeros(3, np.float32)]
    for t in range(30):
        _, rewards, *_, info = wrapped.step(acts[t])
        got.append(rewards)
        assert "task_reward" in info
    np.testing.assert_allclose(np.stack(got), np.stack(expected), rtol=1e-6, atol=1e-6)
    assert np.any(np.stack(got)[1:] != 0)


def episodes_of_vector_run(wrapped: VectorRewardWrapper, steps: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every finished episode: (frames from its first, rewards from the wrapper, env rewards)."""
    mode = wrapped.mode
    obs, _ = wrapped.reset(seed=SEEDS)
    n = wrapped.num_envs
    frames = [[obs["image"][i]] for i in range(n)]
    rewards, task = [[0.0] for _ in range(n)], [[0.0] for _ in range(n)]
    finished, restart = [], np.zeros(n, bool)
    for act in actions(n, steps, seed=1):
        obs, r, term, trunc, info = wrapped.step(act)
        for i in range(n):
            if restart[i]:  # NEXT_STEP: this step reset the env
                frames[i], rewards[i], task[i] = [obs["image"][i]], [float(r[i])], [0.0]
                assert r[i] == 0.0
                continue
            last = info["final_obs"][i]["image"] if mode == "SameStep" and (term[i] or trunc[i]) else obs["image"][i]
            frames[i].append(last)
            rewards[i].append(float(r[i]))
            task[i].append(float(info["task_reward"][i]))
            if term[i] or trunc[i]:
                finished.append((np.stack(frames[i]), np.asarray(rewards[i]), np.asarray(task[i])))
                if mode == "SameStep":
                    frames[i], rewards[i], task[i] = [obs["image"][i]], [0.0], [0.0]
        restart = (np.asarray(term) | np.asarray(trunc)) if mode == "NextStep" else restart
    return finished


@pytest.mark.parametrize("mode", [NEXT, SAME])
@pytest.mark.parametrize("reward", ["viper", "task"])
def test_each_episode_under_either_autoreset_mode_equals_relabelling_it(host, workdir, mode, reward):
    wrapped = VectorRewardWrapper(vector(mode=mode), reward, workdir, host=host)
    episodes = episodes_of_vector_run(wrapped, 40)
    assert len(episodes) >= 8
    for frames, rewards, task in episodes:
        expected = relabel(frames, reward, workdir, task_reward=task, host=host)
        assert expected[0] == 0.0
        np.testing.assert_allclose(rewards, expected, rtol=1e-6, atol=1e-6)
    if reward == "task":
        np.testing.assert_allclose(episodes[0][1], episodes[0][2])


def test_single_env_wrapper_equals_relabel_and_keeps_the_env_reward(host, workdir):
    env = RewardWrapper(CodeEnv(), "viper", workdir, host=host)
    frames_by_episode, rewards_by_episode = [], []
    rng = np.random.default_rng(0)
    for episode in range(4):
        obs, _ = env.reset(seed=episode)
        frames, rewards, done = [obs["image"]], [0.0], False
        while not done:
            obs, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, 2).astype(np.float32))
            frames.append(obs["image"])
            rewards.append(reward)
            assert info["task_reward"] == float(obs["state"][0])
            done = terminated or truncated
        frames_by_episode.append(np.stack(frames))
        rewards_by_episode.append(np.asarray(rewards))
    for frames, rewards in zip(frames_by_episode, rewards_by_episode, strict=True):
        np.testing.assert_allclose(rewards, relabel(frames, "viper", workdir, host=host), rtol=1e-6)
    assert env.stream.metrics()["viper/log_likelihood"] < 0
    batch = np.stack([f[:3] for f in frames_by_episode])
    np.testing.assert_allclose(
        relabel(batch, "viper", workdir, host=host), np.stack([r[:3] for r in rewards_by_episode]), rtol=1e-6
    )


def test_frames_from_render_give_the_same_rewards_as_the_image_key(host, workdir):
    acts = actions(2, 20)
    runs = []
    for image_key in (True, False):
        wrapped = VectorRewardWrapper(vector(2, image_key=image_key), "viper", workdir, host=host)
        assert wrapped.source == ("image" if image_key else "render")
        wrapped.reset(seed=SEEDS[:2])
        runs.append(np.stack([wrapped.step(a)[1] for a in acts]))
        single = RewardWrapper(CodeEnv(image_key=image_key), "viper", workdir, host=host)
        single.reset(seed=5)
        runs.append(np.asarray([single.step(a[0])[1] for a in acts[:3]]))
    np.testing.assert_array_equal(runs[0], runs[2])
    np.testing.assert_array_equal(runs[1], runs[3])


def test_any_registered_reward_and_options_checked_like_set(host, workdir):
    env = RewardWrapper(CodeEnv(), "fake", host=host, scale=2.0)  # the contract kit's reward
    obs, _ = env.reset(seed=0)
    obs, reward, *_ = env.step(np.zeros(2, np.float32))
    assert reward == pytest.approx(2.0 * obs["image"].mean() / 255.0)
    with pytest.raises(ConfigError, match=r"--set reward\.normalise: unknown option"):
        RewardWrapper(CodeEnv(), "viper", workdir, host=host, normalise="running")
    with pytest.raises(ConfigError, match=r"--set reward\.normalize: expected one of"):
        VectorRewardWrapper(vector(), "viper", workdir, host=host, normalize="bogus")
    both = VectorRewardWrapper(vector(), "task", host=host, explore="fake", beta=0.5)
    both.reset(seed=SEEDS)
    _, rewards, *_, info = both.step(np.zeros((3, 2), np.float32))
    assert set(both.stream.last_parts) == {"task", "fake"}
    np.testing.assert_allclose(rewards, info["task_reward"] + 0.5 * both.stream.last_parts["fake"], rtol=1e-6)


def test_frames_the_tokenizer_was_not_trained_on_fail_at_construction(host, workdir):
    with pytest.raises(WorkdirError) as caught:
        RewardWrapper(CodeEnv(size=16), "viper", workdir, host=host)
    message = str(caught.value)
    assert str(workdir.path) in message and "8x8x3" in message and "16x16x3" in message and "resize=True" in message
    with pytest.raises(ConfigError, match=r"RGB frames uint8\[H,W,3\], got shape \[8, 8, 4\] \(drop the alpha"):
        VectorRewardWrapper(vector(channels=4), "viper", workdir, host=host)
    # resize=True scores 16x16 frames at the tokenizer's 8x8 (block averages: the same codes here).
    big = RewardWrapper(CodeEnv(size=16), "viper", workdir, host=host, resize=True)
    small = RewardWrapper(CodeEnv(), "viper", workdir, host=host)
    big.reset(seed=3), small.reset(seed=3)
    act = np.full(2, 0.4, np.float32)
    assert [big.step(act)[1] for _ in range(3)] == [small.step(act)[1] for _ in range(3)]


def test_unsupported_setups_are_refused_with_the_fix(host, workdir):
    with pytest.raises(ConfigError, match="autoreset mode Disabled is not supported"):
        VectorRewardWrapper(vector(mode=DISABLED), "task", host=host)
    with pytest.raises(ConfigError, match="render\\(\\) under SAME_STEP"):
        VectorRewardWrapper(vector(mode=SAME, image_key=False), "task", host=host)
    env = CodeEnv(image_key=False)
    env.render_mode = None
    with pytest.raises(ConfigError, match="render_mode='rgb_array'"):
        RewardWrapper(env, "task", host=host)
    with pytest.raises(ConfigError, match="relabel: frames must be uint8"):
        relabel(np.zeros((4, SIZE, SIZE, 3), np.float32), "task", host=host)


def test_resize_frames_averages_blocks_or_takes_the_nearest_pixel():
    frames = np.arange(2 * 4 * 6 * 3, dtype=np.uint8).reshape(2, 4, 6, 3)
    half = resize_frames(frames, (2, 3))
    assert half.shape == (2, 2, 3, 3) and half[0, 0, 0, 0] == round(frames[0, :2, :2, 0].mean())
    assert resize_frames(frames, (3, 3)).shape == (2, 3, 3, 3)


def test_a_gymnasium_classic_control_env_works_through_render(host, workdir):
    env = RewardWrapper(gym.make("CartPole-v1", render_mode="rgb_array"), "viper", workdir, host=host, resize=True)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(env.action_space.sample())
    assert np.isfinite(reward) and info["task_reward"] == 1.0
    with pytest.raises(WorkdirError, match=r"8x8x3 frames but .*render\(\) gives 400x600x3"):
        RewardWrapper(gym.make("CartPole-v1", render_mode="rgb_array"), "viper", workdir, host=host).reset(seed=0)
