"""The agent training loop (viper.core.loop) with a numpy agent: contracts, checkpoints, resume."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from viper.core import plugins
from viper.core.errors import ConfigError, ContractError, NonFiniteError, WorkdirError
from viper.core.loop import LoopConfig, evaluate, train_agent
from viper.core.metrics import read_metrics
from viper.core.testing.dot_suite import DotEnv
from viper.core.testing.loop_fakes import FrameReward, RecordingAgent
from viper.core.workdir import Workdir

ENV = functools.partial(DotEnv, 16)


def _run(tmp_path: Path, agents: list, name: str = "run", reward=None, **overrides):
    """Train a RecordingAgent in stage ``name`` of a workdir; returns (metrics, records, stage dir)."""
    agent_config = overrides.pop("agent_config", None)
    config = LoopConfig(
        **{"steps": 40, "eval_every": 20, "eval_episodes": 2, "log_every": 10, "parallel": False, **overrides}
    )
    wd = Workdir(tmp_path / "wd")
    stage = wd.stage("agent", {"name": name})
    stage.start()
    ctx = stage.context(progress=False)

    def agent_fn(obs_space, act_space, seed):
        agent = RecordingAgent(agent_config, obs_space, act_space, seed)
        agents.append(agent)
        return agent

    try:
        result = train_agent(config, ctx, env_fn=ENV, agent_fn=agent_fn, reward=reward or FrameReward())
    finally:
        ctx.metrics.close()
    return result, read_metrics(wd.path / "metrics.jsonl", "agent"), stage.directory


def test_env_step_convention_with_next_step_autoreset(tmp_path) -> None:
    agents: list[RecordingAgent] = []
    reward = FrameReward()
    _run(tmp_path, agents, reward=reward, num_envs=2, steps=2 * 25, eval_initial=False, eval_every=0)
    steps = agents[0].steps
    assert len(steps) == 25
    assert set(reward.calls) == {2}  # the reward is computed once per step, for both envs together
    first = np.stack([s.is_first for s in steps])
    last = np.stack([s.is_last for s in steps])
    # DotEnv episodes are 10 transitions: 11 observations, the first flagged is_first.
    assert first[:, 0].nonzero()[0].tolist() == [0, 11, 22]
    assert last[:, 0].nonzero()[0].tolist() == [10, 21]
    assert not np.stack([s.is_terminal for s in steps]).any()  # time limits are not terminations
    for s in steps:
        assert set(s.obs) == {"image", "state"}  # no task_reward reaches the agent
        assert (s.reward[s.is_first] == 0).all()
        expected = s.obs["image"].reshape(2, -1).mean(1) / 255 * 100
        np.testing.assert_allclose(s.reward[~s.is_first], expected[~s.is_first], rtol=1e-5)
    # The step after is_last is a fresh episode: x restarts in [0, 3) whatever the action was.
    assert (steps[11].obs["state"][:, 0] < 3).all()


def test_eval_logs_true_return_and_writes_video(tmp_path) -> None:
    agents: list[RecordingAgent] = []
    result, records, stage_dir = _run(tmp_path, agents, steps=40, eval_every=20)
    evals = [r for r in records if "eval/return" in r]
    assert [r["step"] for r in evals] == [0, 20, 40]
    for r in evals:
        # The eval policy always moves right: sum_{k=1..10} (x0 + k) = 10 x0 + 55, x0 in {0,1,2}.
        assert r["eval/return"] in (55.0, 65.0, 75.0, 60.0, 70.0) and r["eval/length"] == 10
    trains = [r for r in records if "train/sps" in r]
    assert [r["step"] for r in trains] == [10, 20, 30, 40]
    assert any("train/return" in r for r in trains) and any("agent/loss" in r for r in trains)
    assert result["env_steps"] == 40 and result["updates"] == int(0.5 * (40 - 4))
    videos = sorted((stage_dir / "videos").glob("*.mp4"))
    assert [v.name for v in videos] == ["eval-000000000.mp4", "eval-000000020.mp4", "eval-000000040.mp4"]
    assert videos[0].stat().st_size > 100


def test_evaluate_scores_the_chosen_reward_too() -> None:
    import gymnasium as gym

    agent = RecordingAgent(None, None, gym.spaces.Box(-1, 1, (1,), np.float32), 0)
    out = evaluate(agent, ENV, [0, 1, 2], num_envs=2, reward=FrameReward())
    assert out["frames"].shape == (11, 16, 16, 3) and out["length"] == 10
    assert out["reward_return"] > 0 and out["return"] >= 55


def test_seeds_make_runs_repeatable(tmp_path) -> None:
    a, b, c = [], [], []
    _run(tmp_path / "a", a, steps=30, seed=3)
    _run(tmp_path / "b", b, steps=30, seed=3)
    _run(tmp_path / "c", c, steps=30, seed=4)
    obs = lambda agent: np.stack([s.obs["state"] for s in agent.steps])  # noqa: E731
    assert np.array_equal(obs(a[0]), obs(b[0])) and np.array_equal(a[0].bias, b[0].bias)
    assert not np.array_equal(obs(a[0]), obs(c[0]))


def test_resume_from_checkpoint_and_extend_steps(tmp_path) -> None:
    first: list[RecordingAgent] = []
    _run(tmp_path, first, steps=40, checkpoint_every=15)
    second: list[RecordingAgent] = []
    result, records, stage_dir = _run(tmp_path, second, steps=60, checkpoint_every=15)
    loop = json.loads((stage_dir / "checkpoint" / "loop.json").read_text())
    assert loop["state"]["env_steps"] == 60 and result["env_steps"] == 60
    # The second run started from the first's final checkpoint (40 steps, 18 updates).
    assert second[0].updates == int(0.5 * (60 - 4))
    assert len(second[0].steps) == 20
    assert any(r.get("loop/resumed") == 1.0 and r["step"] == 40 for r in records)


def test_keep_best_keeps_the_agent_of_the_best_evaluation(tmp_path) -> None:
    agents: list[RecordingAgent] = []
    _, records, stage_dir = _run(tmp_path / "a", agents, steps=60, eval_every=10, keep_best=True)
    evals = [(r["step"], r["eval/return"]) for r in records if "eval/return" in r]
    best_step = max(evals, key=lambda e: e[1])[0]  # max() keeps the first of equals, as the loop does
    best = json.loads((stage_dir / "checkpoint-best" / "loop.json").read_text())["state"]
    assert best["env_steps"] == best_step and best["best_eval"] == max(r for _, r in evals)
    assert (stage_dir / "checkpoint-best" / "agent" / "weights.npz").exists()
    last = json.loads((stage_dir / "checkpoint" / "loop.json").read_text())["state"]
    assert last["env_steps"] == 60 and last["saved_step"] == 60  # the resumable checkpoint is untouched
    _, _, plain = _run(tmp_path / "b", [], steps=20)
    assert not (plain / "checkpoint-best").exists()


def test_corrupt_or_foreign_checkpoint_is_refused_and_kept(tmp_path) -> None:
    agents: list[RecordingAgent] = []
    _run(tmp_path, agents, steps=20)
    stage_dir = next((tmp_path / "wd").glob("agent-*"))
    weights = stage_dir / "checkpoint" / "agent" / "weights.npz"
    weights.write_bytes(b"garbage")
    with pytest.raises(WorkdirError, match="corrupt agent checkpoint"):
        _run(tmp_path, [], steps=40)
    assert weights.read_bytes() == b"garbage"  # refused, not overwritten
    loop_json = stage_dir / "checkpoint" / "loop.json"
    record = json.loads(loop_json.read_text())
    record["identity"]["act_space"]["shape"] = [7]
    loop_json.write_text(json.dumps(record))
    before = loop_json.read_bytes()
    with pytest.raises(WorkdirError, match="checkpoint of another run .*act_space"):
        _run(tmp_path, [], steps=40)
    assert loop_json.read_bytes() == before
    loop_json.write_text("{not json")
    with pytest.raises(WorkdirError, match="corrupt checkpoint"):
        _run(tmp_path, [], steps=40)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path) -> None:
    agents: list[RecordingAgent] = []
    config = RecordingAgent.Config(nan_at_update=12)  # update 12 happens at env step 30
    with pytest.raises(
        NonFiniteError, match=r"agent.train: loss = nan at update 12.*last good checkpoint \(env step 20\)"
    ):
        _run(tmp_path, agents, steps=60, checkpoint_every=10, agent_config=config)
    stage_dir = next((tmp_path / "wd").glob("agent-*"))
    loop = json.loads((stage_dir / "checkpoint" / "loop.json").read_text())
    assert loop["state"]["env_steps"] == 20


def test_non_finite_reward_names_step_and_env(tmp_path) -> None:
    with pytest.raises(NonFiniteError, match="reward: non-finite value nan at env step 8 for env 1"):
        _run(tmp_path, [], reward=FrameReward(nan_at=5), num_envs=2, steps=20)


def test_bad_inputs(tmp_path) -> None:
    import gymnasium as gym

    with pytest.raises(ConfigError, match="loop.num_envs=0"):
        LoopConfig(num_envs=0)

    class NoImage(DotEnv):
        def __init__(self) -> None:
            super().__init__(16)
            self.observation_space = gym.spaces.Dict({"state": self.observation_space["state"]})

    wd = Workdir(tmp_path)
    stage = wd.stage("agent", {})
    ctx = stage.context(progress=False)
    with pytest.raises(ContractError, match="must be a dict with 'image'"):
        train_agent(
            LoopConfig(steps=4),
            ctx,
            env_fn=NoImage,
            agent_fn=lambda o, a, s: RecordingAgent(None, o, a, s),
            reward=FrameReward(),
        )

    class WrongActions(RecordingAgent):
        def act(self, step, mode="train"):
            return np.zeros((5, 1), np.float32)

    with pytest.raises(ContractError, match=r"agent.act: expected actions of shape \[1, 1\]"):
        train_agent(
            LoopConfig(steps=4, eval_initial=False),
            ctx,
            env_fn=ENV,
            agent_fn=lambda o, a, s: WrongActions(None, o, a, s),
            reward=FrameReward(),
        )
    ctx.metrics.close()


def test_parallel_envs_in_subprocesses(tmp_path) -> None:
    agents: list[RecordingAgent] = []
    result, _, _ = _run(tmp_path, agents, num_envs=2, parallel=True, steps=24, eval_every=0, eval_initial=False)
    assert result["env_steps"] == 24 and len(agents[0].steps) == 12
    with pytest.raises(ConfigError, match="cannot be pickled"):
        from viper.core.loop import make_vector_env

        def local_env():
            return DotEnv(16)

        make_vector_env(lambda: local_env(), 2, parallel=True)


# ----------------------------------------------------------------------------------------------
# A real process killed with SIGKILL resumes from its last checkpoint.

SCRIPT = textwrap.dedent(
    """
    import functools, time
    from viper.core.testing.dot_suite import DotEnv
    from viper.core.testing.loop_fakes import FrameReward, RecordingAgent
    from viper.core.loop import LoopConfig, train_agent
    from viper.core.workdir import Workdir

    class SlowAgent(RecordingAgent):
        def train(self):
            time.sleep(0.01)
            return super().train()

    wd = Workdir({workdir!r})
    stage = wd.stage("agent", {{}})
    stage.start()
    ctx = stage.context(progress=False)
    config = LoopConfig(steps={steps}, eval_every=0, eval_initial=False, checkpoint_every=50, log_every=50, parallel=False)
    result = train_agent(config, ctx, env_fn=functools.partial(DotEnv, 16),
                         agent_fn=lambda o, a, s: SlowAgent(RecordingAgent.Config(updates_per_step=1.0), o, a, s),
                         reward=FrameReward())
    ctx.metrics.close()
    print("DONE", result["env_steps"], result["updates"])
    """
)


def test_sigkill_resumes_from_last_checkpoint(tmp_path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(workdir=str(tmp_path / "wd"), steps=100_000))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    loop_json = None
    deadline = time.time() + 60
    while time.time() < deadline:
        found = list((tmp_path / "wd").glob("agent-*/checkpoint/loop.json"))
        if found and json.loads(found[0].read_text())["state"]["env_steps"] >= 150:
            loop_json = found[0]
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert loop_json is not None, proc.stderr.read().decode()[-2000:]
    saved = json.loads(loop_json.read_text())["state"]
    script.write_text(SCRIPT.format(workdir=str(tmp_path / "wd"), steps=saved["env_steps"] + 100))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    records = read_metrics(tmp_path / "wd" / "metrics.jsonl", "agent")
    resumed = [r["step"] for r in records if r.get("loop/resumed")]
    assert resumed[-1] == saved["env_steps"]  # picked up exactly at the last checkpoint on disk
    final = json.loads(loop_json.read_text())["state"]
    assert final["env_steps"] == saved["env_steps"] + 100 and final["updates"] == final["env_steps"] - 4
    assert "DONE" in out.stdout


@pytest.fixture(autouse=True)
def _private_host(host, monkeypatch):
    monkeypatch.setattr(plugins, "_default_host", host)
    monkeypatch.setenv("VIPER_PROGRESS", "0")


def test_configure_frameworks_turns_off_jax_preallocation_when_torch_sees_a_gpu(monkeypatch) -> None:
    from viper.core import frameworks

    monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
    monkeypatch.setattr(frameworks, "torch_gpu_visible", lambda: False)
    frameworks.configure_frameworks()
    assert "XLA_PYTHON_CLIENT_PREALLOCATE" not in os.environ
    monkeypatch.setattr(frameworks, "torch_gpu_visible", lambda: True)
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    frameworks.configure_frameworks()
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "true")  # the user's choice wins
    frameworks.configure_frameworks()
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "true"


def test_train_command_runs_the_agent_stage_and_caches_it(tmp_path, host, capsys) -> None:
    from viper.core import ComponentSpec, cli
    from viper.core.testing.spec_plugin import make_plugin

    host.register(
        make_plugin(
            viper_register_agents=[
                ComponentSpec("recorder", "viper.core.testing.loop_fakes:RecordingAgent", "test agent")
            ],
            viper_register_rewards=[
                ComponentSpec("frames", "viper.core.testing.loop_fakes:FrameReward", "test reward")
            ],
        ),
        name="loop-test",
        distribution="loop-test-dist",
        version="1.0",
    )
    argv = ["train", "--env", "dots:right", "--agent", "recorder", "--reward", "frames", "--workdir", str(tmp_path),
            "--steps", "30", "--size", "16", "--no-progress", "--set", "loop.eval_every=10", "--set", "agent.train_start=2"]  # fmt: skip
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "agent recorder on dots:right with reward frames: 30 env steps, 14 updates" in out
    stage = next(tmp_path.glob("agent-*"))
    info = json.loads((stage / "stage.json").read_text())
    assert info["status"] == "done" and info["config"]["agent_config"]["train_start"] == 2
    assert (stage / "learning_curve.png").stat().st_size > 1000
    assert cli.main(argv) == 0 and "agent: cached in" in capsys.readouterr().out
    assert cli.main([*argv[:-4], "--set", "agent.nope=1"]) == 2
    assert "agent.nope: unknown option" in capsys.readouterr().err
    assert cli.main([*argv, "--set", "loop.num_envs=0"]) == 2


# ----------------------------------------------------------------------------------------------
# What gymnasium allows: a reset info without the task reward; other autoreset modes refused.


class QuietResetEnv(DotEnv):
    """Reports the task reward in step infos only, as gymnasium allows."""

    def reset(self, *, seed=None, options=None):
        obs, _ = super().reset(seed=seed, options=options)
        return obs, {}


class SilentEnv(DotEnv):
    """Never reports the task reward."""

    def step(self, action):
        obs, reward, terminated, truncated, _ = super().step(action)
        return obs, reward, terminated, truncated, {}


@pytest.mark.parametrize("num_envs", [1, 2])
def test_reset_info_without_task_reward_is_accepted(tmp_path, num_envs) -> None:
    def run(env_fn, name):
        wd = Workdir(tmp_path / name)
        stage = wd.stage("agent", {})
        stage.start()
        ctx = stage.context(progress=False)
        config = LoopConfig(steps=60, num_envs=num_envs, eval_every=30, eval_episodes=2, parallel=False)
        try:
            agents: list[RecordingAgent] = []
            result = train_agent(
                config,
                ctx,
                env_fn=env_fn,
                agent_fn=lambda o, a, s: agents.append(RecordingAgent(None, o, a, s)) or agents[-1],
                reward=FrameReward(),
            )
        finally:
            ctx.metrics.close()
        return result, read_metrics(wd.path / "metrics.jsonl", "agent"), agents[0]

    quiet, quiet_records, quiet_agent = run(functools.partial(QuietResetEnv, 16), "quiet")
    loud, loud_records, loud_agent = run(ENV, "loud")
    # The first frame's true reward is 0 either way, so both runs see the same numbers.
    assert quiet == loud
    assert [r.get("train/return") for r in quiet_records] == [r.get("train/return") for r in loud_records]
    assert 55.0 <= quiet["eval_return"] <= 75.0  # always moving right from x0 in 0..2: 10 * x0 + 55
    assert np.array_equal(
        np.stack([s.reward for s in quiet_agent.steps]), np.stack([s.reward for s in loud_agent.steps])
    )


def test_step_info_without_task_reward_is_refused(tmp_path) -> None:
    wd = Workdir(tmp_path / "wd")
    stage = wd.stage("agent", {})
    stage.start()
    ctx = stage.context(progress=False)
    with pytest.raises(ContractError, match="env info has no 'task_reward'"):
        train_agent(
            LoopConfig(steps=20, eval_initial=False, parallel=False),
            ctx,
            env_fn=functools.partial(SilentEnv, 16),
            agent_fn=lambda o, a, s: RecordingAgent(None, o, a, s),
            reward=FrameReward(),
        )
    ctx.metrics.close()


@pytest.mark.parametrize("mode", ["SameStep", "Disabled"])
def test_driver_refuses_vector_envs_it_cannot_follow(mode) -> None:
    import gymnasium as gym

    from viper.core.loop import Driver

    envs = gym.vector.SyncVectorEnv([ENV, ENV], autoreset_mode=mode)
    try:
        with pytest.raises(ConfigError, match=f"autoreset mode {mode}, but the loop needs NextStep"):
            Driver(envs, np.zeros(2, np.int32))
    finally:
        envs.close()


def test_driver_transition_with_next_step_autoreset() -> None:
    import gymnasium as gym

    from viper.core.loop import Driver

    envs = gym.vector.SyncVectorEnv([functools.partial(QuietResetEnv, 16)] * 2, autoreset_mode="NextStep")
    driver = Driver(envs, np.zeros(2, np.int32))
    driver.reset([1, 2], FrameReward().stream(2))
    finished = []
    try:
        for t in range(23):
            step, done = driver.observe(t)
            assert step.is_first.all() == (t in (0, 11, 22)) and step.is_last.all() == (t in (10, 21))
            assert np.all(step.reward[step.is_first] == 0) and np.all(driver.task_reward[step.is_first] == 0)
            finished += done
            driver.step(np.ones((2, 1), np.float32))
    finally:
        envs.close()
    assert [e.env for e in finished] == [0, 1, 0, 1] and {e.length for e in finished} == {10}
    assert all(e.true_return in (55.0, 65.0, 75.0) for e in finished)  # 10 * x0 + 55, x0 in 0..2
