"""``check_agent(factory, config)``: what an agent promises (:class:`~viper.core.protocols.Agent`),
tried on the fake suite through the training loop itself."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.errors import ConfigError, WorkdirError
from viper.core.protocols import EnvStep
from viper.core.testing.fake_reward import FakeReward
from viper.core.testing.fake_suite import FakeSuite
from viper.core.testing.rules import Rulebook, expect, expect_raises


def check_agent(
    factory: Any,
    config: Any = None,
    *,
    task: str = "reach",
    size: int = 64,
    seed: int = 0,
    extra_steps: int = 24,
    name: str | None = None,
) -> list[str]:
    """Build ``factory(config, obs_space, act_space, seed)`` for the fake suite's ``task``
    (``reach``: Box actions, ``steer``: Discrete), train it for ``train_start + extra_steps`` env
    steps through :func:`viper.core.loop.train_agent`, and round-trip its checkpoint. Returns the
    rules that held; raises ``RuleFailure`` at the first broken one. An agent that does not
    support the task's action space must raise ``ConfigError`` (rule ``action-space``), which
    ends the check there. Hand a small config (e.g. its ``tiny`` or ``debug`` preset)."""
    book = Rulebook(f"agent {name or getattr(factory, '__name__', type(factory).__name__)!r} on fake:{task}")
    env_fn = _EnvFactory(task, size)
    probe = env_fn()
    obs_space, act_space = probe.observation_space, probe.action_space
    with book.rule("action-space"):
        try:
            agent = factory(config, obs_space, act_space, seed)
        except ConfigError:
            return book.passed  # refused with the documented error: nothing more to check here
    with book.rule("attributes"):
        expect(
            float(agent.updates_per_step) >= 0 and int(agent.train_start) >= 0,
            f"updates_per_step >= 0 and train_start >= 0 expected, got {agent.updates_per_step}, {agent.train_start}",
        )
    step = _first_step(probe, seed)
    probe.close()
    with book.rule("act-shapes"):
        _check_actions(agent, step, act_space)
    steps = int(agent.train_start) + extra_steps
    with tempfile.TemporaryDirectory() as tmp:
        trained: list[Any] = []
        with book.rule("train-loop"):
            result = _train(factory, config, env_fn, Path(tmp) / "run", trained, seed, steps + steps % 2)
            expect(
                result["updates"] >= 1,
                f"no update ran in {result['env_steps']} env steps "
                f"(train_start {trained[0].train_start}, updates_per_step {trained[0].updates_per_step})",
            )
        with book.rule("save-load"):
            loaded = factory(config, obs_space, act_space, seed + 1)
            _check_round_trip(trained[0], loaded, step, Path(tmp) / "saved")
        with book.rule("load-rejects-missing"):
            empty = Path(tmp) / "empty"
            empty.mkdir()
            expect_raises(
                WorkdirError, "load(an empty folder)", factory(config, obs_space, act_space, seed).load, empty
            )
    return book.passed


def _check_actions(agent: Any, step: EnvStep, act_space: Any) -> None:
    for mode in ("train", "eval"):
        action = np.asarray(agent.act(step, mode=mode))
        expect(
            action.shape == (2, *act_space.shape),
            f"act(mode={mode!r}) for 2 envs: expected shape {[2, *act_space.shape]}, got {list(action.shape)}",
        )
        expect(
            all(act_space.contains(a.astype(act_space.dtype)) for a in action),
            f"act(mode={mode!r}) returned actions outside {act_space}",
        )


def _check_round_trip(agent: Any, loaded: Any, step: EnvStep, folder: Path) -> None:
    """``loaded`` (built with another seed) restores what ``agent`` saved: equal eval actions."""
    folder.mkdir()
    agent.save(folder)
    loaded.load(folder)
    before, after = agent.act(step, mode="eval"), loaded.act(step, mode="eval")
    expect(
        np.allclose(np.asarray(before, np.float64), np.asarray(after, np.float64), atol=1e-5),
        "a loaded agent acts differently in eval mode than the one that was saved",
    )


class _EnvFactory:
    """Picklable ``env_fn`` for the fake suite."""

    def __init__(self, task: str, size: int) -> None:
        self.task, self.size = task, size

    def __call__(self) -> Any:
        return FakeSuite().make(self.task, size=self.size)


def _first_step(env: Any, seed: int) -> EnvStep:
    obs = [env.reset(seed=seed + i)[0] for i in range(2)]
    batched = {key: np.stack([o[key] for o in obs]) for key in obs[0]}
    flags = np.zeros(2, bool)
    return EnvStep(obs=batched, reward=np.zeros(2, np.float32), is_first=~flags, is_last=flags, is_terminal=flags)


def _train(
    factory: Any, config: Any, env_fn: Any, directory: Path, trained: list[Any], seed: int, steps: int
) -> dict[str, Any]:
    from viper.core.loop import LoopConfig, train_agent
    from viper.core.metrics import MetricsLogger
    from viper.core.workdir import StageContext

    def agent_fn(obs_space: Any, act_space: Any, agent_seed: int) -> Any:
        trained.append(factory(config, obs_space, act_space, agent_seed))
        return trained[-1]

    loop = LoopConfig(
        steps=steps,
        num_envs=2,
        parallel=False,
        seed=seed,
        eval_every=0,
        eval_initial=False,
        eval_episodes=1,
        video=False,
        log_every=steps,
        checkpoint_every=steps,
        checkpoint_seconds=0,
    )
    directory.mkdir(parents=True)
    ctx = StageContext(
        directory=directory,
        metrics=MetricsLogger(directory / "metrics.jsonl", stage="agent"),
        seed=seed,
        progress=False,
    )
    try:
        return train_agent(loop, ctx, env_fn=env_fn, agent_fn=agent_fn, reward=FakeReward())
    finally:
        ctx.metrics.close()
