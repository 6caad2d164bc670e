"""Rewarded env steps per second: the local loop's envs against Ray env workers (``loop.backend=ray``).

The same total envs each time, stepped through the training loop's ``Driver`` with seeded random
actions (no agent: this measures what the backend moves, not learning) and scored by the reward
stream each step: the local loop in this process (``loop.parallel=false``) and in subprocesses
(gymnasium ``AsyncVectorEnv``, the default for ``num_envs > 1``), then Ray with 1, 2 and 4 env
workers on a local Ray instance, the reward stream in one more actor. Env steps/s counts every
env's step (a vector step of N envs is N env steps). Variants run interleaved in rounds, so
background load hits them alike, and the median round is reported.

    python benchmarks/ray_throughput.py [--env lite:reach] [--num-envs 4] [--steps 200] [--workers 1 2 4]
        [--reward task] [--workdir runs/default]   # --reward viper reads the workdir's trained models
        [--rounds 3] [--out benchmarks/results/ray_throughput.json]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_write_json
from viper.core.components import make_env, resolve_env
from viper.core.loop.driver import Driver
from viper.core.loop.ray_backend import RayBackend
from viper.core.loop.train import make_vector_env
from viper.core.plugins import get_host
from viper.core.rewarding import build_training_reward, reward_context
from viper.core.workdir import Workdir

WARMUP = 10  # vector steps before timing (JIT compiles, first renders, actor start-up)


def steps_per_second(envs: Any, stream: Any, num_envs: int, steps: int, seed: int = 0) -> float:
    """Env steps/s of ``steps`` vector steps through a Driver scoring every frame."""
    driver = Driver(envs, np.zeros(num_envs, np.int32))
    driver.reset([seed + i for i in range(num_envs)], stream)
    rng = np.random.default_rng(seed)
    space = driver.act_space
    for i in range(WARMUP + steps):
        if i == WARMUP:
            start = time.perf_counter()
        driver.observe()
        driver.step(rng.uniform(space.low, space.high, (num_envs, *space.shape)).astype(space.dtype))
    return steps * num_envs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="lite:reach")
    parser.add_argument("--num-envs", type=int, default=4, help="total envs in every variant (default 4)")
    parser.add_argument("--steps", type=int, default=200, help="timed vector steps per variant and round")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="Ray env worker counts")
    parser.add_argument("--reward", default="task", help="task (default) or viper (needs --workdir)")
    parser.add_argument("--workdir", default=None, help="run folder with a trained tokenizer and video model")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/ray_throughput.json")
    args = parser.parse_args()

    backend = RayBackend()  # one local Ray instance for every Ray variant, started before jax loads
    host = get_host()
    name, suite = resolve_env(args.env, host)
    env_fn = functools.partial(make_env, str(name), size=args.size)
    workdir = Workdir(args.workdir) if args.workdir else None
    context = reward_context(workdir, suite, name.task, size=args.size, seed=0, host=host)
    reward = build_training_reward(args.reward, context, host=host)
    n = args.num_envs
    print(f"{args.env}, {n} envs, reward {args.reward}, {args.steps} vector steps x {args.rounds} rounds, "
          f"{os.cpu_count()} CPUs; Ray {backend.ray.__version__}, cluster {backend.ray.cluster_resources()}")  # fmt: skip

    def local(parallel: bool) -> tuple[Any, Any, Any]:
        return make_vector_env(env_fn, n, parallel=parallel), lambda: reward.stream(n, np.zeros(n, np.int32)), None

    def ray(workers: int) -> tuple[Any, Any, Any]:
        envs = backend.vector_env(env_fn, n, workers)
        remote = backend.reward(reward)
        return envs, lambda: remote.stream(n, np.zeros(n, np.int32)), remote.close

    variants = {
        "local, in process": functools.partial(local, False),
        "local, subprocesses": functools.partial(local, True),
    }
    variants.update({f"ray, {w} worker{'s' * (w > 1)}": functools.partial(ray, w) for w in args.workers})
    results: dict[str, list[float]] = {key: [] for key in variants}
    try:
        for r in range(args.rounds):
            for key, make in variants.items():
                envs, stream_fn, close_reward = make()
                with contextlib.ExitStack() as cleanup:
                    cleanup.callback(envs.close)
                    if close_reward is not None:
                        cleanup.callback(close_reward)  # the Ray reward actor
                    results[key].append(steps_per_second(envs, stream_fn(), n, args.steps, seed=r))
                print(f"round {r}: {key:<22} {results[key][-1]:8.1f} env steps/s", flush=True)
    finally:
        backend.close()
    base = statistics.median(results["local, in process"])
    rows = [
        {"variant": key, "env_steps_per_s": statistics.median(v), "vs_local": statistics.median(v) / base, "rounds": v}
        for key, v in results.items()
    ]
    print(f"\n{'variant':<22} {'env steps/s':>12} {'vs in-process':>14}")
    for row in rows:
        print(f"{row['variant']:<22} {row['env_steps_per_s']:12.1f} {row['vs_local']:13.2f}x")
    record = {"args": vars(args), "cpus": os.cpu_count(), "machine": platform.machine(), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(Path(args.out), record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
