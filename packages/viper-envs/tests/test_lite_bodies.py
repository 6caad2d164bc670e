"""``--set env.body=square``: a second embodiment of lite:reach and lite:push (cross-embodiment)."""

from __future__ import annotations

import numpy as np
import pytest

from viper.core.errors import ConfigError
from viper.envs.lite.bodies import BODIES
from viper.envs.lite.suite import LiteSuite


def expert_episode(task: str, seed: int, **options) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    suite = LiteSuite()
    env = suite.make(task, **options)
    expert = suite.expert(task, env)
    obs, _ = env.reset(seed=seed)
    expert.reset()
    total, frames, states, done = 0.0, [obs["image"]], [obs["state"]], False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(expert.act(obs))
        total, done = total + reward, terminated or truncated
        frames.append(obs["image"])
        states.append(obs["state"])
    return total, frames, states


def has_color(frame: np.ndarray, color: tuple[int, int, int]) -> bool:
    return bool((np.abs(frame.astype(int) - color).sum(-1) < 30).any())


@pytest.mark.parametrize("task", ["reach", "push"])
def test_the_square_body_looks_and_moves_differently_and_its_expert_still_succeeds(task: str) -> None:
    disk_return, disk_frames, disk_states = expert_episode(task, seed=3)
    square_return, square_frames, square_states = expert_episode(task, seed=3, body="square")
    assert np.array_equal(disk_states[0], square_states[0])  # same seed, same layout
    assert has_color(disk_frames[0], BODIES["disk"].color) and not has_color(disk_frames[0], BODIES["square"].color)
    assert has_color(square_frames[0], BODIES["square"].color) and not has_color(square_frames[0], BODIES["disk"].color)
    # The first move at full speed covers 0.6x the distance.
    moved = [np.linalg.norm(s[1][:2] - s[0][:2]) for s in (disk_states, square_states)]
    assert moved[1] == pytest.approx(0.6 * moved[0], rel=1e-4)
    assert disk_return > square_return > 40  # slower to arrive, but arrives (random: < 10)


def test_the_default_body_is_the_disk_and_other_tasks_refuse_the_option() -> None:
    _, default, _ = expert_episode("reach", seed=1)
    _, disk, _ = expert_episode("reach", seed=1, body="disk")
    assert all(np.array_equal(a, b) for a, b in zip(default, disk, strict=True))
    with pytest.raises(ConfigError, match="option 'body' applies to reach, push only"):
        LiteSuite().make("balance", body="square")
    with pytest.raises(ConfigError, match=r"--set env.body='round': expected one of 'disk', 'square'"):
        LiteSuite().make("reach", body="round")
