"""The agents driven by viper.core.loop: a JAX reward rewarding a torch agent in one process,
``viper-run train`` killed with SIGKILL and resumed, and (slow) learning lite:reach."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from viper.agents.dreamer.agent import DreamerAgent
from viper.agents.dreamer.config import DreamerConfig
from viper.agents.drq.agent import DrQAgent
from viper.agents.drq.config import DrQConfig
from viper.agents.testing import PointEnv
from viper.core.loop import LoopConfig, train_agent
from viper.core.metrics import read_metrics
from viper.core.workdir import Workdir


class JaxColumnReward:
    """A reward computed by a jitted JAX function of the frames: how close the bright column
    of PointEnv's frame is to x = 0.5 (the env's own reward, recomputed from pixels)."""

    needs = frozenset()

    def __init__(self) -> None:
        import jax
        import jax.numpy as jnp

        def score(frames):
            profile = frames.astype(jnp.float32).mean(axis=(1, 3))  # [B, W]
            position = (profile * jnp.arange(frames.shape[2])).sum(-1) / profile.sum(-1)
            x = position / (frames.shape[2] - 1) * 2 - 1
            return 1.0 - jnp.abs(x - 0.5)

        self.score = jax.jit(score)

    def stream(self, num_envs, task_ids=None):
        return self

    def step(self, batch):
        # np.asarray of a jax array is read-only and shares memory: copy before handing it on.
        return np.array(self.score(batch.frames), dtype=np.float32)

    def relabel(self, frames, task_ids=None, task_reward=None):
        return np.stack([self.step(type("B", (), {"frames": f})()) for f in frames])


def test_jax_reward_trains_torch_agent_in_one_process(tmp_path) -> None:
    reward = JaxColumnReward()
    wd = Workdir(tmp_path)
    stage = wd.stage("agent", {})
    stage.start()
    ctx = stage.context(progress=False)
    agents = []

    def agent_fn(obs_space, act_space, seed):
        config = DreamerConfig(preset="debug", obs_keys=("image",), prefill=16, threads=1)
        agents.append(DreamerAgent(config, obs_space, act_space, seed))
        return agents[-1]

    config = LoopConfig(steps=80, num_envs=2, parallel=False, eval_every=40, eval_episodes=2, log_every=20)
    result = train_agent(config, ctx, env_fn=PointEnv, agent_fn=agent_fn, reward=reward)
    ctx.metrics.close()
    agent = agents[0]
    assert result["env_steps"] == 80 and result["updates"] == agent.updates > 0
    # The agent learnt from the JAX reward of the frames it saw (0 where an episode starts).
    data = agent.replay.data
    size = agent.replay.size
    frames, stored = data["image"][:, :size], data["reward"][:, :size]
    expected = np.stack([reward.step(type("B", (), {"frames": f})()) for f in frames])
    expected[data["is_first"][:, :size]] = 0
    np.testing.assert_allclose(stored, expected, rtol=1e-5, atol=1e-6)
    records = read_metrics(tmp_path / "metrics.jsonl", "agent")
    assert any("agent/model_loss" in r for r in records) and any("eval/return" in r for r in records)


def test_drq_and_dreamer_through_the_loop_with_subprocess_envs(tmp_path) -> None:
    for name, make in (
        ("drq", lambda o, a, s: DrQAgent(DrQConfig(obs_keys=("state",), hidden=32, seed_steps=20, threads=1), o, a, s)),
        (
            "dreamer",
            lambda o, a, s: DreamerAgent(
                DreamerConfig(preset="debug", obs_keys=("state",), prefill=20, threads=1), o, a, s
            ),
        ),
    ):
        wd = Workdir(tmp_path / name)
        stage = wd.stage("agent", {})
        stage.start()
        ctx = stage.context(progress=False)
        config = LoopConfig(steps=60, num_envs=2, parallel=True, eval_every=0, eval_episodes=1, checkpoint_every=30)
        result = train_agent(
            config, ctx, env_fn=functools.partial(PointEnv, False), agent_fn=make, reward=JaxColumnReward()
        )
        ctx.metrics.close()
        assert result["env_steps"] == 60 and result["updates"] > 0, name
        assert (stage.directory / "checkpoint" / "agent" / "weights.safetensors").is_file()


def test_equal_seeds_give_equal_runs(tmp_path) -> None:
    def run(name: str, seed: int) -> list[dict]:
        wd = Workdir(tmp_path / name)
        stage = wd.stage("agent", {})
        stage.start()
        ctx = stage.context(progress=False)
        make = lambda o, a, s: DreamerAgent(DreamerConfig(preset="debug", obs_keys=("state",), prefill=16), o, a, s)  # noqa: E731
        config = LoopConfig(
            steps=60, seed=seed, parallel=False, eval_every=30, eval_episodes=2, log_every=20, video=False
        )
        train_agent(config, ctx, env_fn=PointEnv, agent_fn=make, reward=JaxColumnReward())
        ctx.metrics.close()
        prefixes = ("agent/", "eval/", "train/return", "train/reward")
        records = read_metrics(wd.path / "metrics.jsonl", "agent")
        return [{k: v for k, v in r.items() if k.startswith(prefixes)} for r in records]

    a, b, c = run("a", 1), run("b", 1), run("c", 2)
    assert a == b and any("agent/model_loss" in r for r in a)
    assert a != c


# ----------------------------------------------------------------------------------------------
# `viper-run train` with the built-in lite suite (viper-envs, a test dependency).

VIPER_RUN = [sys.executable, "-c", "import sys; from viper.core.cli import main; sys.exit(main())"]


def _train_command(workdir: Path, agent: str, steps: int, *options: str) -> list[str]:
    return [
        *VIPER_RUN, "train", "--env", "lite:reach", "--agent", agent, "--reward", "task",
        "--workdir", str(workdir), "--steps", str(steps), "--no-progress", "--set", "agent.obs_keys=state",
        "--set", "agent.threads=1", *[item for option in options for item in ("--set", option)],
    ]  # fmt: skip


def test_cli_train_is_killed_and_resumes_from_its_last_checkpoint(tmp_path) -> None:
    pytest.importorskip("viper.envs", reason="needs viper-envs (the lite suite): a test dependency of viper-agents")
    options = (
        "agent.preset=debug",
        "loop.checkpoint_every=150",
        "loop.eval_every=0",
        "loop.eval_episodes=1",
        "loop.video=false",
    )
    proc = subprocess.Popen(_train_command(tmp_path, "dreamer", 100_000, *options), stderr=subprocess.PIPE)
    loop_json = None
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        found = list(tmp_path.glob("agent-*/checkpoint/loop.json"))
        if found and json.loads(found[0].read_text())["state"]["env_steps"] >= 300:
            loop_json = found[0]
            break
        time.sleep(0.1)
    proc.kill()  # SIGKILL; a no-op when it already exited (then the assert below shows why)
    proc.wait()
    assert loop_json is not None, proc.stderr.read().decode()[-3000:]
    saved = json.loads(loop_json.read_text())["state"]
    agent_meta = json.loads((loop_json.parent / "agent" / "agent.json").read_text())
    assert agent_meta["counters"]["env_steps"] == saved["env_steps"]

    out = subprocess.run(
        _train_command(tmp_path, "dreamer", saved["env_steps"] + 150, *options),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    records = read_metrics(tmp_path / "metrics.jsonl", "agent")
    assert [r["step"] for r in records if r.get("loop/resumed")] == [saved["env_steps"]]
    final = json.loads(loop_json.read_text())["state"]
    assert final["env_steps"] == saved["env_steps"] + 150 and final["updates"] > saved["updates"]
    assert json.loads((loop_json.parent.parent / "stage.json").read_text())["status"] == "done"
    # Asking for no more steps than the finished stage has reuses it.
    again = subprocess.run(
        _train_command(tmp_path, "dreamer", saved["env_steps"], *options), capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and "cached" in again.stdout + again.stderr


def test_cli_refuses_unsupported_agent_env_pairs(tmp_path) -> None:
    pytest.importorskip("viper.envs", reason="needs viper-envs (the lite suite): a test dependency of viper-agents")
    out = subprocess.run(
        [*VIPER_RUN, "train", "--env", "lite:reach", "--agent", "drq", "--reward", "task", "--workdir", str(tmp_path),
         "--steps", "10", "--set", "agent.obs_keys=pixels"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2
    assert "drq is configured to read 'pixels'" in out.stderr and "image, state" in out.stderr
