"""The replay buffer: time order per env, sequences, n-step targets, wrap-around, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from viper.agents.replay import Replay
from viper.core.errors import ContractError, WorkdirError


def fill(replay: Replay, steps: int, num_envs: int = 2, episode: int = 5, terminal_env: int | None = None) -> None:
    """Step t of env e stores vector = 100 e + t; episodes of ``episode`` transitions."""
    for t in range(steps):
        phase = t % (episode + 1)
        is_first = np.full(num_envs, phase == 0)
        is_last = np.full(num_envs, phase == episode)
        is_terminal = np.zeros(num_envs, bool)
        if terminal_env is not None:
            is_terminal[terminal_env] = is_last[terminal_env]
        replay.add(
            {
                "vector": (100 * np.arange(num_envs) + t)[:, None].astype(np.float32),
                "action": np.full((num_envs, 1), t, np.float32),
                "reward": np.where(is_first, 0.0, 1.0).astype(np.float32),
                "is_first": is_first,
                "is_last": is_last,
                "is_terminal": is_terminal,
            }
        )


def make(capacity: int = 1000) -> Replay:
    return Replay({"vector": ((1,), np.float32), "action": ((1,), np.float32)}, capacity)


def test_sequences_are_consecutive_steps_of_one_env() -> None:
    replay = make()
    fill(replay, 40)
    batch = replay.sample_sequences(8, 6, np.random.default_rng(0))
    assert batch["vector"].shape == (8, 6, 1) and batch["is_first"].shape == (8, 6)
    v = batch["vector"][..., 0]
    assert (np.diff(v, axis=1) == 1).all()  # consecutive
    assert set((v[:, 0] // 100).astype(int)) <= {0, 1}
    with pytest.raises(ContractError, match="fewer than a sequence"):
        make().sample_sequences(1, 5, np.random.default_rng(0))


def test_wraparound_keeps_the_newest_steps_in_order() -> None:
    replay = make(capacity=2 * 30)  # 30 steps per env
    fill(replay, 100)
    assert replay.size == 30 and len(replay) == 60
    batch = replay.sample_sequences(64, 30, np.random.default_rng(1))
    np.testing.assert_array_equal(batch["vector"][0, :, 0] % 100, np.arange(70, 100))


def test_nstep_targets_stop_at_episode_ends() -> None:
    replay = make()
    fill(replay, 60, episode=5, terminal_env=1)
    gamma = 0.9
    out = replay.sample_nstep(512, 3, gamma, np.random.default_rng(2), ("vector",))
    start = out["obs/vector"][:, 0]
    env = (start // 100).astype(int)
    t = (start % 100).astype(int)
    phase = t % 6
    steps = np.minimum(3, 5 - phase)  # transitions left in the episode (it has 5)
    assert (phase < 5).all()  # never starts at an episode's last step
    np.testing.assert_array_equal(out["next/vector"][:, 0], start + steps)
    np.testing.assert_allclose(out["reward"], (1 - gamma**steps) / (1 - gamma), rtol=1e-6)
    terminal = (env == 1) & (phase + steps == 5)
    np.testing.assert_allclose(out["discount"], np.where(terminal, 0.0, gamma**steps), rtol=1e-6)
    np.testing.assert_array_equal(out["action"][:, 0], t)


def test_save_load_roundtrip_and_refuses_bad_files(tmp_path) -> None:
    replay = make(capacity=2 * 30)
    fill(replay, 77)
    replay.save(tmp_path / "r")
    other = make(capacity=2 * 30)
    other.load(tmp_path / "r")
    assert other.total == 77 and other.size == 30
    a = replay.sample_sequences(4, 10, np.random.default_rng(3))
    b = other.sample_sequences(4, 10, np.random.default_rng(3))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    fill(other, 5)  # keeps appending after a load
    assert other.total == 82
    wrong = Replay({"vector": ((2,), np.float32), "action": ((1,), np.float32)}, 60)
    with pytest.raises(WorkdirError, match="replay 'vector' is float32"):
        wrong.load(tmp_path / "r")
    (tmp_path / "r" / "replay.npz").write_bytes(b"broken")
    with pytest.raises(WorkdirError, match="corrupt or missing replay"):
        make().load(tmp_path / "r")


def test_env_count_must_stay_fixed() -> None:
    replay = make()
    fill(replay, 3, num_envs=2)
    with pytest.raises(ContractError, match="keep loop.num_envs fixed"):
        fill(replay, 1, num_envs=3)
