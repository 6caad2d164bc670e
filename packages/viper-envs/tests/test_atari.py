"""The atari suite: names, settings, seeding, lives and the score masks."""

from __future__ import annotations

import numpy as np
import pytest

from viper.core.errors import ConfigError, ContractError
from viper.envs.atari import AtariSuite
from viper.envs.atari.masks import SCORE_REGIONS, score_mask

PAPER_GAMES = ["pong", "boxing", "freeway", "kangaroo", "assault", "atlantis", "defender", "zaxxon"]


@pytest.fixture(scope="module")
def suite() -> AtariSuite:
    return AtariSuite()


def test_games_include_the_papers(suite) -> None:
    assert set(PAPER_GAMES) <= set(suite.tasks()) and len(suite.tasks()) > 50


def test_unknown_game_lists_valid_ones(suite) -> None:
    with pytest.raises(ConfigError, match=r"unknown game 'pongg' \(did you mean pong\?\); games: .*boxing"):
        suite.make("pongg")
    with pytest.raises(ConfigError, match="unknown option 'frameskip'"):
        suite.make("pong", frameskip=2)
    with pytest.raises(ConfigError, match=r"--set env.sticky=1.5: expected a number in \[0, 1\)"):
        suite.make("pong", sticky=1.5)
    with pytest.raises(ConfigError, match="unknown game"):
        suite.image_mask("nope")


def test_defaults_follow_the_paper(suite) -> None:
    env = suite.make("pong", seed=0)
    assert env.observation_space["image"].shape == (64, 64, 3)
    assert env.action_space.n == 18  # full action set
    assert env.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)
    obs, info = env.reset(seed=0)
    assert obs["image"].dtype == np.uint8 and env.observation_space.contains(obs)
    before = env.ale.getEpisodeFrameNumber()
    obs, reward, terminated, truncated, info = env.step(0)
    assert env.ale.getEpisodeFrameNumber() - before == 4  # action repeat 4
    assert reward == info["task_reward"]
    assert suite.expert("pong", env) is None
    minimal = suite.make("pong", action_set="minimal")
    assert minimal.action_space.n == 6


def test_bad_actions(suite) -> None:
    env = suite.make("boxing", seed=0)
    env.reset(seed=0)
    with pytest.raises(ContractError, match="outside Discrete"):
        env.step(18)
    with pytest.raises(ContractError, match="one integer"):
        env.step([1, 2])
    assert env.step(np.int64(3))[0]["image"].shape == (64, 64, 3)


def test_seeding_reproduces_frames_including_sticky_actions(suite) -> None:
    def rollout(seed):
        env = suite.make("breakout")
        env.reset(seed=seed)
        rng = np.random.default_rng(0)
        frames, rewards = [], []
        for _ in range(60):
            obs, reward, *_ = env.step(int(rng.integers(env.action_space.n)))
            frames.append(obs["image"])
            rewards.append(reward)
        return np.stack(frames), rewards

    a, ra = rollout(5)
    b, rb = rollout(5)
    assert np.array_equal(a, b) and ra == rb
    c, _ = rollout(6)
    assert not np.array_equal(a, c)


def test_episode_ends_at_game_over_and_rewards_sum_to_the_score(suite) -> None:
    env = suite.make("pong", seed=1, sticky=0.0)
    env.reset(seed=1)
    total, steps = 0.0, 0
    while True:
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        total += reward
        steps += 1
        if terminated or truncated:
            break
    assert terminated and not truncated
    assert total <= -19  # a random player loses 21 points to at most a couple
    with pytest.raises(ContractError, match="call reset"):
        env.step(0)


def test_max_frames_truncates(suite) -> None:
    env = suite.make("pong", max_frames=40)
    env.reset(seed=0)
    steps = 0
    while True:
        _, _, terminated, truncated, _ = env.step(0)
        steps += 1
        if terminated or truncated:
            break
    assert truncated and not terminated and steps == 10


def test_episodic_life_ends_at_a_lost_life_and_continues_the_game(suite) -> None:
    env = suite.make("breakout", episodic_life=True, sticky=0.0)
    _, info = env.reset(seed=0)
    lives = info["lives"]
    env.step(1)  # FIRE launches the ball
    steps = 0
    while True:
        _, _, terminated, truncated, info = env.step(0)
        steps += 1
        if terminated or truncated:
            break
    assert terminated and info["lives"] == lives - 1
    _, info = env.reset()
    assert info["lives"] == lives - 1  # same game, one life fewer
    assert not suite.make("breakout").episodic_life  # off by default


def test_masks_have_the_contracted_shape(suite) -> None:
    for game in PAPER_GAMES:
        mask = suite.image_mask(game, 64)
        assert mask.shape == (64, 64) and mask.dtype == bool
        assert 0 < (~mask).sum() < 0.2 * mask.size  # hides a band, not the game
    assert suite.image_mask("pong", 32).shape == (32, 32)
    assert suite.image_mask("pitfall") is None  # no region defined: nothing hidden
    assert set(PAPER_GAMES) <= set(SCORE_REGIONS)


@pytest.mark.parametrize("game", ["pong", "boxing", "breakout"])
def test_mask_covers_every_pixel_that_changes_with_the_score(suite, game) -> None:
    """Play until the score changes; within the rows of the score band, every screen pixel that
    changed then lies in the hidden region."""
    env = suite.make(game, sticky=0.0)
    env.reset(seed=0)
    screen = np.zeros((210, 160, 3), np.uint8)
    native = score_mask(game, (210, 160))
    hidden_rows = np.where(~native.all(axis=1))[0]
    band = slice(hidden_rows.min(), hidden_rows.max() + 1)
    env.ale.getScreenRGB(screen)
    before = screen[band].copy()
    rng = np.random.default_rng(0)
    for _ in range(3000):
        _, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if reward != 0:
            break
        env.ale.getScreenRGB(screen)
        before = screen[band].copy()
        assert not (terminated or truncated)
    assert reward != 0, "the score never changed"
    for _ in range(5):  # the game redraws its score within a few frames
        env.step(0)
    env.ale.getScreenRGB(screen)
    changed = np.abs(screen[band].astype(int) - before).sum(-1) > 0
    assert changed.any()
    assert not (changed & native[band]).any(), "score pixels outside the mask"


def test_downscaled_mask_hides_whole_score_footprint() -> None:
    fine = score_mask("pong", (210, 160))
    coarse = score_mask("pong", 64)
    # every coarse pixel touching a hidden screen row is hidden
    rows = np.where(~fine.all(axis=1))[0]
    last = int(np.floor((rows.max() + 1) * 64 / 210 - 1e-9))
    assert not coarse[: last + 1].any() and coarse[last + 1 :].all()
