"""DrQ-v2: shapes and contracts, augmentation, exploration schedule, checkpoints, bad input."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from viper.agents.drq.agent import DrQAgent, random_shift
from viper.agents.drq.config import DrQConfig, parse_schedule
from viper.agents.testing import PointEnv, rollout
from viper.core.errors import ConfigError, NonFiniteError, WorkdirError


def make(env: gym.Env, **options) -> DrQAgent:
    config = DrQConfig(**{"hidden": 32, "batch_size": 16, "seed_steps": 8, "random_steps": 4, **options})
    return DrQAgent(config, env.observation_space, env.action_space, seed=0)


def test_pixels_with_frame_stack() -> None:
    env = PointEnv()
    agent = make(env)
    assert agent.config.frame_stack == 3 and agent.updates_per_step == 0.5 and agent.train_start == 8
    actions = rollout(agent, PointEnv, 20)
    assert all(a.shape == (2, 1) and ((-2 <= a) & (a <= 2)).all() for a in actions)
    stored = agent.replay.data["image"]
    assert stored.shape[2:] == (16, 16, 9)  # three stacked RGB frames
    # After a reset the stack is the first frame three times.
    first = agent.replay.data["is_first"][0, :20].nonzero()[0][1]
    frame = stored[0, first]
    assert np.array_equal(frame[..., :3], frame[..., 6:]) and np.array_equal(frame[..., :3], frame[..., 3:6])
    metrics = agent.train()
    for key in ("critic_loss", "actor_loss", "q_mean", "target_mean", "std"):
        assert math.isfinite(metrics[key]), key


def test_state_observations_need_no_pixels() -> None:
    env = PointEnv(with_image=False)
    agent = make(env, obs_keys=("state",))
    assert agent.frames_per_step == 1 and "image" not in agent.replay.spec
    rollout(agent, lambda: PointEnv(with_image=False), 12)
    assert math.isfinite(agent.train()["critic_loss"])


def test_random_shift_is_an_integer_crop_of_the_padded_image() -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (5, 12, 12, 3), dtype=torch.uint8, generator=gen)
    assert torch.equal(random_shift(images, 0, gen), images.float())
    shifted = random_shift(images, 4, gen)
    assert shifted.shape == (5, 12, 12, 3)
    padded = torch.nn.functional.pad(images.permute(0, 3, 1, 2).float(), (4, 4, 4, 4), mode="replicate").permute(
        0, 2, 3, 1
    )
    for i in range(5):
        assert any(torch.equal(shifted[i], padded[i, dy : dy + 12, dx : dx + 12]) for dy in range(9) for dx in range(9))


def test_exploration_schedule() -> None:
    linear = parse_schedule("linear(1.0,0.1,100)")
    assert linear(0) == 1.0 and linear(50) == pytest.approx(0.55) and linear(1000) == pytest.approx(0.1)
    assert parse_schedule("0.2")(5) == 0.2
    with pytest.raises(ConfigError, match="std_schedule"):
        DrQConfig(std_schedule="cosine(1,2)")
    assert DrQConfig(preset="paper").std_schedule == "linear(1.0,0.1,500000)"
    assert (DrQConfig(preset="paper").hidden, DrQConfig(preset="paper").lr) == (1024, 1e-4)


def test_checkpoint_roundtrip_and_refusals(tmp_path) -> None:
    env = PointEnv()
    a = make(env)
    rollout(a, PointEnv, 12)
    a.train()
    a.save(tmp_path / "ckpt")
    b = make(env)
    b.load(tmp_path / "ckpt")
    assert b.env_steps == 24 and b.updates == 1
    assert a.train() == b.train()
    with pytest.raises(WorkdirError, match="another drq config .*hidden"):
        make(env, hidden=64).load(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "agent.json").write_text('{"format": "something-else"}')
    with pytest.raises(WorkdirError, match="not a viper-torch-agent v1 checkpoint"):
        make(env).load(tmp_path / "ckpt")


def test_nan_loss_raises_before_changing_parameters(monkeypatch) -> None:
    env = PointEnv()
    agent = make(env)
    rollout(agent, PointEnv, 12)
    agent.replay.data["reward"][:] = np.nan
    before = {k: v.clone() for k, v in agent.critic.state_dict().items()}
    with pytest.raises(NonFiniteError, match="critic loss is nan"):
        agent.train()
    assert all(torch.equal(before[k], v) for k, v in agent.critic.state_dict().items())


def test_unsupported_inputs_say_what_is_supported() -> None:
    discrete = PointEnv(discrete=True)
    with pytest.raises(
        ConfigError, match=r"drq supports only continuous Box action spaces .* Discrete\(3\) .*--agent dreamer"
    ):
        make(discrete)
    no_image = PointEnv(with_image=False)
    with pytest.raises(
        ConfigError, match=r"drq is configured to read 'image' \(pixels\) but the env observes only state"
    ):
        make(no_image)
    with pytest.raises(ConfigError, match="agent.preset='fast'"):
        DrQConfig(preset="fast")
