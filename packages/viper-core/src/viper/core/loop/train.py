"""The training loop and evaluation, read top to bottom (cleanrl style).

:func:`train_agent` steps the envs through a :class:`~viper.core.loop.driver.Driver`, hands
each step to the agent, trains it at its replay ratio and logs, evaluates and checkpoints on
:mod:`~viper.core.loop.schedules`; :func:`evaluate` runs whole episodes through the same driver
and scores them by the env's TRUE reward. The agent sees only the reward the user chose;
``info["task_reward"]`` is summed for logging the true return and is handed to the reward plugin,
which only the ``task`` reward reads.

This module imports neither torch nor jax: frameworks live in the agent and reward plugins.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import math
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.errors import ConfigError, NonFiniteError
from viper.core.frameworks import configure_frameworks
from viper.core.loop.checkpoint import LoopState, describe_space, resume, save_checkpoint
from viper.core.loop.config import LoopConfig
from viper.core.loop.driver import Driver, Episode, check_observation_space
from viper.core.loop.schedules import Clock, Every, Ratio
from viper.core.media import write_mp4
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
    envs = make_vector_env(env_fn, n, parallel=config.parallel and n > 1, context=config.vector_context)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(envs.close)
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
        evaluation = functools.partial(run_evaluation, config, ctx, agent, env_fn, reward, task_ids, state, run.rng)

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
    clean = {}
    for key, value in (metrics or {}).items():
        value = float(value)
        if not math.isfinite(value):
            raise NonFiniteError(
                f"agent.train: {key} = {value} at update {state.updates}, env step {state.env_steps}; {kept}"
            )
        clean[key] = value
    return clean


class LogWindow:
    """What happened since the last log line: finished episodes, chosen rewards, agent metrics,
    throughput; :meth:`log` writes it and starts a new window."""

    def __init__(self, state: LoopState, timer: Timer) -> None:
        self.state, self.timer = state, timer
        self._restart(time.time())

    def _restart(self, now: float) -> None:
        self.finished: list[Episode] = []
        self.agent: dict[str, list[float]] = collections.defaultdict(list)
        self.reward_sum, self.reward_count = 0.0, 0  # chosen rewards of non-first steps
        self.started = (now, self.state.env_steps, self.state.updates)

    def add(self, step: Any, finished: list[Episode]) -> None:
        self.reward_sum += float(step.reward[~step.is_first].sum())
        self.reward_count += int((~step.is_first).sum())
        for episode in finished:
            self.finished.append(episode)
            self.state.recent.append(episode.true_return)
            self.state.episodes += 1
        self.state.recent = self.state.recent[-20:]

    def add_agent(self, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.agent[key].append(value)

    def log(self, ctx: StageContext, stream: Any, bar: Any) -> None:
        state, now = self.state, time.time()
        seconds = max(now - self.started[0], 1e-9)
        scalars: dict[str, Any] = {
            "train/sps": (state.env_steps - self.started[1]) / seconds,
            "train/ups": (state.updates - self.started[2]) / seconds,
            "train/updates": state.updates,
            "train/episodes": state.episodes,
            "train/reward_mean": self.reward_sum / max(self.reward_count, 1),
            **{f"time/{k}": v for k, v in self.timer.shares().items()},
            **{f"agent/{k}": float(np.mean(v)) for k, v in self.agent.items()},
            **{f"reward/{k}": v for k, v in _stream_metrics(stream).items()},
        }
        if self.finished:
            scalars["train/return"] = float(np.mean([e.true_return for e in self.finished]))
            scalars["train/reward_return"] = float(np.mean([e.reward_return for e in self.finished]))
            scalars["train/length"] = float(np.mean([e.length for e in self.finished]))
        ctx.metrics.log(state.env_steps, scalars)
        self._restart(now)
        bar.set_postfix(
            sps=f"{scalars['train/sps']:.0f}",
            ret=f"{np.mean(state.recent):.1f}" if state.recent else "-",
            eval=f"{state.last_eval:.1f}" if state.evals else "-",
            refresh=False,
        )


# --------------------------------------------------------------------------------------------
# Evaluation


def run_evaluation(
    config: LoopConfig,
    ctx: StageContext,
    agent: Agent,
    env_fn: Callable[[], Any],
    reward: Reward,
    task_ids: np.ndarray,
    state: LoopState,
    rng: np.random.Generator,
) -> None:
    """One scheduled evaluation: log its scalars, keep the best return, write the video."""
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, config.eval_episodes)]
    result = evaluate(
        agent,
        env_fn,
        seeds,
        num_envs=config.eval_envs,
        reward=reward if config.eval_reward else None,
        task_id=int(task_ids[0]),
    )
    state.evals += 1
    state.last_eval = result["return"]
    state.last_eval_step = state.env_steps
    state.best_eval = max(state.best_eval, result["return"])
    ctx.metrics.log(state.env_steps, {f"eval/{k}": v for k, v in result.items() if k != "frames"})
    if config.video and len(result["frames"]):
        path = Path(ctx.directory) / "videos" / f"eval-{state.env_steps:09d}.mp4"
        try:
            write_mp4(path, result["frames"], config.video_fps)
        except Exception as exc:  # noqa: BLE001 -- a video is a convenience, never worth a crash
            warnings.warn(f"could not write evaluation video {path}: {exc}", stacklevel=2)


def evaluate(
    agent: Agent,
    env_fn: Callable[[], Any],
    seeds: list[int],
    *,
    num_envs: int = 1,
    reward: Reward | None = None,
    task_id: int = 0,
) -> dict[str, Any]:
    """Run one episode per seed with ``agent.act(mode="eval")``; returns the mean TRUE return
    (``info["task_reward"]`` summed), its spread, the mean length, the mean chosen-reward return
    when ``reward`` is given, and the frames of the first episode (``uint8[T,H,W,3]``)."""
    import gymnasium as gym

    num_envs = max(1, min(num_envs, len(seeds)))
    envs = gym.vector.SyncVectorEnv([env_fn] * num_envs, autoreset_mode="NextStep")
    episodes: list[Episode] = []
    frames: list[np.ndarray] = []
    try:
        driver = Driver(envs, np.full(num_envs, task_id, np.int32))
        for start in range(0, len(seeds), num_envs):
            batch = seeds[start : start + num_envs]
            stream = reward.stream(num_envs, driver.task_ids) if reward is not None else None
            driver.reset(batch + [batch[-1]] * (num_envs - len(batch)), stream)
            first = {e.env: e for e in _first_episodes(driver, agent, len(batch), frames if start == 0 else None)}
            episodes += [first[i] for i in range(len(batch))]
    finally:
        envs.close()
    returns = [e.true_return for e in episodes]
    result = {
        "return": float(np.mean(returns)),
        "return_std": float(np.std(returns)),
        "return_min": float(np.min(returns)),
        "return_max": float(np.max(returns)),
        "length": float(np.mean([e.length for e in episodes])),
        "frames": np.stack(frames) if frames else np.zeros((0, 1, 1, 3), np.uint8),
    }
    if reward is not None:
        result["reward_return"] = float(np.mean([e.reward_return for e in episodes]))
    return result


def _first_episodes(driver: Driver, agent: Agent, count: int, frames: list | None) -> Iterator[Episode]:
    """Step until envs ``0..count-1`` each finished one episode; yields those episodes and
    appends env 0's frames to ``frames`` (if given)."""
    running = np.arange(driver.n) < count
    while True:
        step, finished = driver.observe()
        if frames is not None and running[0]:
            frames.append(step.obs["image"][0].copy())
        for episode in finished:
            if running[episode.env]:
                yield episode
        running &= ~step.is_last
        if not running.any():
            return
        driver.step(agent.act(step, mode="eval"))


# --------------------------------------------------------------------------------------------
# Helpers


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


class Timer:
    """Seconds spent per phase (reward, act, env, train), reported as shares."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = collections.defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.totals[name] += time.perf_counter() - t0

    def shares(self) -> dict[str, float]:
        total = sum(self.totals.values()) or 1.0
        out = {f"{k}_share": v / total for k, v in self.totals.items()}
        out.update({f"{k}_seconds": v for k, v in self.totals.items()})
        self.totals.clear()
        return out


def _stream_metrics(stream: Any) -> dict[str, float]:
    fn = getattr(stream, "metrics", None)
    return {k: float(v) for k, v in (fn() or {}).items()} if callable(fn) else {}
