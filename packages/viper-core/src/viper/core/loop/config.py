"""Every knob of the training loop (``--set loop.FIELD=VALUE``)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from viper.core.config import Options, Rule, option


@dataclasses.dataclass
class LoopConfig(Options):
    """How the runner drives an agent (``--set loop.FIELD=VALUE``)."""

    SECTION: ClassVar[str] = "loop"
    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule(
            "num_workers",
            lambda c: c.num_workers <= c.num_envs,
            "at most loop.num_envs ({num_envs}): a worker steps >= 1 env",
        ),
        Rule("num_workers", lambda c: c.backend == "ray" or c.num_workers == 1, "1 unless loop.backend=ray"),
        Rule("ray_address", lambda c: c.backend == "ray" or not c.ray_address, "empty unless loop.backend=ray"),
    )

    steps: int = option(100_000, ge=1)
    """Env steps to train for, summed over envs; every observation counts, including each
    episode's first. Raising it and re-running continues a finished run."""
    num_envs: int = option(1, ge=1)
    """Environments stepped in parallel."""
    parallel: bool = True
    """With ``num_envs > 1``, step the envs in subprocesses (gymnasium AsyncVectorEnv, started
    with ``spawn`` so torch/jax threads are never forked); False steps them in this process."""
    seed: int = 0
    """Seeds the envs, the agent and the loop's own generator: equal seeds give equal runs."""
    eval_every: int = option(10_000, ge=0)
    """Evaluate every this many env steps (0: only at the end)."""
    eval_initial: bool = True
    """Also evaluate before training (the untrained agent's return, for learning curves)."""
    eval_episodes: int = option(5, ge=1)
    """Episodes per evaluation."""
    eval_envs: int = option(1, ge=1)
    """Evaluation envs stepped together (in this process)."""
    eval_reward: bool = False
    """Also sum the chosen reward during evaluation (costs a reward stream; the true return is
    always logged)."""
    video: bool = True
    """Write the first evaluation episode of each evaluation as an mp4 under ``videos/``."""
    video_fps: int = option(20, ge=1)
    """Frames per second of the evaluation videos."""
    log_every: int = option(1_000, ge=1)
    """Log training scalars every this many env steps."""
    checkpoint_every: int = option(10_000, ge=1)
    """Write a checkpoint (agent, replay, optimisers, RNG state, counters) every this many env
    steps; a killed run resumes from the newest one."""
    keep_best: bool = option(False, keyed_default=False)
    """Also keep the agent of the best evaluation so far in ``checkpoint-best/`` (the same files
    as a checkpoint, written at each new best), to replay it with ``--policy agent:WORKDIR@best``
    or ``--expert agent:WORKDIR@best`` when training later loses what it learned."""
    checkpoint_seconds: float = option(900.0, ge=0)
    """Also checkpoint when this many seconds passed since the last one (0: never by time)."""
    vector_context: str = option("spawn", one_of=("spawn", "forkserver", "fork"))
    """multiprocessing start method of the parallel envs (``spawn``, ``forkserver``, ``fork``)."""
    # Where the envs step is how a run executes, not what it computes: the agent stage keys
    # its folder without these three (viper.core.stages.agent), so a Ray run continues a local one.
    backend: str = option("local", one_of=("local", "ray"), keyed_default=False)
    """Where the training envs step: ``local`` (this process, or its subprocesses with
    ``parallel``) or ``ray`` (``num_workers`` Ray actors each stepping a slice of the envs, the
    reward stream batched in one more actor, on a GPU when the cluster has one; the agent learns
    in this process). Same seeds, same numbers. Needs ``pip install 'viper-core[ray]'``."""
    num_workers: int = option(1, ge=1, keyed_default=False)
    """Ray env workers (``backend=ray``); worker ``w`` steps a contiguous slice of the
    ``num_envs`` envs (sizes differ by at most one), so at most ``num_envs``. A worker that dies is
    replaced and its envs start new episodes."""
    ray_address: str = option("", keyed_default=False)
    """Ray cluster to join (``backend=ray``), e.g. ``10.0.0.5:6379``, or ``auto`` for the one
    ``ray start`` began on this machine; empty joins ``$RAY_ADDRESS`` if set, else starts a Ray
    instance on this machine for this run."""
