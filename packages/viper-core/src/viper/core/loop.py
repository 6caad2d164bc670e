"""The agent training loop: N environments in parallel, the user's reward, any agent.

Read top to bottom (cleanrl style):

1. :class:`LoopConfig` -- every knob, one docstring each;
2. :func:`train_agent` -- the loop itself: step envs, compute the chosen reward for all envs in
   one batch, hand the step to the agent, train it at its replay ratio, evaluate, log, checkpoint;
3. :func:`evaluate` -- evaluation episodes scored by the env's TRUE reward, with a video;
4. checkpoints (atomic, safe formats, refusing corrupt or foreign ones) and small helpers;
5. :func:`train_stage` -- the ``agent`` workdir stage behind ``viper-run train`` and the pipeline.

Conventions (:class:`~viper.core.protocols.EnvStep`, DreamerV3's): ``reward[t]`` belongs to the
transition into ``obs[t]``; the first observation of an episode has ``is_first`` and reward 0.
gymnasium 1.x vector envs reset a finished env on the *next* ``step`` call (ignoring that env's
action), which is exactly the step that carries ``is_first``. The agent sees only the reward the
user chose; ``info["task_reward"]`` (the env's own reward) is summed for logging the true return
and is handed to the reward plugin, which only the ``task`` reward reads.

This module imports neither torch nor jax: frameworks live in the agent and reward plugins.
"""

from __future__ import annotations

import collections
import dataclasses
import importlib.util
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_directory, atomic_write_bytes, atomic_write_json, read_header
from viper.core.config import to_dict
from viper.core.errors import ConfigError, ContractError, NonFiniteError, ViperError, WorkdirError
from viper.core.progress import progress_bar
from viper.core.protocols import Agent, EnvStep, Reward, StepBatch
from viper.core.workdir import StageContext

CHECKPOINT_FORMAT = "viper-agent-checkpoint"
CHECKPOINT_VERSION = 1


@dataclasses.dataclass
class LoopConfig:
    """How the runner drives an agent (``--set loop.FIELD=VALUE``)."""

    steps: int = 100_000
    """Env steps to train for, summed over envs; every observation counts, including each
    episode's first. Raising it and re-running continues a finished run."""
    num_envs: int = 1
    """Environments stepped in parallel."""
    parallel: bool = True
    """With ``num_envs > 1``, step the envs in subprocesses (gymnasium AsyncVectorEnv, started
    with ``spawn`` so torch/jax threads are never forked); False steps them in this process."""
    seed: int = 0
    """Seeds the envs, the agent and the loop's own generator: equal seeds give equal runs."""
    eval_every: int = 10_000
    """Evaluate every this many env steps (0: only at the end)."""
    eval_initial: bool = True
    """Also evaluate before training (the untrained agent's return, for learning curves)."""
    eval_episodes: int = 5
    """Episodes per evaluation."""
    eval_envs: int = 1
    """Evaluation envs stepped together (in this process)."""
    eval_reward: bool = False
    """Also sum the chosen reward during evaluation (costs a reward stream; the true return is
    always logged)."""
    video: bool = True
    """Write the first evaluation episode of each evaluation as an mp4 under ``videos/``."""
    video_fps: int = 20
    """Frames per second of the evaluation videos."""
    log_every: int = 1_000
    """Log training scalars every this many env steps."""
    checkpoint_every: int = 10_000
    """Write a checkpoint (agent, replay, optimisers, RNG state, counters) every this many env
    steps; a killed run resumes from the newest one."""
    checkpoint_seconds: float = 900.0
    """Also checkpoint when this many seconds passed since the last one (0: never by time)."""
    vector_context: str = "spawn"
    """multiprocessing start method of the parallel envs (``spawn``, ``forkserver``, ``fork``)."""

    def __post_init__(self) -> None:
        for name in ("steps", "num_envs", "eval_episodes", "eval_envs", "log_every", "checkpoint_every", "video_fps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--set loop.{name}={getattr(self, name)}: expected at least 1")
        if self.eval_every < 0 or self.checkpoint_seconds < 0:
            raise ConfigError("--set loop.eval_every / loop.checkpoint_seconds: expected >= 0")
        if self.vector_context not in ("spawn", "forkserver", "fork"):
            raise ConfigError(f"--set loop.vector_context={self.vector_context!r}: expected spawn, forkserver or fork")


# --------------------------------------------------------------------------------------------
# The loop


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
    directory = Path(ctx.directory)
    n = config.num_envs
    task_ids = np.zeros(n, np.int32) if task_ids is None else np.asarray(task_ids, np.int32).reshape(n)
    envs = make_vector_env(env_fn, n, parallel=config.parallel and n > 1, context=config.vector_context)
    bar = None
    try:
        obs_space, act_space = envs.single_observation_space, envs.single_action_space
        check_observation_space(obs_space)
        identity = {**(identity or {}), "obs_space": describe_space(obs_space), "act_space": describe_space(act_space)}
        agent = agent_fn(obs_space, act_space, config.seed)

        # Counters and generators live in `state`, which the checkpoint restores.
        state = LoopState.fresh(config)
        checkpoint = directory / "checkpoint"
        recover_checkpoint(checkpoint)
        if checkpoint.exists():
            state = restore_checkpoint(checkpoint, agent, identity)
            ctx.metrics.log(state.env_steps, {"loop/resumed": 1.0})
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = state.rng
        stream = reward.stream(n, task_ids)

        obs, info = envs.reset(seed=[int(s) for s in rng.integers(0, 2**31 - 1, n)])
        is_first = np.ones(n, bool)
        is_last = np.zeros(n, bool)
        is_terminal = np.zeros(n, bool)
        prev_action = np.zeros((n, *act_space.shape), _action_dtype(act_space))
        ep_true = np.zeros(n, np.float64)  # running sums of the true and the chosen reward
        ep_reward = np.zeros(n, np.float64)
        ep_length = np.zeros(n, np.int64)
        finished: list[tuple[float, float, int]] = []  # episodes ended since the last log line
        agent_metrics: dict[str, list[float]] = collections.defaultdict(list)
        reward_sum, reward_count = 0.0, 0  # chosen rewards (of non-first steps) since the last log line
        timer = Timer()
        bar = progress_bar(
            total=config.steps,
            initial=min(state.env_steps, config.steps),
            unit="step",
            desc="agent",
            enabled=ctx.progress,
        )
        last_checkpoint_time = time.time()
        last_log = (time.time(), state.env_steps, state.updates)
        if config.eval_initial and state.env_steps == 0 and state.evals == 0:
            run_evaluation(config, ctx, agent, env_fn, reward, task_ids, state, rng)

        while state.env_steps < config.steps:
            # 1. The chosen reward for every env's newest frame, in one batch.
            task_reward = _info_array(info, "task_reward", n)
            with timer("reward"):
                rewards = stream.step(
                    StepBatch(
                        frames=obs["image"],
                        is_first=is_first.copy(),
                        task_reward=np.where(is_first, 0.0, task_reward).astype(np.float32),
                        task_ids=task_ids,
                        state=obs.get("state"),
                        action=prev_action,
                    )
                )
            rewards = check_rewards(rewards, n, state.env_steps)
            rewards = np.where(is_first, np.float32(0), rewards).astype(np.float32)

            # 2. Episode bookkeeping with the TRUE reward (never shown to the agent).
            ep_true += np.where(is_first, 0.0, task_reward)
            ep_reward += rewards
            reward_sum += float(rewards[~is_first].sum())
            reward_count += int((~is_first).sum())
            ep_length += ~is_first
            for i in np.flatnonzero(is_last):
                finished.append((float(ep_true[i]), float(ep_reward[i]), int(ep_length[i])))
                state.recent.append(float(ep_true[i]))
                state.episodes += 1
            state.recent = state.recent[-20:]

            # 3. The agent acts on (and records) this step.
            step = EnvStep(obs=dict(obs), reward=rewards, is_first=is_first, is_last=is_last, is_terminal=is_terminal)
            with timer("act"):
                action = check_actions(agent.act(step, mode="train"), act_space, n)
            for i in np.flatnonzero(is_last):
                ep_true[i] = ep_reward[i] = ep_length[i] = 0

            # 4. Step the envs; a finished env is reset by this call instead (its action ignored).
            with timer("env"):
                obs, _, terminated, truncated, info = envs.step(action)
            prev_action = np.where(_expand(is_last, action), np.zeros_like(action), action)
            is_first = is_last.copy()
            is_terminal = np.asarray(terminated, bool) & ~is_first
            is_last = (is_terminal | np.asarray(truncated, bool)) & ~is_first
            state.env_steps += n
            bar.update(n)

            # 5. Gradient updates at the agent's replay ratio.
            due = int(agent.updates_per_step * max(0, state.env_steps - agent.train_start))
            while state.updates < due:
                with timer("train"):
                    metrics = train_step(agent, state, checkpoint)
                for key, value in metrics.items():
                    agent_metrics[key].append(value)
                state.updates += 1

            # 6. Logging, evaluation and checkpoints on their schedules.
            if state.env_steps >= state.next_log:
                state.next_log += config.log_every
                now = time.time()
                seconds = max(now - last_log[0], 1e-9)
                scalars: dict[str, Any] = {
                    "train/sps": (state.env_steps - last_log[1]) / seconds,
                    "train/ups": (state.updates - last_log[2]) / seconds,
                    "train/updates": state.updates,
                    "train/episodes": state.episodes,
                    "train/reward_mean": reward_sum / max(reward_count, 1),
                    **{f"time/{k}": v for k, v in timer.shares().items()},
                    **{f"agent/{k}": float(np.mean(v)) for k, v in agent_metrics.items()},
                    **{f"reward/{k}": v for k, v in _stream_metrics(stream).items()},
                }
                if finished:
                    scalars["train/return"] = float(np.mean([e[0] for e in finished]))
                    scalars["train/reward_return"] = float(np.mean([e[1] for e in finished]))
                    scalars["train/length"] = float(np.mean([e[2] for e in finished]))
                ctx.metrics.log(state.env_steps, scalars)
                finished.clear()
                agent_metrics.clear()
                reward_sum, reward_count = 0.0, 0
                last_log = (now, state.env_steps, state.updates)
                bar.set_postfix(
                    sps=f"{scalars['train/sps']:.0f}",
                    ret=f"{np.mean(state.recent):.1f}" if state.recent else "-",
                    eval=f"{state.last_eval:.1f}" if state.evals else "-",
                    refresh=False,
                )
            if config.eval_every and state.env_steps >= state.next_eval:
                state.next_eval += config.eval_every
                run_evaluation(config, ctx, agent, env_fn, reward, task_ids, state, rng)
            if state.env_steps >= state.next_checkpoint or (
                config.checkpoint_seconds and time.time() - last_checkpoint_time > config.checkpoint_seconds
            ):
                while state.next_checkpoint <= state.env_steps:
                    state.next_checkpoint += config.checkpoint_every
                state.rng = rng.bit_generator.state
                save_checkpoint(checkpoint, agent, state, identity)
                last_checkpoint_time = time.time()
        bar.close()

        if not config.eval_every or state.last_eval_step != state.env_steps:
            run_evaluation(config, ctx, agent, env_fn, reward, task_ids, state, rng)
        state.rng = rng.bit_generator.state
        save_checkpoint(checkpoint, agent, state, identity)
        return {
            "env_steps": state.env_steps,
            "updates": state.updates,
            "episodes": state.episodes,
            "eval_return": state.last_eval,
            "eval_return_best": state.best_eval,
            "train_return_recent": float(np.mean(state.recent)) if state.recent else float("nan"),
        }
    finally:
        if bar is not None:
            bar.close()
        envs.close()


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
    scalars = {f"eval/{k}": v for k, v in result.items() if k != "frames"}
    ctx.metrics.log(state.env_steps, scalars)
    if config.video and len(result["frames"]):
        write_video(
            Path(ctx.directory) / "videos" / f"eval-{state.env_steps:09d}.mp4", result["frames"], config.video_fps
        )


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
    envs = gym.vector.SyncVectorEnv([env_fn] * num_envs)
    returns, reward_returns, lengths, frames = [], [], [], []
    try:
        for start in range(0, len(seeds), num_envs):
            batch_seeds = seeds[start : start + num_envs]
            b = len(batch_seeds)
            obs, info = envs.reset(seed=batch_seeds + [batch_seeds[-1]] * (num_envs - b))
            stream = reward.stream(num_envs, np.full(num_envs, task_id, np.int32)) if reward is not None else None
            running = np.arange(num_envs) < b  # envs whose first episode is still going
            is_first, is_last = np.ones(num_envs, bool), np.zeros(num_envs, bool)
            is_terminal = np.zeros(num_envs, bool)
            prev_action = None
            total, total_reward, length = np.zeros(num_envs), np.zeros(num_envs), np.zeros(num_envs, np.int64)
            while running.any():
                task_reward = np.where(is_first, 0.0, _info_array(info, "task_reward", num_envs))
                chosen = np.zeros(num_envs, np.float32)
                if stream is not None:
                    batch = StepBatch(
                        frames=obs["image"],
                        is_first=is_first.copy(),
                        task_reward=task_reward.astype(np.float32),
                        task_ids=np.full(num_envs, task_id, np.int32),
                        state=obs.get("state"),
                        action=prev_action if prev_action is not None else None,
                    )
                    chosen = np.where(is_first, 0.0, check_rewards(stream.step(batch), num_envs, -1)).astype(np.float32)
                total += np.where(running, task_reward, 0.0)
                total_reward += np.where(running, chosen, 0.0)
                length += running & ~is_first
                if start == 0 and running[0]:
                    frames.append(obs["image"][0].copy())
                running &= ~is_last
                if not running.any():
                    break
                step = EnvStep(
                    obs=dict(obs), reward=chosen, is_first=is_first, is_last=is_last, is_terminal=is_terminal
                )
                action = check_actions(agent.act(step, mode="eval"), envs.single_action_space, num_envs)
                obs, _, terminated, truncated, info = envs.step(action)
                prev_action = np.where(_expand(is_last, action), np.zeros_like(action), action)
                is_first = is_last.copy()
                is_terminal = np.asarray(terminated, bool) & ~is_first
                is_last = (is_terminal | np.asarray(truncated, bool)) & ~is_first
            returns.extend(total[:b].tolist())
            reward_returns.extend(total_reward[:b].tolist())
            lengths.extend(length[:b].tolist())
    finally:
        envs.close()
    result = {
        "return": float(np.mean(returns)),
        "return_std": float(np.std(returns)),
        "return_min": float(np.min(returns)),
        "return_max": float(np.max(returns)),
        "length": float(np.mean(lengths)),
        "frames": np.stack(frames) if frames else np.zeros((0, 1, 1, 3), np.uint8),
    }
    if reward is not None:
        result["reward_return"] = float(np.mean(reward_returns))
    return result


def write_video(path: Path, frames: np.ndarray, fps: int) -> None:
    """An mp4 (H.264 via PyAV) written atomically; a missing codec only warns."""
    try:
        import imageio.v3 as iio

        # H.264 needs even sides; pad by one pixel where a frame is odd.
        pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
        if pad_h or pad_w:
            frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        data = iio.imwrite("<bytes>", frames, extension=".mp4", plugin="pyav", codec="libx264", fps=fps)
        atomic_write_bytes(path, data)
    except Exception as exc:  # noqa: BLE001 -- a video is a convenience, never worth a crash
        warnings.warn(f"could not write evaluation video {path}: {exc}", stacklevel=2)


# --------------------------------------------------------------------------------------------
# Checkpoints: `checkpoint/` = `loop.json` (counters, generator state, identity) + `agent/`.


@dataclasses.dataclass
class LoopState:
    """The loop's counters and generator, all JSON (saved in ``loop.json``)."""

    env_steps: int = 0
    updates: int = 0
    episodes: int = 0
    evals: int = 0
    next_log: int = 0
    next_eval: int = 0
    next_checkpoint: int = 0
    saved_step: int | None = None
    last_eval: float = float("nan")
    last_eval_step: int = -1
    best_eval: float = float("-inf")
    recent: list[float] = dataclasses.field(default_factory=list)
    rng: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def fresh(cls, config: LoopConfig) -> LoopState:
        # The loop's generator is independent of the agent's (which seeds from the same number).
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([config.seed, 1])))
        return cls(
            next_log=config.log_every,
            next_eval=config.eval_every,
            next_checkpoint=config.checkpoint_every,
            rng=rng.bit_generator.state,
        )


def save_checkpoint(path: Path, agent: Agent, state: LoopState, identity: dict[str, Any]) -> None:
    """Swap in a new checkpoint atomically: a kill at any moment leaves the previous one."""
    state.saved_step = state.env_steps
    with atomic_directory(path) as tmp:
        (tmp / "agent").mkdir()
        agent.save(tmp / "agent")
        record = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "identity": identity,
            "state": dataclasses.asdict(state),
            "time": time.time(),
        }
        atomic_write_json(tmp / "loop.json", _json_safe(record))


def restore_checkpoint(path: Path, agent: Agent, identity: dict[str, Any]) -> LoopState:
    """Load ``path`` into ``agent``; a corrupt or foreign checkpoint raises WorkdirError and is
    left untouched (nothing is written before training resumes)."""
    meta_path = path / "loop.json"
    record = read_header(
        meta_path,
        CHECKPOINT_FORMAT,
        CHECKPOINT_VERSION,
        what="an agent checkpoint",
        kind="checkpoint",
        hint=f"; move {path} away to start over",
    )
    theirs, ours = _json_safe(record.get("identity")), _json_safe(identity)
    if theirs != ours:
        keys = sorted(k for k in set(theirs or {}) | set(ours) if (theirs or {}).get(k) != ours.get(k))
        raise WorkdirError(
            f"{path}: checkpoint of another run (differs in {', '.join(keys) or 'identity'}); "
            f"refusing to resume from it -- move it away or use another --workdir"
        )
    try:
        fields = {f.name for f in dataclasses.fields(LoopState)}
        state = LoopState(**{k: v for k, v in record["state"].items() if k in fields})
        np.random.Generator(np.random.PCG64()).bit_generator.state = state.rng  # validates it
    except (KeyError, TypeError, ValueError) as exc:
        raise WorkdirError(f"{meta_path}: corrupt loop state ({exc}); move {path} away to start over") from exc
    try:
        agent.load(path / "agent")
    except ViperError:
        raise
    except Exception as exc:  # noqa: BLE001 -- any failure to read means the files are bad
        raise WorkdirError(f"{path / 'agent'}: cannot restore the agent ({type(exc).__name__}: {exc})") from exc
    return state


def recover_checkpoint(path: Path) -> None:
    """Finish or undo a checkpoint swap interrupted by a kill (see ``atomic_directory``)."""
    olds = sorted(path.parent.glob(f".{path.name}.*.old"), key=lambda p: p.stat().st_mtime)
    if not path.exists() and olds:
        os.replace(olds[-1], path)  # killed between moving the old one aside and the new one in
        olds = olds[:-1]
    for leftover in [*olds, *path.parent.glob(f".{path.name}.*.tmp")]:
        shutil.rmtree(leftover, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Helpers


def configure_frameworks() -> None:
    """Let a JAX reward and a PyTorch agent share one GPU: unless the user decided otherwise,
    turn off JAX's default grab of 75% of GPU memory (``XLA_PYTHON_CLIENT_PREALLOCATE=false``)
    when torch is installed and a GPU is visible. Must run before JAX first touches the GPU;
    ``viper-run`` calls it at start-up."""
    if "XLA_PYTHON_CLIENT_PREALLOCATE" in os.environ:
        return
    if _torch_gpu_visible():
        os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        if "jax" in sys.modules:
            warnings.warn(
                "jax was imported before viper could turn off its GPU preallocation; set "
                "XLA_PYTHON_CLIENT_PREALLOCATE=false yourself if JAX and PyTorch share a GPU",
                stacklevel=2,
            )


def _torch_gpu_visible() -> bool:
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        return bool(getattr(torch, "cuda", None) and torch.cuda.is_available())
    if importlib.util.find_spec("torch") is None:
        return False
    # Do not import torch just to ask: a driver's device files are enough of a hint.
    return any(Path(p).exists() for p in ("/dev/nvidiactl", "/proc/driver/nvidia/version", "/dev/kfd"))


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


def check_observation_space(space: Any) -> None:
    import gymnasium as gym

    if not isinstance(space, gym.spaces.Dict) or "image" not in space.spaces:
        keys = ", ".join(space.spaces) if isinstance(space, gym.spaces.Dict) else type(space).__name__
        raise ContractError(f"env observation must be a dict with 'image' (uint8[H,W,3]) for the reward; got {keys}")
    image = space["image"]
    if image.dtype != np.uint8 or len(image.shape) != 3 or image.shape[-1] != 3:
        raise ContractError(f"env observation 'image': expected uint8[H,W,3], got {image.dtype}{list(image.shape)}")


def check_rewards(rewards: Any, num_envs: int, env_step: int) -> np.ndarray:
    """The reward stream's output must be ``float32[num_envs]`` and finite."""
    rewards = np.asarray(rewards)
    if rewards.shape != (num_envs,) or not np.issubdtype(rewards.dtype, np.floating):
        raise ContractError(
            f"reward stream: expected float32[{num_envs}] (one per env), got {rewards.dtype}{list(rewards.shape)}"
        )
    bad = np.flatnonzero(~np.isfinite(rewards))
    if bad.size:
        where = f"env step {env_step}" if env_step >= 0 else "evaluation"
        raise NonFiniteError(f"reward: non-finite value {rewards[bad[0]]} at {where} for env {bad[0]}")
    return rewards.astype(np.float32, copy=False)


def check_actions(action: Any, space: Any, num_envs: int) -> np.ndarray:
    action = np.asarray(action)
    want = (num_envs, *space.shape)
    if action.shape != want:
        raise ContractError(f"agent.act: expected actions of shape {list(want)} for {space}, got {list(action.shape)}")
    return action.astype(space.dtype, copy=False) if space.dtype is not None else action


def describe_space(space: Any) -> Any:
    """A JSON description of a gymnasium space (for checkpoint identity)."""
    import gymnasium as gym

    if isinstance(space, gym.spaces.Dict):
        return {k: describe_space(v) for k, v in space.spaces.items()}
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n)}
    if isinstance(space, gym.spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype)}
    return {"type": type(space).__name__, "shape": list(space.shape or ())}


class Timer:
    """Seconds spent per phase (reward, act, env, train), reported as shares."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = collections.defaultdict(float)

    def __call__(self, name: str) -> Any:
        timer = self

        class _Span:
            def __enter__(self) -> None:
                self.t0 = time.perf_counter()

            def __exit__(self, *exc: object) -> None:
                timer.totals[name] += time.perf_counter() - self.t0

        return _Span()

    def shares(self) -> dict[str, float]:
        total = sum(self.totals.values()) or 1.0
        out = {f"{k}_share": v / total for k, v in self.totals.items()}
        out.update({f"{k}_seconds": v for k, v in self.totals.items()})
        self.totals.clear()
        return out


def _info_array(info: dict[str, Any], key: str, n: int) -> np.ndarray:
    if key not in info:
        raise ContractError(f"env info has no {key!r}; env suites must report their own reward in info[{key!r}]")
    values = np.asarray(info[key], np.float64).reshape(n)
    mask = info.get(f"_{key}")
    return np.where(mask, values, 0.0) if mask is not None else values


def _stream_metrics(stream: Any) -> dict[str, float]:
    fn = getattr(stream, "metrics", None)
    return {k: float(v) for k, v in (fn() or {}).items()} if callable(fn) else {}


def _action_dtype(space: Any) -> Any:
    return space.dtype if space.dtype is not None else np.float32


def _expand(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    return mask.reshape(mask.shape + (1,) * (like.ndim - 1))


def _literal_values(options: dict[str, Any]) -> dict[str, Any]:
    """``--set env.episode_length=50`` arrives as a string: read numbers and booleans as such."""
    import ast

    out = {}
    for key, value in options.items():
        if isinstance(value, str):
            text = {"true": "True", "false": "False", "none": "None"}.get(value.lower(), value)
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                pass
        out[key] = value
    return out


def _json_safe(value: Any) -> Any:
    """Round-trip through JSON semantics (tuples -> lists, numpy -> python, inf/nan kept)."""
    import json

    from viper.core.atomic import _json_default

    return json.loads(json.dumps(value, default=_json_default))


# --------------------------------------------------------------------------------------------
# The `agent` stage: what `viper-run train` and the main pipeline run.


def train_stage(
    workdir: Any,
    env: str,
    agent: str,
    reward: str,
    *,
    steps: int | None = None,
    seed: int = 0,
    options: dict[str, dict[str, Any]] | None = None,
    size: int = 64,
    progress: bool = True,
    host: Any = None,
    reward_obj: Reward | None = None,
    explore: str | None = None,
    beta: float | None = None,
) -> dict[str, Any]:
    """Train ``agent`` on ``env`` with ``reward`` (plus ``beta`` times the ``explore`` bonus, if
    given) inside the workdir stage ``agent``.

    ``options`` maps ``agent``/``reward``/``loop``/``env`` to ``--set`` values. The stage is keyed
    by everything but ``loop.steps``: a finished stage with at least ``steps`` steps is reused,
    one with fewer (or a killed one) continues from its checkpoint. Rewards that read a trained
    model also key the stage by the workdir's tokenizer / video model folders. ``reward_obj``
    (optional) is a reward the caller already built. Returns the final metrics, including
    ``stage_dir``.
    """
    import functools

    from viper.core.components import load_suite, make_config, make_env, parse_env
    from viper.core.plugins import get_host
    from viper.core.protocols import RewardContext
    from viper.core.rewarding import build_training_reward
    from viper.core.workdir import Workdir

    configure_frameworks()
    host = host or get_host()
    options = {k: dict(v) for k, v in (options or {}).items()}
    unknown = sorted(set(options) - {"agent", "reward", "explore", "loop", "env"})
    if unknown:
        raise ConfigError(f"--set {unknown[0]}.*: unknown section; expected agent, reward, explore, loop or env")
    name = parse_env(env)
    suite = load_suite(name.suite, host)
    if name.task not in suite.tasks():
        raise ConfigError(
            f"--env {name}: unknown task {name.task!r}; tasks of {name.suite!r}: {', '.join(suite.tasks())}"
        )
    loop_options = {**options.get("loop", {}), "seed": seed}
    if steps is not None:
        loop_options["steps"] = steps
    from viper.core.config import build_config

    loop_config = build_config(LoopConfig, loop_options, where="--set loop")
    agent_config = make_config("agent", agent, options.get("agent"), host)
    reward_config = make_config("reward", reward, options.get("reward"), host) if reward_obj is None else None
    explore_config = make_config("reward", explore, options.get("explore"), host) if explore is not None else None
    wd = workdir if isinstance(workdir, Workdir) else Workdir(workdir)
    depends = {}
    if reward != "task":
        for dep in ("data", "tokenizer", "video_model"):
            try:
                depends[dep] = wd.latest(dep).name
            except WorkdirError:
                pass
    identity = {
        "env": str(name),
        "size": size,
        "env_options": options.get("env", {}),
        "agent": agent,
        "agent_config": to_dict(agent_config),
        "reward": reward,
        "reward_config": to_dict(reward_config),
    }
    if explore is not None:
        identity.update(explore=explore, beta=beta, explore_config=to_dict(explore_config))
    stage_config = {
        **identity,
        "loop": {k: v for k, v in to_dict(loop_config).items() if k != "steps"},
        "depends": depends,
    }
    stage = wd.stage("agent", stage_config, component=agent)
    info = stage.info
    if stage.done and info.get("metrics", {}).get("env_steps", 0) >= loop_config.steps:
        print(f"agent: cached in {stage.directory}")
        return {**info["metrics"], "stage_dir": str(stage.directory), "cached": True}

    env_fn = functools.partial(make_env, str(name), size=size, **_literal_values(options.get("env", {})))
    if reward_obj is None:
        masks = {}
        mask = suite.image_mask(name.task, size)
        if mask is not None:
            masks[name.task] = np.asarray(mask, bool)
        context = RewardContext(
            workdir=wd, tasks=(name.task,), image_size=(size, size), image_masks=masks, seed=seed, host=host
        )
        reward_obj = build_training_reward(
            reward,
            context,
            options=options.get("reward"),
            explore=explore,
            beta=beta,
            explore_options=options.get("explore"),
            host=host,
        )
    factory = host.load("agent", agent)

    def agent_fn(obs_space: Any, act_space: Any, agent_seed: int) -> Agent:
        return factory(agent_config, obs_space, act_space, agent_seed)

    stage.start()
    ctx = stage.context(seed=seed, progress=progress)
    try:
        metrics = train_agent(
            loop_config, ctx, env_fn=env_fn, agent_fn=agent_fn, reward=reward_obj, identity=_json_safe(identity)
        )
    finally:
        ctx.metrics.close()
    plot_learning_curve(
        wd.path / "metrics.jsonl",
        stage.directory / "learning_curve.png",
        stage=ctx.metrics.stage,
        run=stage.directory.name,
    )
    stage.finish(metrics)
    return {**metrics, "stage_dir": str(stage.directory), "cached": False}


def _short_count(value: float, _position: Any = None) -> str:
    """Axis label for a step count: 2500 -> 2.5k, 1000000 -> 1M."""
    for unit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= unit:
            return f"{value / unit:g}{suffix}"
    return f"{value:g}"


def plot_learning_curve(
    metrics_path: Path, out: Path, stage: str = "agent", run: str | None = None, lines: dict[str, float] | None = None
) -> Path | None:
    """A PNG of evaluation return (true, from the env) against env steps, with optional
    horizontal reference ``lines`` (e.g. ``{"scripted expert": 88.4, "random": 0.0}``)."""
    from viper.core.metrics import read_metrics

    records = [r for r in read_metrics(metrics_path, stage, run) if "eval/return" in r]
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    steps = np.array([r["step"] for r in records])
    mean = np.array([r["eval/return"] for r in records])
    std = np.array([r.get("eval/return_std", 0.0) for r in records])
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    ax.plot(steps, mean, marker="o", ms=3, label="agent (mean ± std)")
    ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    styles = iter([("tab:green", "--"), ("tab:red", ":"), ("tab:gray", "-.")])
    for label, value in (lines or {}).items():
        color, style = next(styles, ("k", "--"))
        ax.axhline(value, color=color, linestyle=style, label=f"{label} ({value:.1f})")
    if lines:
        ax.legend(fontsize=7, loc="best")
    ax.set_xlabel("env steps")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_short_count))
    ax.set_ylabel("eval return (true)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(out, buffer.getvalue())
    return out
