"""DQN: shapes and contracts, epsilon-greedy acting, the double target, target copies, reward
clipping, checkpoints, bad input, and learning a small discrete task."""

from __future__ import annotations

import functools
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from viper.agents.dqn.agent import DQNAgent
from viper.agents.dqn.config import DQNConfig
from viper.agents.testing import PointEnv, mean_return, rollout
from viper.core.errors import ConfigError, WorkdirError
from viper.core.protocols import EnvStep

DiscretePoint = functools.partial(PointEnv, True)
StatePoint = functools.partial(PointEnv, True, with_image=False)


def make(env: gym.Env, seed: int = 0, **options) -> DQNAgent:
    config = DQNConfig(**{"preset": "tiny", **options})
    return DQNAgent(config, env.observation_space, env.action_space, seed=seed)


def test_pixels_with_frame_stack_train_and_act_in_range() -> None:
    agent = make(DiscretePoint(), frame_stack=2)
    actions = rollout(agent, DiscretePoint, 20)
    assert all(a.shape == (2,) and a.dtype == np.int64 and ((0 <= a) & (a < 3)).all() for a in actions)
    assert agent.replay.data["image"].shape[2:] == (16, 16, 6)  # two stacked RGB frames
    metrics = agent.train()
    for key in ("q_loss", "q_grad_norm", "q_mean", "target_mean", "epsilon"):
        assert math.isfinite(metrics[key]), key


def test_epsilon_greedy_explores_in_training_and_is_greedy_in_eval() -> None:
    agent = make(StatePoint(), obs_keys=("state",), epsilon="1.0")
    explored = np.concatenate(rollout(agent, StatePoint, 60))
    assert set(explored.tolist()) == {0, 1, 2}  # epsilon 1: uniform
    obs = np.array([[x, 0.5] for x in np.linspace(-1, 1, 9)], np.float32)
    flags = np.zeros(len(obs), bool)
    step = EnvStep({"state": obs}, np.zeros(len(obs), np.float32), flags, flags, flags)
    greedy = agent.q(None, torch.as_tensor(obs)).argmax(-1).numpy()
    np.testing.assert_array_equal(agent.act(step, mode="eval"), greedy)  # eval: no exploration
    assert agent.env_steps == 120  # eval steps are not counted


def test_double_target_uses_the_online_choice_valued_by_the_target_net() -> None:
    agent = make(StatePoint(), obs_keys=("state",), nstep=1)
    rollout(agent, StatePoint, 20)
    with torch.no_grad():  # make the two networks disagree
        for p in agent.q_target.parameters():
            p.add_(torch.randn_like(p))
    sample_keys = ("vector",)
    rng_state = agent.rng.bit_generator.state
    sample = agent.replay.sample_nstep(agent.config.batch_size, 1, agent.config.discount, agent.rng, sample_keys)
    agent.rng.bit_generator.state = rng_state  # train() draws the same batch
    nxt = torch.as_tensor(sample["next/vector"])
    with torch.no_grad():
        online_choice = agent.q(None, nxt).argmax(-1, keepdim=True)
        expected = torch.as_tensor(sample["reward"]) + torch.as_tensor(sample["discount"]) * agent.q_target(
            None, nxt
        ).gather(-1, online_choice).squeeze(-1)
    metrics = agent.train()
    assert metrics["target_mean"] == pytest.approx(float(expected.mean()), rel=1e-5)


def test_target_network_is_copied_every_target_every_updates() -> None:
    agent = make(StatePoint(), obs_keys=("state",), target_every=3)
    rollout(agent, StatePoint, 20)
    initial = [p.clone() for p in agent.q_target.parameters()]
    agent.train(), agent.train()
    assert all(torch.equal(a, b) for a, b in zip(initial, agent.q_target.parameters()))
    agent.train()
    assert all(torch.equal(a, b) for a, b in zip(agent.q.parameters(), agent.q_target.parameters()))


def test_reward_clip_and_scale() -> None:
    agent = make(StatePoint(), obs_keys=("state",), reward_clip=1.0, reward_scale=2.0)
    np.testing.assert_array_equal(agent.replay_reward(np.array([-3.0, 0.25, 7.0], np.float32)), [-1.0, 0.5, 1.0])
    assert DQNConfig(preset="atari").reward_clip == 1.0 and DQNConfig().reward_clip == 0.0


def test_checkpoint_roundtrip_resumes_identically(tmp_path) -> None:
    a = make(DiscretePoint())
    rollout(a, DiscretePoint, 12)
    a.train()
    a.save(tmp_path / "ckpt")
    b = make(DiscretePoint(), seed=1)
    b.load(tmp_path / "ckpt")
    assert b.env_steps == 24 and b.updates == 1
    np.testing.assert_array_equal(np.stack(rollout(a, DiscretePoint, 6)), np.stack(rollout(b, DiscretePoint, 6)))
    assert [a.train() for _ in range(3)] == [b.train() for _ in range(3)]
    with pytest.raises(WorkdirError, match="another dqn config .*hidden"):
        make(DiscretePoint(), hidden=64).load(tmp_path / "ckpt")


def test_bad_input_says_what_is_expected() -> None:
    with pytest.raises(ConfigError, match=r"dqn supports only Discrete action spaces.*--agent drq"):
        DQNAgent(DQNConfig(preset="tiny"), PointEnv().observation_space, PointEnv().action_space)
    with pytest.raises(ConfigError, match=r"agent.encoder=nature needs images of at least 36 pixels.*16x16"):
        make(DiscretePoint(), encoder="nature")
    with pytest.raises(ConfigError, match=r"agent.epsilon='fast'"):
        DQNConfig(epsilon="fast")
    with pytest.raises(ConfigError, match=r"agent.eval_epsilon=2"):
        DQNConfig(eval_epsilon=2)


def test_nature_encoder_on_64x64_grayscale_frames() -> None:
    env = PointEnv(True, size=64)
    agent = DQNAgent(DQNConfig(preset="atari", seed_steps=8), env.observation_space, env.action_space)
    assert agent.q.encoder.size == 64 * 4 * 4 and agent.frames_per_step == 4
    rollout(agent, functools.partial(PointEnv, True, size=64), 8)
    stored = agent.replay.data["image"]
    assert stored.shape[2:] == (64, 64, 4)  # four stacked luminance frames
    assert set(np.unique(stored[0, 0])) == {0, 255}  # the white column on black keeps its levels
    assert math.isfinite(agent.train()["q_loss"])
    with pytest.raises(ConfigError, match="agent.grayscale=true needs RGB images"):
        gray = gym.spaces.Dict({"image": gym.spaces.Box(0, 255, (64, 64, 1), np.uint8)})
        DQNAgent(DQNConfig(preset="atari"), gray, env.action_space)


class _Scripted:
    """The best policy of the discrete point task: step toward 0.5, then stay."""

    def act(self, step: EnvStep, mode: str = "eval") -> np.ndarray:
        x = step.obs["state"][:, 0]
        return np.where(x < 0.4, 2, np.where(x > 0.6, 0, 1))


def test_learns_the_point_task_from_state() -> None:
    # Reward 1 - |x - 0.5| for 10 steps from a random start in [-1, 1], moves of 0.2.
    options = dict(obs_keys=("state",), hidden=64, batch_size=32, seed_steps=200, epsilon="linear(1.0,0.05,1500)")
    agent = make(StatePoint(), **options)
    untrained = mean_return(agent, StatePoint, episodes=8)
    rollout(agent, StatePoint, 1500, learn=True)
    trained = mean_return(agent, StatePoint, episodes=8)
    best = mean_return(_Scripted(), StatePoint, episodes=8)  # 7.4 on these seeds; random ~1.7
    assert agent.updates > 2000
    assert trained > 0.9 * best and trained > untrained + 2.0, (untrained, trained, best)


@pytest.mark.slow
def test_learns_the_point_task_from_pixels_with_the_atari_preset() -> None:
    """The Atari path end to end: 64x64 RGB frames turned to luminance, 4 stacked, randomly
    shifted, the Nature convs; only the point's column says where it is (~3.5 CPU minutes)."""
    pixels = functools.partial(PointEnv, True, size=64)
    options = dict(
        preset="atari",
        obs_keys=("image",),
        hidden=64,
        seed_steps=200,
        epsilon="linear(1.0,0.05,1500)",
        update_every=1,
        target_every=200,
        threads=1,
    )
    agent = make(pixels(), **options)
    untrained = mean_return(agent, pixels, episodes=8)
    rollout(agent, pixels, 1500, learn=True)
    trained = mean_return(agent, pixels, episodes=8)
    # best 7.4 (random ~1.7, untrained 5.5). Trained, by agent seed: 7.35 and 7.34 (seeds 1, 2);
    # seed 0 gives 7.14 on one CPU and 6.56 (89%) on another, whose kernels round differently.
    best = mean_return(_Scripted(), pixels, episodes=8)
    assert trained > 0.85 * best and trained > untrained + 1.0, (untrained, trained, best)
