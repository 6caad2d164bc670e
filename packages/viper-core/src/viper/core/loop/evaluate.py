"""Evaluation: whole episodes through the training loop's driver, with ``agent.act(mode="eval")``,
scored by the env's TRUE reward, with a video of the first. The final evaluation (at or past
``loop.steps``) also keeps every episode's frames, true rewards and ``info["goal_distance"]`` (if
the env reports it) in ``eval_episodes.npz`` (:func:`viper.core.diagnostics.save_episodes`), so
the report can score the trained agent's frames with the reward and the video model."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.diagnostics import EVAL_EPISODES_FILE, save_episodes
from viper.core.loop.checkpoint import LoopState
from viper.core.loop.config import LoopConfig
from viper.core.loop.driver import Driver, Episode
from viper.core.media import write_mp4
from viper.core.protocols import Agent, Reward
from viper.core.statistics import goal_progress
from viper.core.workdir import StageContext


def run_evaluation(
    config: LoopConfig,
    ctx: StageContext,
    agent: Agent,
    env_fn: Callable[[], Any],
    reward: Reward,
    task_ids: np.ndarray,
    state: LoopState,
    rng: np.random.Generator,
    on_best: Callable[[], None] | None = None,
) -> None:
    """One scheduled evaluation: log its scalars, keep the best return (calling ``on_best`` when
    this one beats every earlier one), write the video."""
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, config.eval_episodes)]
    final = state.env_steps >= config.steps
    result = evaluate(
        agent,
        env_fn,
        seeds,
        num_envs=config.eval_envs,
        reward=reward if config.eval_reward else None,
        task_id=int(task_ids[0]),
        keep=final,
    )
    if final:
        save_episodes(Path(ctx.directory) / EVAL_EPISODES_FILE, result.pop("episodes"))
    state.evals += 1
    state.last_eval = result["return"]
    state.last_eval_step = state.env_steps
    if result["return"] > state.best_eval:
        state.best_eval = result["return"]
        if on_best is not None:
            on_best()
    ctx.metrics.log(state.env_steps, {f"eval/{k}": v for k, v in result.items() if k not in ("frames", "episodes")})
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
    keep: bool = False,
) -> dict[str, Any]:
    """Run one episode per seed with ``agent.act(mode="eval")``; returns the mean TRUE return
    (``info["task_reward"]`` summed), its spread, the mean length, the mean chosen-reward return
    when ``reward`` is given, the frames of the first episode (``uint8[T,H,W,3]``) and, with
    ``keep``, every episode's ``frames``, ``task_reward`` and ``goal_distance`` (``episodes``).
    Envs with ``info["success"]`` add the success rate, envs with ``info["goal_distance"]`` the
    mean :func:`~viper.core.statistics.goal_progress`."""
    import gymnasium as gym

    num_envs = max(1, min(num_envs, len(seeds)))
    envs = gym.vector.SyncVectorEnv([env_fn] * num_envs, autoreset_mode="NextStep")
    episodes: list[Episode] = []
    frames: list[np.ndarray] = []
    kept: list[dict[str, Any]] = []
    successes: list[np.ndarray] = []
    progress: list[float | None] = []
    try:
        driver = Driver(envs, np.full(num_envs, task_id, np.int32))
        for start in range(0, len(seeds), num_envs):
            batch = seeds[start : start + num_envs]
            stream = reward.stream(num_envs, driver.task_ids) if reward is not None else None
            driver.reset(batch + [batch[-1]] * (num_envs - len(batch)), stream)
            records: list[_Record] | None = [_Record() for _ in batch] if keep else None
            success = np.full(num_envs, -1, np.int8)  # -1: the env reported no info["success"]
            ends: list[list[float]] = [[] for _ in range(num_envs)]
            first = {
                e.env: e
                for e in _first_episodes(
                    driver, agent, len(batch), frames if start == 0 else None, records, success, ends
                )
            }
            episodes += [first[i] for i in range(len(batch))]
            successes.append(success[: len(batch)])
            progress += [goal_progress(ends[i]) for i in range(len(batch))]
            kept += [r.arrays() for r in records or []]
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
    success = np.concatenate(successes) if successes else np.zeros(0, np.int8)
    if len(success) and (success >= 0).all():  # envs with a success test (metaworld)
        result["success"] = float(np.mean(success))
    if progress and None not in progress:  # envs that report info["goal_distance"]
        result["goal_progress"] = float(np.mean(progress))
    if keep:
        result["episodes"] = kept
    if reward is not None:
        result["reward_return"] = float(np.mean([e.reward_return for e in episodes]))
    return result


class _Record:
    """One evaluation episode's frames, true rewards and goal distances, step by step."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.distances: list[float | None] = []

    def add(self, driver: Driver, step: Any, env: int) -> None:
        self.frames.append(step.obs["image"][env].copy())
        self.rewards.append(float(driver.task_reward[env]))
        distance = driver.info.get("goal_distance")
        present = driver.info.get("_goal_distance", np.ones(driver.n, bool))
        self.distances.append(float(distance[env]) if distance is not None and present[env] else None)

    def arrays(self) -> dict[str, Any]:
        missing = any(d is None for d in self.distances)
        return {
            "frames": np.stack(self.frames),
            "task_reward": np.asarray(self.rewards, np.float32),
            "goal_distance": None if missing else np.asarray(self.distances, np.float32),
        }


def _first_episodes(
    driver: Driver,
    agent: Agent,
    count: int,
    frames: list | None,
    records: list[_Record] | None = None,
    success: np.ndarray | None = None,
    ends: list[list[float]] | None = None,
) -> Iterator[Episode]:
    """Step until envs ``0..count-1`` each finished one episode; yields those episodes and
    appends env 0's frames to ``frames`` (if given) and each env's step to ``records`` (if given);
    ``success[env]`` becomes 1 once that env's ``info["success"]`` held (0 while it is reported);
    ``ends[env]`` becomes that episode's first and last ``info["goal_distance"]`` (if given)."""
    running = np.arange(driver.n) < count
    while True:
        step, finished = driver.observe()
        if ends is not None:
            _track_distance(driver, running, ends)
        if frames is not None and running[0]:
            frames.append(step.obs["image"][0].copy())
        for env in np.flatnonzero(running) if records is not None else ():
            records[env].add(driver, step, int(env))
        if success is not None and "success" in driver.info:
            reported = running & driver.info.get("_success", np.ones(driver.n, bool))
            success[reported] = np.maximum(success[reported], np.asarray(driver.info["success"], bool)[reported])
        for episode in finished:
            if running[episode.env]:
                yield episode
        running &= ~step.is_last
        if not running.any():
            return
        driver.step(agent.act(step, mode="eval"))


def _track_distance(driver: Driver, running: np.ndarray, ends: list[list[float]]) -> None:
    """Keep each running env's first and latest ``info["goal_distance"]`` in ``ends[env]`` (empty
    while the env reports none)."""
    distance = driver.info.get("goal_distance")
    if distance is None:
        return
    present = driver.info.get("_goal_distance", np.ones(driver.n, bool))
    for env in np.flatnonzero(running & present):
        ends[env][1:] = [float(distance[env])]
