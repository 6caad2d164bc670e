"""DrQ-v2 and DrQ (SAC): shapes and contracts, augmentation, exploration schedule, the temperature,
checkpoints, bad input."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from viper.agents.drq.agent import DrQAgent, random_shift
from viper.agents.drq.config import DrQConfig
from viper.agents.schedules import parse_schedule
from viper.agents.testing import PointEnv, rollout
from viper.core.config import to_dict
from viper.core.errors import ConfigError, NonFiniteError, WorkdirError


def make(env: gym.Env, seed_offset: int = 0, **options) -> DrQAgent:
    config = DrQConfig(**{"hidden": 32, "batch_size": 16, "seed_steps": 8, "random_steps": 4, **options})
    return DrQAgent(config, env.observation_space, env.action_space, seed=seed_offset)


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


def test_conv_channels_narrow_the_image_encoder() -> None:
    env = PointEnv()
    wide, narrow = make(env), make(env, conv_channels=8)
    assert wide.encoder.size == 32 * 1 * 1 and narrow.encoder.size == 8 * 1 * 1  # 16x16: 7 - 6 = 1
    assert all(m.out_channels == 8 for m in narrow.encoder.convnet if isinstance(m, torch.nn.Conv2d))
    rollout(narrow, PointEnv, 20)
    assert math.isfinite(narrow.train()["critic_loss"])
    assert "conv_channels" not in to_dict(DrQConfig()) and to_dict(DrQConfig(conv_channels=16))["conv_channels"] == 16
    with pytest.raises(ConfigError, match=r"agent.conv_channels=0"):
        DrQConfig(conv_channels=0)


def test_spatial_softmax_finds_each_channels_peak() -> None:
    from viper.agents.encoders import SpatialSoftmax

    readout = SpatialSoftmax(5, 9)
    features = torch.full((1, 2, 5, 9), -50.0)
    features[0, 0, 0, 8] = 50.0  # top right
    features[0, 1, 2, 0] = 50.0  # middle row, left edge
    points = readout(features).view(2, 2)
    assert torch.allclose(points, torch.tensor([[1.0, -1.0], [-1.0, 0.0]]), atol=1e-4)
    assert "grid" not in readout.state_dict()  # derived from the shape, not checkpointed


@pytest.mark.parametrize("algorithm", ["drqv2", "drq"])
def test_keypoint_encoder_gives_two_coordinates_per_channel_and_learns(algorithm) -> None:
    env = PointEnv()
    agent = make(env, algorithm=algorithm, encoder="keypoints", conv_channels=8)
    assert agent.encoder.size == 16
    rollout(agent, PointEnv, 20)
    h = agent.encoder(torch.as_tensor(agent.replay.data["image"][0, :4]), None)
    assert h.shape == (4, 16) and bool((h.abs() <= 1).all())
    before = [p.detach().clone() for p in agent.encoder.parameters()]
    assert math.isfinite(agent.train()["critic_loss"])
    assert any(not torch.equal(p, q) for p, q in zip(before, agent.encoder.parameters()))
    assert "encoder" not in to_dict(DrQConfig()) and to_dict(DrQConfig(encoder="keypoints"))["encoder"] == "keypoints"
    with pytest.raises(ConfigError, match=r"agent.encoder"):
        DrQConfig(encoder="resnet")


def test_keypoint_encoder_rejects_images_too_small_for_its_convs() -> None:
    from viper.agents.encoders import Encoder
    from viper.agents.spaces import select_observations

    space = gym.spaces.Dict({"image": gym.spaces.Box(0, 255, (12, 12, 3), np.uint8)})
    with pytest.raises(ConfigError, match=r"agent.encoder=keypoints needs images of at least 13 pixels.*12x12"):
        Encoder(select_observations(space, ("image",), "drq"), 1, 0, 8, "keypoints")


def test_state_observations_need_no_pixels() -> None:
    env = PointEnv(with_image=False)
    agent = make(env, obs_keys=("state",))
    assert agent.frames_per_step == 1 and "image" not in agent.replay.spec
    rollout(agent, lambda: PointEnv(with_image=False), 12)
    assert math.isfinite(agent.train()["critic_loss"])


@pytest.mark.parametrize("algorithm", ["drqv2", "drq"])
def test_plain_mlps_on_the_state_without_encoder_or_trunk(algorithm) -> None:
    """state_hidden=0 and feature_dim=0: the heads read the raw state (plain SAC/TD3 networks)."""
    env = PointEnv(with_image=False)
    agent = make(env, algorithm=algorithm, obs_keys=("state",), state_hidden=0, feature_dim=0)
    state_size = env.observation_space["state"].shape[0]
    assert agent.encoder.size == state_size and not list(agent.encoder.parameters())
    assert isinstance(agent.critic.trunk, torch.nn.Identity)
    assert agent.critic.q1[0].in_features == state_size + agent.actions.size
    rollout(agent, lambda: PointEnv(with_image=False), 12)
    before = [p.detach().clone() for p in agent.critic.parameters()]
    assert math.isfinite(agent.train()["critic_loss"])
    assert any(not torch.equal(p, q) for p, q in zip(before, agent.critic.parameters()))
    with pytest.raises(ConfigError, match="agent.feature_dim"):
        DrQConfig(feature_dim=-1)


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


@pytest.mark.parametrize("algorithm", ["drqv2", "drq"])
def test_checkpoint_roundtrip_and_refusals(tmp_path, algorithm) -> None:
    env = PointEnv()
    a = make(env, algorithm=algorithm)
    rollout(a, PointEnv, 12)
    a.train()
    a.train()
    a.save(tmp_path / "ckpt")
    b = make(env, algorithm=algorithm, seed_offset=1)
    b.load(tmp_path / "ckpt")
    assert b.env_steps == 24 and b.updates == 2
    if algorithm == "drq":  # the temperature and its Adam moments come back too
        assert torch.equal(a.temperature.log_alpha, b.temperature.log_alpha)
        assert torch.equal(a.alpha_opt.opt.state[a.temperature.log_alpha]["exp_avg"],
                           b.alpha_opt.opt.state[b.temperature.log_alpha]["exp_avg"])  # fmt: skip
    # A resumed agent acts and learns as the uninterrupted one does.
    np.testing.assert_array_equal(np.stack(rollout(a, PointEnv, 6)), np.stack(rollout(b, PointEnv, 6)))
    assert [a.train() for _ in range(3)] == [b.train() for _ in range(3)]
    with pytest.raises(WorkdirError, match="another drq config .*hidden"):
        make(env, algorithm=algorithm, hidden=64).load(tmp_path / "ckpt")
    if algorithm == "drq":
        with pytest.raises(WorkdirError, match="another drq config .*algorithm"):
            make(env).load(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "agent.json").write_text('{"format": "something-else"}')
    with pytest.raises(WorkdirError, match="not a viper-torch-agent v1 checkpoint"):
        make(env).load(tmp_path / "ckpt")


def test_a_checkpoint_older_than_a_config_field_loads_while_that_field_holds_its_default(tmp_path) -> None:
    import json

    env = PointEnv()
    a = make(env)
    rollout(a, PointEnv, 12)
    a.save(tmp_path / "ckpt")
    meta_path = tmp_path / "ckpt" / "agent.json"
    meta = json.loads(meta_path.read_text())
    del meta["config"]["conv_channels"]  # as written before the field existed
    meta_path.write_text(json.dumps(meta))
    b = make(env)
    b.load(tmp_path / "ckpt")
    assert b.env_steps == a.env_steps > 0
    with pytest.raises(WorkdirError, match="another drq config .*conv_channels"):
        make(env, conv_channels=8).load(tmp_path / "ckpt")


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
        ConfigError, match=r"drq supports only continuous Box action spaces .* Discrete\(3\) .*--agent dqn"
    ):
        make(discrete)
    no_image = PointEnv(with_image=False)
    with pytest.raises(
        ConfigError, match=r"drq is configured to read 'image' \(pixels\) but the env observes only state"
    ):
        make(no_image)
    with pytest.raises(ConfigError, match="agent.preset='fast'"):
        DrQConfig(preset="fast")


# ----------------------------------------------------------------------------------------------
# algorithm=drq: SAC's actor and temperature.


def test_sac_update_changes_actor_critic_encoder_and_temperature() -> None:
    env = PointEnv()
    agent = make(env, algorithm="drq")
    assert agent.target_entropy == -1.0 and agent.temperature().item() == pytest.approx(0.1)
    rollout(agent, PointEnv, 12)
    before = {
        name: [p.detach().clone() for p in module.parameters()]
        for name, module in (("actor", agent.actor), ("critic", agent.critic), ("encoder", agent.encoder))
    }
    alpha = agent.temperature.log_alpha.item()
    metrics = agent.train()
    for key in ("critic_loss", "actor_loss", "alpha_loss", "alpha", "entropy", "q_mean", "target_mean"):
        assert math.isfinite(metrics[key]), key
    assert "std" not in metrics  # no noise schedule: the policy's entropy explores
    for name, module in (("actor", agent.actor), ("critic", agent.critic), ("encoder", agent.encoder)):
        assert any(not torch.equal(p, q) for p, q in zip(before[name], module.parameters())), name
    assert agent.temperature.log_alpha.item() != alpha


def _set_policy(agent: DrQAgent, log_std: float) -> None:
    """Make the actor output mean 0 and ``log_std`` for every input."""
    layer = agent.actor.policy[-1]
    low, high = agent.actor.LOG_STD_MIN, agent.actor.LOG_STD_MAX
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.zero_()
        layer.bias[agent.actions.size :] = math.atanh(2 * (log_std - low) / (high - low) - 1)


@pytest.mark.parametrize("log_std, direction", [(0.0, -1), (-6.0, 1)])
def test_sac_temperature_moves_toward_the_target_entropy(log_std, direction) -> None:
    env = PointEnv(with_image=False)
    agent = make(env, algorithm="drq", obs_keys=("state",))
    rollout(agent, lambda: PointEnv(with_image=False), 12)
    _set_policy(agent, log_std)
    before = agent.temperature.log_alpha.item()
    metrics = agent.train()
    # std 1 squashed by tanh has entropy ~0.5 > -1: alpha falls; std e^-6 has ~-4.6: alpha rises.
    assert np.sign(metrics["entropy"] - agent.target_entropy) == -direction
    assert np.sign(agent.temperature.log_alpha.item() - before) == direction


def test_sac_log_probability_matches_the_change_of_variables() -> None:
    env = PointEnv(with_image=False)
    agent = make(env, algorithm="drq", obs_keys=("state",))
    _set_policy(agent, -0.5)
    h = torch.zeros(20000, agent.encoder.size)
    action, log_prob = agent.actor.sample(h, torch.Generator().manual_seed(0))
    assert ((-1 < action) & (action < 1)).all()
    u = torch.atanh(action.clamp(-1 + 1e-6, 1 - 1e-6))
    normal = torch.distributions.Normal(0.0, math.exp(-0.5))
    expected = (normal.log_prob(u) - torch.log1p(-action.pow(2) + 1e-12)).sum(-1)
    inner = action.abs().max(-1).values < 0.99  # away from the edges, where float32 loses atanh
    torch.testing.assert_close(log_prob[inner], expected[inner], rtol=1e-3, atol=1e-3)


def test_sac_explores_in_training_and_acts_with_the_mean_in_eval() -> None:
    env = PointEnv(with_image=False)
    agent = make(env, algorithm="drq", obs_keys=("state",), random_steps=0)
    _set_policy(agent, 0.0)
    make_env = lambda: PointEnv(with_image=False)  # noqa: E731
    first = np.stack(rollout(agent, make_env, 5, mode="eval"))
    again = np.stack(rollout(agent, make_env, 5, mode="eval"))
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, 0.0)  # tanh of the mean, 0 here
    explored = np.stack(rollout(agent, make_env, 5))
    assert np.abs(explored).std() > 0.1 and agent.env_steps == 10


def test_algorithm_options_are_checked_and_left_out_of_hashes_at_their_defaults() -> None:
    with pytest.raises(ConfigError, match=r"agent.algorithm='sac'.*'drqv2', 'drq'"):
        DrQConfig(algorithm="sac")
    with pytest.raises(ConfigError, match=r"agent.init_temperature=0.*> 0"):
        DrQConfig(algorithm="drq", init_temperature=0.0)
    keyed = to_dict(DrQConfig())
    assert "algorithm" not in keyed and "init_temperature" not in keyed
    assert to_dict(DrQConfig(algorithm="drq"))["algorithm"] == "drq"
