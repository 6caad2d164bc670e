"""Every knob of the training loop (``--set loop.FIELD=VALUE``)."""

from __future__ import annotations

import dataclasses

from viper.core.errors import ConfigError


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
