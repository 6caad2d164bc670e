"""Environment steps per second, rendering included, for the lite, dmc and atari suites.

For each env: a single env stepped with random actions, then a ``gymnasium.vector.AsyncVectorEnv``
of ``--num-envs`` copies (one process each; ``spawn`` start method, since forking a process
that already holds an EGL context is unsafe). Steps/s counts env steps (a vector step of N envs
is N env steps); episodes reset as they end. Random actions: stepping cost barely depends on
the policy. On a machine whose cores are shared, run it alone.

    python benchmarks/env_speed.py [--envs lite:reach dmc:cartpole-swingup ...] [--steps 300] [--num-envs 4]
"""

from __future__ import annotations

import argparse
import functools
import time

DEFAULT_ENVS = [
    "lite:reach",
    "lite:push",
    "lite:balance",
    "dmc:cartpole-swingup",
    "dmc:walker-walk",
    "atari:pong",
    "atari:breakout",
]


def make(name: str, seed: int = 0):
    """A module-level factory, so vector-env workers can unpickle it."""
    from viper.core.components import make_env

    return make_env(name, seed=seed)


def single_env_speed(name: str, steps: int) -> tuple[float, tuple[int, ...]]:
    env = make(name)
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    env.step(env.action_space.sample())  # first render creates the GL context: not timed
    start = time.perf_counter()
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed, obs["image"].shape


def vector_env_speed(name: str, steps: int, num_envs: int) -> float:
    import gymnasium as gym

    fns = [functools.partial(make, name, seed) for seed in range(num_envs)]
    envs = gym.vector.AsyncVectorEnv(fns, context="spawn")
    try:
        envs.action_space.seed(0)
        envs.reset(seed=0)
        envs.step(envs.action_space.sample())  # workers are warm
        start = time.perf_counter()
        for _ in range(steps):
            envs.step(envs.action_space.sample())  # finished episodes reset automatically
        elapsed = time.perf_counter() - start
    finally:
        envs.close()
    return steps * num_envs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", nargs="+", default=DEFAULT_ENVS, metavar="SUITE:TASK")
    parser.add_argument("--steps", type=int, default=300, help="timed steps per measurement (vector: per env)")
    parser.add_argument("--num-envs", type=int, default=4, help="envs in the AsyncVectorEnv")
    parser.add_argument("--no-vector", action="store_true", help="only the single-env figures")
    args = parser.parse_args()

    import os

    print(f"{os.cpu_count()} CPU cores; MUJOCO_GL={os.environ.get('MUJOCO_GL', '(viper chooses)')}")
    header = f"{'env':24s} {'frame':>9s} {'single env steps/s':>19s}"
    if not args.no_vector:
        header += f" {f'async x{args.num_envs} steps/s':>20s} {'speed-up':>9s}"
    print(header)
    for name in args.envs:
        single, shape = single_env_speed(name, args.steps)
        line = f"{name:24s} {f'{shape[0]}x{shape[1]}':>9s} {single:19.0f}"
        if not args.no_vector:
            vector = vector_env_speed(name, max(1, args.steps // args.num_envs), args.num_envs)
            line += f" {vector:20.0f} {vector / single:8.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
