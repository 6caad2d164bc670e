"""The training loop, read top to bottom (cleanrl style).

:func:`train_agent` steps the envs through a :class:`~viper.core.loop.driver.Driver`, hands
each step to the agent, trains it at its replay ratio and logs
(:mod:`~viper.core.loop.window`), evaluates (:mod:`~viper.core.loop.evaluate`) and checkpoints
(:mod:`~viper.core.loop.checkpoint`) on :mod:`~viper.core.loop.schedules`. The agent sees only
the reward the user chose;
``info["task_reward"]`` is summed for logging the true return and is handed to the reward plugin,
which only the ``task`` reward reads.

This module imports neither torch nor jax: frameworks live in the agent and reward plugins.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.checks import check_finite
from viper.core.errors import ConfigError, NonFiniteError
from viper.core.frameworks import configure_frameworks
from viper.core.loop.checkpoint import (
    BEST_CHECKPOINT,
    LoopState,
    describe_space,
    recover_checkpoint,
    resume,
    save_checkpoint,
)
from viper.core.loop.config import LoopConfig
from viper.core.loop.driver import Driver, check_observation_space
from viper.core.loop.evaluate import run_evaluation
from viper.core.loop.schedules import Clock, Every, Ratio
from viper.core.loop.window import LogWindow, Timer
from viper.core.progress import progress_bar
from viper.core.protocols import Agent, Reward
from viper.core.workdir import StageContext


def train_agent(
    config: LoopConfig,
    ctx: StageContext,
    *,
    env_fn: Callable[[], Any],
    agent_fn: Callable[[Any, Any, int], Agent],
    reward: Reward,
    task_ids: np.ndarray | None = None,
    identity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train the agent ``agent_fn(obs_space, act_space, seed)`` on ``config.num_envs`` copies of
    ``env_fn()`` with the reward ``reward``; returns final metrics.

    ``env_fn`` must be picklable when envs run in subprocesses (e.g.
    ``functools.partial(viper.core.components.make_env, "lite:reach")``). ``task_ids``
    (``int[num_envs]``, default zeros) index the reward context's tasks. ``identity`` (JSON
    values: agent name and config, env, reward) is stored in each checkpoint; resuming from a
    checkpoint with another identity is refused. Checkpoints, videos and the final agent go to
    ``ctx.directory``; scalars go to ``ctx.metrics``.
    """
    configure_frameworks()
    n = config.num_envs
    task_ids = np.zeros(n, np.int32) if task_ids is None else np.asarray(task_ids, np.int32).reshape(n)
    with contextlib.ExitStack() as cleanup:
        envs, reward = open_backend(config, env_fn, reward, cleanup)
        timer = Timer()
        driver = Driver(envs, task_ids, timer=timer)
        run = Session.open(config, ctx, envs, agent_fn, identity)
        agent, state = run.agent, run.state
        driver.reset(run.seeds(n), reward.stream(n, task_ids))
        log_due, eval_due = Every("next_log", config.log_every), Every("next_eval", config.eval_every)
        checkpoint_due = Every("next_checkpoint", config.checkpoint_every, catch_up=True)
        clock, updates = Clock(config.checkpoint_seconds), Ratio(agent.updates_per_step, agent.train_start)
        window = LogWindow(state, timer)
        bar = progress_bar(
            total=config.steps,
            initial=min(state.env_steps, config.steps),
            unit="step",
            desc="agent",
            enabled=ctx.progress,
        )
        cleanup.callback(bar.close)
        evaluation = functools.partial(
            run_evaluation,
            config,
            ctx,
            agent,
            env_fn,
            reward,
            task_ids,
            state,
            run.rng,
            on_best=run.save_best if config.keep_best else None,
        )

        if config.eval_initial and state.env_steps == 0 and state.evals == 0:
            evaluation()
        while state.env_steps < config.steps:
            step, finished = driver.observe(state.env_steps)  # the chosen reward of every env's newest frame
            window.add(step, finished)
            with timer("act"):
                action = agent.act(step, mode="train")
            driver.step(action)  # a finished env is reset by this call instead
            state.env_steps += n
            bar.update(n)
            for _ in range(updates.owed(state)):  # gradient updates at the agent's replay ratio
                with timer("train"):
                    window.add_agent(train_step(agent, state, run.checkpoint))
                state.updates += 1
            if log_due(state):
                window.log(ctx, driver.stream, bar)
            if eval_due(state):
                evaluation()
            if checkpoint_due(state) | clock():
                run.save()
                clock.reset()
        bar.close()
        if not config.eval_every or state.last_eval_step != state.env_steps:
            evaluation()
        run.save()
        return final_metrics(state)


@dataclasses.dataclass
class Session:
    """One training run's agent, loop state and generator, and where its checkpoint lives."""

    agent: Agent
    state: LoopState
    rng: np.random.Generator
    checkpoint: Path
    identity: dict[str, Any]

    @classmethod
    def open(
        cls,
        config: LoopConfig,
        ctx: StageContext,
        envs: Any,
        agent_fn: Callable[[Any, Any, int], Agent],
        identity: dict[str, Any] | None,
    ) -> Session:
        """Build the agent for the envs' spaces and resume from the stage's checkpoint, if any."""
        obs_space, act_space = envs.single_observation_space, envs.single_action_space
        check_observation_space(obs_space)
        identity = {**(identity or {}), "obs_space": describe_space(obs_space), "act_space": describe_space(act_space)}
        agent = agent_fn(obs_space, act_space, config.seed)
        checkpoint = Path(ctx.directory) / "checkpoint"
        recover_checkpoint(checkpoint.with_name(BEST_CHECKPOINT))  # a kill mid-swap leaves the old one
        state, resumed = resume(checkpoint, agent, identity, config)
        if resumed:
            ctx.metrics.log(state.env_steps, {"loop/resumed": 1.0})
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = state.rng
        return cls(agent, state, rng, checkpoint, identity)

    def seeds(self, count: int) -> list[int]:
        return [int(s) for s in self.rng.integers(0, 2**31 - 1, count)]

    def save(self) -> None:
        self.state.rng = self.rng.bit_generator.state
        save_checkpoint(self.checkpoint, self.agent, self.state, self.identity)

    def save_best(self) -> None:
        """The agent as it is now into ``checkpoint-best/`` (a copy of the counters: the resumable
        checkpoint's own record of when it was saved stays as it is)."""
        state = dataclasses.replace(self.state, rng=self.rng.bit_generator.state)
        save_checkpoint(self.checkpoint.with_name(BEST_CHECKPOINT), self.agent, state, self.identity)


def final_metrics(state: LoopState) -> dict[str, Any]:
    return {
        "env_steps": state.env_steps,
        "updates": state.updates,
        "episodes": state.episodes,
        "eval_return": state.last_eval,
        "eval_return_best": state.best_eval,
        "train_return_recent": float(np.mean(state.recent)) if state.recent else float("nan"),
    }


def train_step(agent: Agent, state: LoopState, checkpoint: Path) -> dict[str, float]:
    """One ``agent.train()``, refusing non-finite results (the last good checkpoint stays)."""
    kept = f"the last good checkpoint (env step {state.saved_step}) is kept in {checkpoint}"
    try:
        metrics = agent.train()
    except NonFiniteError as exc:
        raise NonFiniteError(f"{exc} (update {state.updates}, env step {state.env_steps}); {kept}") from exc
    clean = {key: float(value) for key, value in (metrics or {}).items()}
    return check_finite(clean, "agent.train", step=f"update {state.updates}, env step {state.env_steps}", hint=kept)


def open_backend(
    config: LoopConfig, env_fn: Callable[[], Any], reward: Reward, cleanup: contextlib.ExitStack
) -> tuple[Any, Reward]:
    """The training envs and the reward whose streams score them, where ``loop.backend`` puts
    them: this process (and its env subprocesses) or Ray actors
    (:mod:`~viper.core.loop.ray_backend`: the reward moved into one actor). ``cleanup`` closes them."""
    if config.backend == "ray":
        from viper.core.loop.ray_backend import RayBackend

        backend = RayBackend(config.ray_address)
        cleanup.callback(backend.close)
        envs = backend.vector_env(env_fn, config.num_envs, config.num_workers)
        cleanup.callback(envs.close)
        remote = backend.reward(reward)
        cleanup.callback(remote.close)
        return envs, remote
    envs = make_vector_env(
        env_fn, config.num_envs, parallel=config.parallel and config.num_envs > 1, context=config.vector_context
    )
    cleanup.callback(envs.close)
    return envs, reward


def make_vector_env(env_fn: Callable[[], Any], num_envs: int, *, parallel: bool, context: str = "spawn") -> Any:
    """A gymnasium 1.x vector env with next-step autoreset."""
    import gymnasium as gym

    if parallel:
        import pickle

        try:
            pickle.dumps(env_fn)
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(
                f"env factory {env_fn!r} cannot be pickled for subprocess envs ({exc}); pass a module-level "
                f"function or functools.partial, or set loop.parallel=false"
            ) from exc
        return gym.vector.AsyncVectorEnv([env_fn] * num_envs, context=context, autoreset_mode="NextStep")
    return gym.vector.SyncVectorEnv([env_fn] * num_envs, autoreset_mode="NextStep")
