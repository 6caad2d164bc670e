"""DreamerV3: shapes and contracts, the paper's pieces, checkpoints, bad input."""

from __future__ import annotations

import functools
import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from viper.agents.dreamer.agent import DreamerAgent
from viper.agents.dreamer.behavior import lambda_returns, replay_returns
from viper.agents.dreamer.config import DreamerConfig
from viper.agents.dreamer.dists import BoundedNormal, TwoHot, twohot_bins
from viper.agents.testing import PointEnv, rollout
from viper.core.errors import ConfigError, NonFiniteError, WorkdirError


def make(env: gym.Env, **options) -> DreamerAgent:
    config = DreamerConfig(**{"preset": "debug", "obs_keys": ("image", "state"), "prefill": 8, **options})
    return DreamerAgent(config, env.observation_space, env.action_space, seed=0)


def test_continuous_from_image_and_state() -> None:
    env = PointEnv()
    agent = make(env)
    actions = rollout(agent, PointEnv, 30)
    assert all(a.shape == (2, 1) and a.dtype == np.float32 for a in actions)
    assert all(((-2 <= a) & (a <= 2)).all() for a in actions)  # mapped onto the env's bounds
    assert agent.env_steps == 60 and len(agent.replay) == 60
    assert agent.updates_per_step == pytest.approx(16 / (4 * 8))
    metrics = agent.train()
    for key in (
        "model_loss",
        "image_loss",
        "vector_loss",
        "reward_loss",
        "cont_loss",
        "dyn_loss",
        "rep_loss",
        "actor_loss",
        "critic_loss",
    ):
        assert key in metrics and math.isfinite(metrics[key]), key
    assert metrics["dyn_loss"] >= 1.0 and metrics["rep_loss"] >= 1.0  # free bits
    eval_actions = rollout(agent, PointEnv, 5, mode="eval")
    assert eval_actions[0].shape == (2, 1) and agent.env_steps == 60  # eval records nothing


def test_discrete_actions_and_exploration_bonus() -> None:
    env = PointEnv(discrete=True)
    agent = make(env, obs_keys=("state",), explore=True, explore_models=3)
    actions = rollout(agent, functools.partial(PointEnv, True), 20)
    assert all(a.dtype == np.int64 and a.shape == (2,) and set(a.tolist()) <= {0, 1, 2} for a in actions)
    metrics = agent.train()
    assert metrics["policy_entropy"] <= math.log(3) + 1e-5
    for key in ("disag_loss", "expl_reward", "expl_critic_loss", "actor_loss", "adv_task_std", "adv_expl_std"):
        assert key in metrics and math.isfinite(metrics[key]), key
    # the novelty return's range is under the floor, so its normaliser stays at 1
    assert metrics["expl_retnorm_scale"] == pytest.approx(1.0)
    # the mixed advantage, (task + beta * novelty) / (1 + beta), cannot spread more than its parts
    assert metrics["adv_std"] <= (metrics["adv_task_std"] + metrics["adv_expl_std"]) / 2 + 1e-6


def test_the_novelty_ensemble_reads_actions_bounded_as_the_dynamics_do() -> None:
    """An imagined sample of 3 is executed as 1: Plan2Explore must not rate it as novel."""
    env = PointEnv()
    agent = make(env, obs_keys=("state",), explore=True, explore_models=3)
    feat = torch.randn(5, agent.wm.rssm.feat_size)
    inside = torch.ones(5, 1)
    beyond = torch.full((5, 1), 3.0)
    disag = agent.behavior.disag
    assert torch.allclose(disag.reward(feat, beyond), disag.reward(feat, inside))
    assert not torch.allclose(disag.reward(feat, inside), disag.reward(feat, -inside))
    beyond.requires_grad_(True)
    disag.reward(feat, beyond).sum().backward()
    assert beyond.grad is not None and torch.isfinite(beyond.grad).all()


def test_paper_sizes_preset() -> None:
    env = PointEnv(size=64)
    agent = make(env, preset="dmc_vision", obs_keys=("image",), prefill=None)
    c = agent.config
    assert (c.deter, c.hidden, c.layers, c.cnn_depth, c.stoch, c.classes) == (512, 512, 2, 32, 32, 32)
    assert (c.batch_size, c.batch_length, c.train_ratio) == (16, 64, 64)
    assert (c.discount, c.imag_horizon, c.return_lambda, c.actor_entropy, c.unimix) == (0.997, 15, 0.95, 3e-4, 0.01)
    assert agent.updates_per_step == pytest.approx(64 / (16 * 64))
    assert agent.wm.rssm.gru[0].weight.shape == (3 * 512, 512 + 512)
    convs = [m for m in agent.wm.encoder.cnn if isinstance(m, torch.nn.Conv2d)]
    assert [m.out_channels for m in convs] == [32, 64, 128, 256] and agent.wm.encoder.size == 256 * 16


def test_twohot_symexp_bins() -> None:
    bins = twohot_bins(255, torch.device("cpu"))
    assert bins[127] == 0 and bins[-1] == pytest.approx(math.expm1(20), rel=1e-5)
    assert TwoHot(torch.zeros(3, 255), bins).mean().abs().max() == 0  # zero-initialised heads predict 0
    for target in (0.0, 0.37, -5.2, 123.4, 1e5):
        logits = torch.zeros(1, 255, requires_grad=True)
        (-TwoHot(logits, bins).log_prob(torch.tensor([target]))).sum().backward()
        weights = torch.softmax(logits.detach(), -1) - logits.grad  # d(-log p)/d logits = softmax - target
        nonzero = torch.nonzero(weights[0] > 1e-6).flatten()
        assert len(nonzero) <= 2 and (len(nonzero) < 2 or nonzero[1] - nonzero[0] == 1)
        assert float(weights.sum()) == pytest.approx(1.0, abs=1e-5)
        assert float((weights * bins).sum()) == pytest.approx(target, rel=1e-4, abs=1e-4)


def test_lambda_returns_match_reference() -> None:
    config = DreamerConfig(preset="debug", discount=0.9, return_lambda=0.8)
    rng = np.random.default_rng(0)
    reward, value = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    cont = np.ones((5, 3))
    cont[3, 1] = 0  # a terminal imagined state
    expected = np.zeros((4, 3))
    following = value[4]
    for t in reversed(range(4)):
        following = reward[t] + 0.9 * cont[t + 1] * ((1 - 0.8) * value[t + 1] + 0.8 * following)
        expected[t] = following
    got = lambda_returns(*(torch.tensor(x, dtype=torch.float32) for x in (reward, value, cont)), config)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)


def test_same_seed_same_behaviour_and_checkpoint_roundtrip(tmp_path) -> None:
    env = PointEnv()
    a, b = make(env), make(env)
    np.testing.assert_array_equal(np.stack(rollout(a, PointEnv, 12)), np.stack(rollout(b, PointEnv, 12)))
    ma, mb = a.train(), b.train()
    assert ma == mb
    a.save(tmp_path / "ckpt")
    meta = json.loads((tmp_path / "ckpt" / "agent.json").read_text())
    assert meta["format"] == "viper-torch-agent" and meta["counters"] == {"env_steps": 24, "updates": 1}
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.pkl"))
    c = make(env, prefill=8)
    c.load(tmp_path / "ckpt")
    assert c.env_steps == 24 and c.updates == 1 and len(c.replay) == 24
    assert a.train() == c.train()  # same replay sample, weights, optimiser and generator state


def test_bad_checkpoints_are_refused(tmp_path) -> None:
    env = PointEnv()
    agent = make(env)
    rollout(agent, PointEnv, 10)
    agent.save(tmp_path / "ckpt")
    with pytest.raises(WorkdirError, match="another dreamer config .*deter"):
        make(env, deter=48).load(tmp_path / "ckpt")
    with pytest.raises(WorkdirError, match="another dreamer config .*obs_keys"):
        make(env, obs_keys=("image",)).load(tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    fresh = make(env)
    before = {k: v.clone() for k, v in fresh.wm.state_dict().items()}
    with pytest.raises(WorkdirError, match="weights.safetensors: missing or corrupt"):
        fresh.load(tmp_path / "ckpt")
    assert all(torch.equal(before[k], v) for k, v in fresh.wm.state_dict().items())  # untouched


def test_nan_loss_raises_before_changing_parameters(monkeypatch) -> None:
    env = PointEnv()
    agent = make(env)
    rollout(agent, PointEnv, 12)
    original = agent.wm.loss

    def poisoned(data, generator):
        loss, post, metrics = original(data, generator)
        return loss * float("nan"), post, metrics

    monkeypatch.setattr(agent.wm, "loss", poisoned)
    before = {k: v.clone() for k, v in agent.wm.state_dict().items()}
    with pytest.raises(NonFiniteError, match="model loss is nan"):
        agent.train()
    assert all(torch.equal(before[k], v) for k, v in agent.wm.state_dict().items())


def test_bad_spaces_and_options() -> None:
    env = PointEnv()
    with pytest.raises(
        ConfigError, match=r"dreamer supports continuous Box .* and Discrete action spaces; this env has MultiBinary"
    ):
        DreamerAgent(
            DreamerConfig(preset="debug", obs_keys=("state",)), env.observation_space, gym.spaces.MultiBinary(3)
        )
    no_image = PointEnv(with_image=False)
    with pytest.raises(ConfigError, match=r"configured to read 'image' \(pixels\) but the env observes only state"):
        DreamerAgent(DreamerConfig(preset="debug"), no_image.observation_space, no_image.action_space)
    odd = PointEnv(size=20)
    with pytest.raises(ConfigError, match="side of 4 \\* 2\\^k pixels.*got 20x20"):
        DreamerAgent(DreamerConfig(preset="debug"), odd.observation_space, odd.action_space)
    with pytest.raises(ConfigError, match="agent.preset='huge'"):
        DreamerConfig(preset="huge")
    with pytest.raises(ConfigError, match="agent.bins=4"):
        DreamerConfig(bins=4)


def test_proprio_preset_starts_broad_and_evaluates_the_mode() -> None:
    env = PointEnv(with_image=False)
    agent = make(env, preset="proprio", obs_keys=("state",), prefill=4)
    c = agent.config
    assert (c.deter, c.hidden, c.stoch, c.classes, c.batch_size, c.batch_length) == (64, 64, 8, 8, 16, 16)
    assert agent.updates_per_step == pytest.approx(0.5)
    assert (c.model_lr, c.actor_lr, c.critic_lr, c.eval_sample) == (3e-4, 1e-4, 1e-4, False)
    # Output weights at 1% of the default variance: every state starts with nearly the same policy.
    full = make(env, preset="proprio", obs_keys=("state",), actor_outscale=1.0)
    ratio = float(agent.behavior.actor.out.weight.detach().std() / full.behavior.actor.out.weight.detach().std())
    assert ratio == pytest.approx(0.1, rel=0.3)
    env_fn = functools.partial(PointEnv, with_image=False)
    rollout(agent, env_fn, 10)  # trains with sampled actions
    sampled = make(env, preset="proprio", obs_keys=("state",), eval_sample=True)

    def refuse(self, generator):
        raise AssertionError("sampled an evaluation action")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BoundedNormal, "rsample", refuse)
        rollout(agent, env_fn, 5, mode="eval")  # the mode: no action sampled
        with pytest.raises(AssertionError, match="sampled an evaluation action"):
            rollout(sampled, env_fn, 5, mode="eval")


def test_older_presets_keep_their_settings_and_stage_hashes() -> None:
    from viper.core.config import to_dict

    for preset in ("debug", "small", "dmc_vision"):
        c = DreamerConfig(preset=preset)
        assert (c.model_lr, c.actor_lr, c.critic_lr, c.eval_sample) == (1e-4, 3e-5, 3e-5, True)
        keys = to_dict(c)
        # Added later and left at their default: not part of the cached stage's name.
        assert "actor_outscale" not in keys and "replay_value_scale" not in keys
        assert keys["actor_lr"] == 3e-5
    assert to_dict(DreamerConfig(preset="proprio"))["replay_value_scale"] == 0.3


def test_replay_returns_match_reference() -> None:
    config = DreamerConfig(preset="debug", discount=0.9, return_lambda=0.8)
    rng = np.random.default_rng(1)
    reward, boot = rng.normal(size=(2, 6)), rng.normal(size=(2, 6))
    is_last, is_terminal = np.zeros((2, 6), bool), np.zeros((2, 6), bool)
    is_last[0, 3] = True  # a time limit: the return of step 2 stops at step 3's bootstrap
    is_terminal[1, 4] = True  # a termination: nothing after step 4 counts
    expected = np.zeros((2, 5))
    for b in range(2):
        following = boot[b, 5]
        for t in reversed(range(5)):
            live = 0.9 * (1 - is_terminal[b, t + 1])
            lam = 0.8 * (1 - is_last[b, t + 1])
            following = reward[b, t + 1] + live * ((1 - lam) * boot[b, t + 1] + lam * following)
            expected[b, t] = following
    assert expected[0, 2] == pytest.approx(reward[0, 3] + 0.9 * boot[0, 3])
    assert expected[1, 3] == pytest.approx(reward[1, 4])
    tensors = [torch.tensor(x) for x in (reward, boot, is_last, is_terminal)]
    np.testing.assert_allclose(replay_returns(*tensors, config).numpy(), expected, rtol=1e-6)


def test_reward_head_diagnostics_and_replay_value_loss() -> None:
    env = PointEnv(with_image=False)
    agent = make(env, obs_keys=("state",), replay_value_scale=0.3)
    rollout(agent, functools.partial(PointEnv, with_image=False), 20)
    metrics = agent.train()
    # A zero-initialised reward head predicts a constant 0 at first: no spread, no correlation.
    assert metrics["reward_pred_std"] == pytest.approx(0.0, abs=1e-6) and metrics["reward_pred_corr"] == 0.0
    assert metrics["reward_target_mean"] > 0 and metrics["reward_target_std"] > 0
    assert math.isfinite(metrics["critic_replay_loss"]) and math.isfinite(metrics["replay_return_mean"])
    for _ in range(30):
        metrics = agent.train()
    assert metrics["reward_pred_std"] > 0 and metrics["reward_pred_corr"] > 0.2  # it learns the reward


@pytest.mark.parametrize("actor_grad", [None, "backprop", "reinforce"])
def test_continuous_actor_gradients(actor_grad) -> None:
    # REINFORCE needs only the sampled actions: imagination runs without autograd (cheaper);
    # backprop (the default) differentiates the returns through the imagined dynamics.
    env = PointEnv(with_image=False)
    agent = make(env, obs_keys=("state",), actor_grad=actor_grad)
    rollout(agent, functools.partial(PointEnv, with_image=False), 20)
    grad_enabled, imagine = [], agent.behavior.imagine

    def recording(*args, **kwargs):
        grad_enabled.append(torch.is_grad_enabled())
        return imagine(*args, **kwargs)

    agent.behavior.imagine = recording
    before = [p.detach().clone() for p in agent.behavior.actor.parameters()]
    metrics = agent.train()
    assert grad_enabled and set(grad_enabled) == {actor_grad != "reinforce"}
    assert math.isfinite(metrics["actor_loss"]) and metrics["actor_grad_norm"] > 0
    assert any(not torch.equal(b, p) for b, p in zip(before, agent.behavior.actor.parameters()))
    with pytest.raises(ConfigError, match="agent.actor_grad='straight'"):
        DreamerConfig(actor_grad="straight")


def test_entropy_target_learns_the_entropy_weight(tmp_path) -> None:
    env = PointEnv(with_image=False)
    env_fn = functools.partial(PointEnv, with_image=False)
    fixed = make(env, obs_keys=("state",))
    rollout(fixed, env_fn, 20)
    assert "entropy_weight" not in fixed.train() and not hasattr(fixed.behavior, "log_entropy_weight")
    # A target above any reachable entropy (the std tops out at 1: 2.84 nats in 2 dims) raises
    # the weight every update; one below the floor (std 0.1: -1.8) lowers it.
    for target, rises in ((10.0, True), (-10.0, False)):
        agent = make(env, obs_keys=("state",), actor_entropy_target=target, actor_entropy_lr=0.1)
        rollout(agent, env_fn, 20)
        weights = [agent.train()["entropy_weight"] for _ in range(4)]
        assert weights[0] == pytest.approx(agent.config.actor_entropy)  # starts at the fixed weight
        assert all((b > a) == rises for a, b in zip(weights, weights[1:])), weights
    assert "entropy_weight" in agent.checkpointed().optimizers  # resumes with its Adam state
