"""benchmarks/reference_dreamer.py: the adapter a public DreamerV3 steps viper's envs through,
its config merge, and the whole script against a stand-in reference (the real one,
NM512/dreamerv3-torch, cannot be downloaded in CI; its measured runs are in benchmarks/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from viper.core.components import make_env
from viper.core.errors import ConfigError

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "reference_dreamer.py"


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("reference_dreamer")


def test_the_adapter_speaks_the_old_gym_interface(bench):
    env = bench.OldGymEnv(make_env("lite:reach"), ("state", "image"), seed=3)
    assert set(env.observation_space.spaces) == {"state", "image"}
    obs = env.reset()
    first_id = env.id
    assert obs["is_first"] and not obs["is_terminal"] and obs["state"].shape == (6,)
    assert obs["image"].shape == (64, 64, 3)
    steps, done = 0, False
    while not done:
        obs, reward, done, info = env.step({"action": np.zeros(2, np.float32)})
        steps += 1
        assert not obs["is_first"] and isinstance(reward, float)
    # lite:reach ends by its time limit: done, but not terminal, so the discount stays 1
    assert steps == 100 and not obs["is_terminal"] and float(info["discount"]) == 1.0
    env.reset()
    assert env.id != first_id  # one replay file per episode
    with pytest.raises(ConfigError, match="not \\['pixels'\\]"):
        bench.OldGymEnv(make_env("lite:reach"), ("pixels",), seed=0)


def test_terminations_reach_the_reference_as_discount_zero(bench):
    env = bench.OldGymEnv(make_env("lite:balance"), ("state", "image"), seed=0)
    env.reset()
    done = False
    while not done:
        obs, _, done, info = env.step({"action": np.ones(1, np.float32)})  # pushes the cart over
    assert obs["is_terminal"] and float(info["discount"]) == 0.0


def test_values_and_config_merge(bench, tmp_path):
    assert bench.parse_values(["actor.lr=3e-5", "compile=False", "device=cpu", "envs=4"], "--set") == {
        "actor.lr": 3e-5, "compile": False, "device": "cpu", "envs": 4,
    }  # fmt: skip
    with pytest.raises(ConfigError, match="--set 'lr': expected KEY=VALUE"):
        bench.parse_values(["lr"], "--set")
    (tmp_path / "configs.yaml").write_text(
        textwrap.dedent("""\
            defaults:
              steps: 1e6
              eval_every: 1e4
              log_every: 1e4
              prefill: 2500
              time_limit: 1000
              batch_size: 16
              batch_length: 64
              actor: {lr: 3e-5, layers: 2}
            dmc_proprio:
              steps: 5e5
              actor: {layers: 3}
        """)
    )
    config = bench.reference_config(tmp_path, {"actor.lr": 1e-4, "batch_length": 16})
    assert config.steps == 500_000 and isinstance(config.steps, int)  # dmc_proprio over defaults
    assert config.actor == {"lr": 1e-4, "layers": 3}  # a dotted key reaches into its section
    assert config.batch_length == 16
    with pytest.raises(ConfigError, match="--set actor.learning_rate: the reference's configs.yaml has no such key"):
        bench.reference_config(tmp_path, {"actor.learning_rate": 1.0})
    with pytest.raises(ConfigError, match="no section 'critic'"):
        bench.reference_config(tmp_path, {"critic.lr": 1.0})


def test_a_folder_that_is_not_the_reference_is_refused_with_the_clone_command(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "--ref", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode != 0 and "git clone https://github.com/NM512/dreamerv3-torch" in out.stderr


#: A stand-in with the reference's entry points: ``dreamer.main(config)`` steps the envs that
#: ``dreamer.make_env`` builds (random actions), updates a "world model" whose reward head the
#: script instruments, and logs ``eval_return`` lines to ``metrics.jsonl`` as the reference does.
FAKE_DREAMER = """
import json, pathlib
import numpy as np
import torch
import models

def make_env(config, mode, id):
    raise NotImplementedError("the script replaces this")

def main(config):
    logdir = pathlib.Path(config.logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    train, evaluate = make_env(config, "train", 0), make_env(config, "eval", 0)
    wm, rng, lines = models.WorldModel(), np.random.default_rng(0), []
    for step in range(0, config.steps + 1, config.eval_every):
        rewards = []
        obs, done = train.reset(), False
        while not done:
            obs, reward, done, _ = train.step({"action": rng.uniform(-1, 1, 2)})
            rewards.append(reward)
        for _ in range(50):  # the script logs the head's statistics per 100 updates
            wm._train({"reward": np.asarray(rewards, np.float32)[None]})
        total, done = 0.0, False
        evaluate.reset()
        while not done:
            _, reward, done, _ = evaluate.step({"action": np.zeros(2)})
            total += reward
        lines.append(json.dumps({"step": step, "eval_return": total}))
        lines.append(json.dumps({"step": step, "imag_reward_mean": 0.5, "imag_reward_std": 0.1, "imag_reward_max": 1}))
    (logdir / "metrics.jsonl").write_text("\\n".join(lines) + "\\n")
"""

FAKE_MODELS = """
import torch
import networks

class Mode:
    def __init__(self, x):
        self.x = x
    def mode(self):
        return self.x

class WorldModel:
    heads = {"reward": lambda feat: Mode(feat[..., 0])}
    def __init__(self):
        networks.MLP(6, 1, 2, 64)  # the reference omits device= in places: must land on the CPU
    def _train(self, data):
        reward = torch.as_tensor(data["reward"])
        return None, {"feat": torch.stack([reward * 2 + 1, reward], -1)}, {}
"""

FAKE_NETWORKS = """
class MLP:
    def __init__(self, *args, device="cuda", **kwargs):
        assert device == "cpu", device
"""


def test_the_whole_script_against_a_stand_in_reference(tmp_path):
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "configs.yaml").write_text(
        "defaults: {steps: 1e6, eval_every: 1e4, log_every: 1e4, prefill: 2500, time_limit: 1000, "
        "batch_size: 16, batch_length: 64, dyn_deter: 512, dyn_hidden: 512, dyn_stoch: 32, dyn_discrete: 32, "
        "units: 512, train_ratio: 512, model_lr: 1e-4, actor: {lr: 3e-5}, critic: {lr: 3e-5}, "
        "encoder: {mlp_layers: 5, mlp_units: 1024}, decoder: {mlp_layers: 5, mlp_units: 1024}, envs: 4, "
        "action_repeat: 2, device: 'cuda:0', compile: true, parallel: false, video_pred_log: true, "
        "eval_episode_num: 10, seed: 0, logdir: null}\ndmc_proprio: {steps: 5e5}\n"
    )
    for name, text in (("dreamer", FAKE_DREAMER), ("models", FAKE_MODELS), ("networks", FAKE_NETWORKS)):
        (ref / f"{name}.py").write_text(text)
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--ref", str(ref), "--steps", "200", "--eval-every", "100",
         "--logdir", str(tmp_path / "log"), "--out", str(tmp_path / "out"), "--set", "envs=1"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "out" / "reference_dreamer-lite-reach-task.json").read_text())
    assert [step for step, _ in result["curve"]] == [0, 100, 200]
    assert result["eval_return"] == result["curve"][-1][1] and result["expert_return"] > 80
    assert result["settings"]["dyn_deter"] == 64 and result["settings"]["device"] == "cpu"
    # The instrumented reward head: the stand-in predicts 2 * reward + 1, a perfect correlation
    # wherever the random episode met any reward (elsewhere the target has no spread).
    assert result["reward_head"] and all(h["corr"] in (0.0, 1.0) for h in result["reward_head"])
    assert result["reward_head"][-1]["updates"] == 100  # 150 updates: one full row of 100
    assert result["imagined_reward"][0] == {"step": 0, "mean": 0.5, "std": 0.1, "max": 1.0}
    assert "of the expert's" in out.stdout
    # --summarize re-reads a logdir (a run stopped early) without training: the stand-in's
    # main would append three more evaluations if it ran.
    (tmp_path / "out" / "reference_dreamer-lite-reach-task.json").unlink()
    again = subprocess.run(
        [sys.executable, str(SCRIPT), "--ref", str(ref), "--summarize", "--steps", "200", "--eval-every", "100",
         "--logdir", str(tmp_path / "log"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    record = json.loads((tmp_path / "out" / "reference_dreamer-lite-reach-task.json").read_text())
    assert record["curve"] == result["curve"] and record["seconds"] is None
    missing = subprocess.run(
        [sys.executable, str(SCRIPT), "--ref", str(ref), "--summarize", "--logdir", str(tmp_path / "nothing")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert missing.returncode != 0 and "metrics.jsonl: missing" in missing.stderr
