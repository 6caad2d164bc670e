"""``loop.backend=ray`` on a local Ray cluster: the same numbers as the in-process loop for the
same seeds, and a worker killed mid-run replaced without stopping training."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import pytest

from viper.core.components import make_env
from viper.core.loop import LoopConfig, train_agent
from viper.core.loop.ray_backend import RayVectorEnv
from viper.core.metrics import read_metrics
from viper.core.testing.dot_suite import DotEnv
from viper.core.testing.loop_fakes import FrameReward, RecordingAgent
from viper.core.workdir import Workdir

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_cluster():
    """One Ray instance on this machine for the module (starting one takes seconds)."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
    yield
    ray.shutdown()


def _train(
    workdir: Path, env_fn, *, num_envs: int, steps: int, reward=None, **loop
) -> tuple[dict, RecordingAgent, list]:
    """Train a RecordingAgent on ``reward`` (default FrameReward) in a fresh workdir; (final
    metrics, agent, log lines)."""
    agents: list[RecordingAgent] = []
    options = {"eval_every": 0, "eval_initial": False, "eval_episodes": 1, "video": False, **loop}
    config = LoopConfig(steps=steps, num_envs=num_envs, parallel=False, log_every=num_envs * 5, **options)
    wd = Workdir(workdir)
    stage = wd.stage("agent", {})
    stage.start()
    ctx = stage.context(progress=False)

    def agent_fn(obs_space, act_space, seed):
        agents.append(RecordingAgent(None, obs_space, act_space, seed))
        return agents[-1]

    try:
        result = train_agent(config, ctx, env_fn=env_fn, agent_fn=agent_fn, reward=reward or FrameReward())
    finally:
        ctx.metrics.close()
    return result, agents[0], read_metrics(wd.path / "metrics.jsonl", "agent")


class CountingReward(FrameReward):
    """FrameReward plus a count of every frame any of its streams scored (state on the reward
    object, like a running normaliser or an online-trained bonus)."""

    def __init__(self) -> None:
        super().__init__()
        self.frames = 0

    def stream(self, num_envs, task_ids=None):
        inner = super().stream(num_envs, task_ids)
        parent = self

        class Stream:
            def step(self, batch):
                parent.frames += len(batch.frames)
                return inner.step(batch) + np.float32(parent.frames % 7)

        return Stream()


def test_ray_workers_give_the_local_loops_numbers(tmp_path, ray_cluster, monkeypatch) -> None:
    """2 Ray workers x 2 envs of lite:reach against 4 envs in this process, seed 3: every frame,
    state, chosen reward, flag and true return is the same, and evaluation's chosen reward (its
    streams share the reward object with training's, in the reward actor) too."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # CountingReward, for the actor
    env_fn = functools.partial(make_env, "lite:reach", size=32, episode_length=40)
    steps = 4 * 60  # each env finishes one 40-step episode and starts another
    loop = {"seed": 3, "eval_reward": True, "eval_every": 120}
    local, a, local_log = _train(tmp_path / "local", env_fn, num_envs=4, steps=steps, reward=CountingReward(), **loop)
    remote, b, remote_log = _train(
        tmp_path / "ray", env_fn, num_envs=4, steps=steps, reward=CountingReward(), backend="ray", num_workers=2, **loop
    )
    assert local == remote and local["episodes"] == 4
    assert len(a.steps) == len(b.steps) == 60
    for x, y in zip(a.steps, b.steps):
        for key in ("image", "state"):
            np.testing.assert_array_equal(x.obs[key], y.obs[key])
        np.testing.assert_array_equal(x.reward, y.reward)
        for flag in ("is_first", "is_last", "is_terminal"):
            np.testing.assert_array_equal(getattr(x, flag), getattr(y, flag))
    for key in ("train/return", "eval/return", "eval/reward_return"):
        values = [[row.get(key) for row in log] for log in (local_log, remote_log)]
        assert values[0] == values[1] and any(v is not None for v in values[0]), key


def test_a_killed_worker_is_replaced_and_training_goes_on(tmp_path, ray_cluster, monkeypatch) -> None:
    """Worker 1 (envs 2 and 3) is killed before the 15th step: its envs restart with first frames,
    their unfinished episodes (4-5 of 10 steps) are dropped, and the run finishes every step.
    ``ray.kill`` is asynchronous: the 15th step may still reach the worker, so the death shows at
    the 15th or the 16th step; the checks follow the step that saw it."""
    step = RayVectorEnv.step
    calls, seen = [0], []

    def step_and_kill(self, actions):
        calls[0] += 1
        if calls[0] == 15:
            ray.kill(self.workers[1])
        result = step(self, actions)
        seen.append(self.restarts)
        return result

    monkeypatch.setattr(RayVectorEnv, "step", step_and_kill)
    env_fn = functools.partial(DotEnv, 16)  # 10-step episodes: they end at observations 10, 21, ...
    with pytest.warns(UserWarning, match="Ray env worker 1 .envs 2-3. died"):
        result, agent, log = _train(tmp_path, env_fn, num_envs=4, steps=4 * 25, backend="ray", num_workers=2)
    assert result["env_steps"] == 100 and len(agent.steps) == 25 and seen[-1] == 1
    first = np.stack([s.is_first for s in agent.steps])
    last = np.stack([s.is_last for s in agent.steps])
    restarted = seen.index(1) + 1  # agent.steps[t] is what step call t returned
    assert restarted in (15, 16)
    np.testing.assert_array_equal(np.flatnonzero(first[:, 0]), [0, 11, 22])  # untouched envs: autoreset
    np.testing.assert_array_equal(np.flatnonzero(first[:, 2]), [0, 11, restarted])  # restarted there
    np.testing.assert_array_equal(np.flatnonzero(last[:, 2]), [10])  # the cut episode never ends
    assert agent.steps[restarted].reward[2:].tolist() == [0.0, 0.0]  # first frames carry no reward
    # Envs 0-1 finish 2 episodes each; envs 2-3 one each (the one cut at step 15 is not counted).
    assert result["episodes"] == 2 * 2 + 2 * 1
    assert {row["train/length"] for row in log if "train/length" in row} == {10.0}
