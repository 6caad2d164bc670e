"""TorchAgent: what a subclass gets from the base (seeding, recording, checkpoints)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from viper.agents.base import Checkpointed, TorchAgent
from viper.agents.testing import PointEnv, rollout
from viper.agents.torchutils import Optimizer
from viper.core.errors import WorkdirError


@dataclasses.dataclass
class LinearConfig:
    obs_keys: tuple[str, ...] = ("state",)
    device: str = "cpu"
    threads: int = 0
    replay_capacity: int = 100
    lr: float = 1e-2


class LinearAgent(TorchAgent):
    """The smallest complete agent: a linear policy with noise, regressed onto recorded rewards."""

    Config = LinearConfig
    name = "linear"
    discrete_actions = False
    rng_stream = 3

    def build(self) -> None:
        self.updates_per_step, self.train_start = 1.0, 4
        self.net = torch.nn.Linear(self.spec.vector_size, self.actions.size)
        self.opt = Optimizer("linear", self.net.parameters(), self.config.lr, 1e-8, 1.0)

    def policy(self, image, vector, step, mode) -> np.ndarray:
        self.episodes[mode] = True
        noise = torch.randn(len(vector), self.actions.size, generator=self.generator)
        return self.net(vector).add(noise if mode == "train" else 0).clamp(-1, 1).numpy().astype(np.float32)

    def train(self) -> dict[str, float]:
        index = self.rng.integers(0, len(self.replay), 8)
        vector = torch.as_tensor(self.replay.data["vector"].reshape(-1, self.spec.vector_size)[index])
        self.updates += 1
        return self.opt.step(self.net(vector).square().mean())

    def checkpointed(self) -> Checkpointed:
        return Checkpointed(modules={"net": self.net}, optimizers={"linear": self.opt.opt})


def make(seed: int = 0, **options) -> LinearAgent:
    env = PointEnv(with_image=False)
    return LinearAgent(LinearConfig(**options), env.observation_space, env.action_space, seed=seed)


def test_the_seed_decides_weights_actions_and_updates_without_touching_torchs_generator() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b, other = make(), make(), make(seed=1)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(a.net.weight, b.net.weight) and not torch.equal(a.net.weight, other.net.weight)
    env = lambda: PointEnv(with_image=False)  # noqa: E731
    np.testing.assert_array_equal(np.stack(rollout(a, env, 6)), np.stack(rollout(b, env, 6)))
    assert a.train() == b.train()
    assert a.env_steps == 12 and len(a.replay) == 12 and a.replay.spec["action"] == ((1,), np.float32)
    assert set(a.replay.spec) == {"vector", "action", "reward", "is_first", "is_last", "is_terminal"}


def test_save_load_round_trip_restores_every_part_of_the_state(tmp_path) -> None:
    env = lambda: PointEnv(with_image=False)  # noqa: E731
    a = make()
    rollout(a, env, 6)
    a.train()
    a.save(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "agent.json",
        "optim.safetensors",
        "replay",
        "rng.safetensors",
        "weights.safetensors",
    ]
    b = make(seed=5)
    b.episodes["train"] = True
    b.load(tmp_path / "ckpt")
    assert (b.env_steps, b.updates, len(b.replay), b.episodes) == (12, 1, 12, {})
    assert torch.equal(a.net.weight, b.net.weight)
    np.testing.assert_array_equal(np.stack(rollout(a, env, 3)), np.stack(rollout(b, env, 3)))
    assert a.train() == b.train()  # same replay sample, optimiser moments and generators
    with pytest.raises(WorkdirError, match="another linear config .*lr"):
        make(lr=0.5).load(tmp_path / "ckpt")


def test_load_policy_restores_the_weights_without_reading_replay_or_optimiser(tmp_path) -> None:
    import shutil

    a = make()
    rollout(a, lambda: PointEnv(with_image=False), 6)
    a.train()
    a.save(tmp_path / "ckpt")
    # A policy needs only the weights: the replay and optimiser files may be gone.
    shutil.rmtree(tmp_path / "ckpt" / "replay")
    (tmp_path / "ckpt" / "optim.safetensors").unlink()
    b = make(seed=5)
    b.load_policy(tmp_path / "ckpt")
    assert torch.equal(a.net.weight, b.net.weight) and (len(b.replay), b.updates) == (0, 0)
    with pytest.raises(WorkdirError, match="replay"):
        make().load(tmp_path / "ckpt")
    with pytest.raises(WorkdirError, match="another linear config .*lr"):
        make(lr=0.5).load_policy(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "weights.safetensors").write_bytes(b"garbage")
    with pytest.raises(WorkdirError, match="weights.safetensors: missing or corrupt"):
        make().load_policy(tmp_path / "ckpt")


def test_a_subclass_must_state_the_whole_contract() -> None:
    class Incomplete(TorchAgent):
        name, Config, discrete_actions, rng_stream = "incomplete", LinearConfig, False, 0

        def build(self) -> None: ...

    env = PointEnv(with_image=False)
    with pytest.raises(TypeError, match="checkpointed"):
        Incomplete(None, env.observation_space, env.action_space)
