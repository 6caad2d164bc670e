"""Scripted experts against a random policy: mean true return per task, plus a PNG strip each.

For every task: the suite's scripted expert and a uniform random policy each play
``--episodes`` episodes (held-out seeds 1000, 1001, ...; the experts were tuned on other
seeds), and the table shows mean +- std of the true episode return. DMC tasks are evaluated with
``render=False`` (physics only: the same dynamics and rewards, without the ~15 ms a frame of
rendering); one extra rendered expert episode per task gives the PNG strip (10 frames evenly
spaced, shown at 2x) written to ``--out``.

    python benchmarks/experts.py [--tasks lite:reach dmc:cartpole-swingup ...] [--episodes 10] [--out benchmarks/out]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def default_tasks() -> list[str]:
    """Every task of the lite and dmc suites that has a scripted expert."""
    from viper.core.components import load_suite

    return [f"{suite}:{task}" for suite in ("lite", "dmc") for task in load_suite(suite).expert_tasks()]


SEED = 1000


class Random:
    def __init__(self, env, seed: int) -> None:
        self.space = env.action_space
        self.space.seed(seed)

    def reset(self) -> None:
        pass

    def act(self, obs):
        return self.space.sample()


def play(env, policy, seed: int, record: bool = False) -> tuple[float, list[np.ndarray]]:
    obs, _ = env.reset(seed=seed)
    policy.reset()
    total, frames = 0.0, [obs["image"]] if record else []
    while True:
        obs, reward, terminated, truncated, info = env.step(policy.act(obs))
        total += float(info.get("task_reward", reward))
        if record:
            frames.append(obs["image"])
        if terminated or truncated:
            return total, frames


def make(suite, task: str, render: bool):
    options = {} if render or suite.name != "dmc" else {"render": False}
    return suite.make(task, seed=SEED, **options)


def save_strip(frames: list[np.ndarray], path: Path, count: int = 10) -> None:
    from viper.core.media import write_image

    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    strip = np.concatenate([frames[i] for i in picks], axis=1)
    strip = np.repeat(np.repeat(strip, 2, axis=0), 2, axis=1)
    write_image(path, strip)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tasks", nargs="+", default=None, metavar="SUITE:TASK", help="default: every task with a scripted expert"
    )
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/out", help="folder for the PNG strips")
    parser.add_argument("--no-strips", action="store_true")
    args = parser.parse_args()

    from viper.core.components import load_suite, parse_env

    out = Path(args.out)
    print(f"{args.episodes} episodes per policy, seeds {SEED}..{SEED + args.episodes - 1}")
    print(f"{'task':26s} {'expert return':>17s} {'random return':>17s} {'time':>7s}  strip")
    for name in args.tasks or default_tasks():
        env_name = parse_env(name, option="--tasks")
        suite = load_suite(env_name.suite)
        start = time.perf_counter()
        env = make(suite, env_name.task, render=False)
        expert = suite.expert(env_name.task, env)
        if expert is None:
            print(f"{name:26s} (no scripted expert)")
            continue
        seeds = range(SEED, SEED + args.episodes)
        expert_returns = [play(env, expert, s)[0] for s in seeds]
        random = Random(env, SEED)
        random_returns = [play(env, random, s)[0] for s in seeds]
        env.close()
        strip = ""
        if not args.no_strips:
            shown = make(suite, env_name.task, render=True)
            _, frames = play(shown, suite.expert(env_name.task, shown), SEED, record=True)
            shown.close()
            path = out / f"{env_name.suite}_{env_name.task}.png"
            save_strip(frames, path)
            strip = str(path)
        elapsed = time.perf_counter() - start
        e, r = np.asarray(expert_returns), np.asarray(random_returns)
        print(
            f"{name:26s} {e.mean():9.1f} +- {e.std():5.1f} {r.mean():9.1f} +- {r.std():5.1f} {elapsed:6.0f}s  {strip}",
            flush=True,
        )


if __name__ == "__main__":
    main()
