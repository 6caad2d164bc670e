"""How fast is each trained reward? Rewarded env steps per second of finished workdirs, side by side.

Builds every workdir's reward as an RL loop does (``RewardSpec(...).build``, with the reward options
the run was made with) and times its online stream over the same frames and batch of envs,
interleaved in rounds so background load hits every reward alike; prints the median per-step time,
steps/s and each reward's speed relative to the first. For an experiment grid, ``--experiment
ROOT/NAME`` takes every finished cell of one seed (its label from ``cell.json``), so context
lengths, frame skips, model families and code grids are compared in one run, which the grid's own
wall-clock times (taken under whatever else ran) cannot do.

    python benchmarks/workdir_throughput.py --experiment runs/experiments/q4_details [--seed 0] \
        [--envs 16] [--steps 32] [--rounds 3] [--out docs/results/q4_throughput.md]
    python benchmarks/workdir_throughput.py runs/default [runs/other ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _run_settings(workdir: Path) -> tuple[dict[str, str], str | None]:
    """The reward options (``--set reward.X=Y``) and env a run was made with, from its ``run.json``."""
    run = json.loads((workdir / "run.json").read_text()) if (workdir / "run.json").is_file() else {}
    options = (run.get("options") or {}).get("reward") or {}
    return {k: str(v) for k, v in options.items()}, run.get("env")


def _cell_order(name: str) -> dict[str, int]:
    """Cell label -> its place in ``experiments/NAME.toml`` (empty when there is no such file)."""
    from viper.core.experiment import load_experiment

    path = Path("experiments") / f"{name}.toml"
    return {cell.label: i for i, cell in enumerate(load_experiment(path).cells)} if path.is_file() else {}


def _runs(args: argparse.Namespace) -> list[tuple[str, Path, dict[str, str], str | None]]:
    """(label, workdir, reward options, env) of every run to time."""
    from viper.core.experiment import finished

    runs = []
    if args.experiment:
        cells = sorted(args.experiment.glob(f"*/seed{args.seed}/cell.json"))
        if not cells:
            raise SystemExit(
                f"--experiment {args.experiment}: no cell of seed {args.seed} (*/seed{args.seed}/cell.json)"
            )
        order = _cell_order(args.experiment.name)
        markers = [(json.loads(marker.read_text()), marker) for marker in cells]
        markers.sort(key=lambda item: order.get(item[0]["cell"], len(order)))
        for cell, marker in markers:
            if finished(marker.parent, cell["arguments"]) is None:
                print(f"skip {cell['cell']}: not finished")
                continue
            runs.append((cell["cell"], marker.parent, *_run_settings(marker.parent)))
    for workdir in args.workdirs:
        runs.append((str(workdir), workdir, *_run_settings(workdir)))
    if not runs:
        raise SystemExit("nothing to time: give finished workdirs or --experiment ROOT/NAME")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workdirs", nargs="*", type=Path, help="finished viper-run workdirs")
    parser.add_argument("--experiment", type=Path, help="ROOT/NAME of a viper-run experiment: time its cells")
    parser.add_argument("--seed", type=int, default=0, help="with --experiment: whose cells (default 0)")
    parser.add_argument("--envs", type=int, default=16, help="envs stepped together")
    parser.add_argument("--steps", type=int, default=32, help="env steps per round and reward")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the table here (markdown)")
    args = parser.parse_args()

    from viper.core.protocols import StepBatch
    from viper.rewards.wrappers import RewardSpec

    runs = _runs(args)
    envs, steps = args.envs, args.steps
    rng = np.random.default_rng(0)
    firsts = np.zeros((steps, envs), bool)
    firsts[0] = True
    firsts[steps // 2, ::3] = True  # some envs start new episodes mid-way, as in training
    task_ids = np.zeros(envs, np.int32)
    zeros = np.zeros(envs, np.float32)

    timed = []
    for label, workdir, options, env in runs:
        reward, _ = RewardSpec("viper", workdir, task=env, options=options).build((64, 64, 3), f"{workdir}")
        frames = rng.integers(0, 256, (steps, envs, 64, 64, 3), dtype=np.uint8)

        def run(reward=reward, frames=frames) -> None:
            stream = reward.stream(envs, task_ids)
            for t in range(steps):
                stream.step(StepBatch(frames[t], firsts[t], zeros, task_ids))

        run()  # compile every shape first
        timed.append((label, run))
        print(f"built {label} ({workdir}; reward options {options or 'defaults'})", flush=True)

    times: dict[str, list[float]] = {label: [] for label, _ in timed}
    for round_ in range(args.rounds):
        for label, run in timed:
            start = time.perf_counter()
            run()
            times[label].append((time.perf_counter() - start) / steps * 1000.0)
        print(f"round {round_ + 1}/{args.rounds} done", flush=True)

    median = {label: float(np.median(values)) for label, values in times.items()}
    first = next(iter(median.values()))
    lines = [
        f"Rewarded env steps/s of each trained reward, {envs} envs, {steps} steps x {args.rounds} interleaved rounds "
        f"(median), one process on this machine ({time.strftime('%Y-%m-%d')}); `benchmarks/workdir_throughput.py`.",
        "",
        "| run | ms per step (all envs) | rewarded steps/s | speed vs the first row |",
        "|---|---:|---:|---:|",
    ]
    for label, value in median.items():
        lines.append(f"| {label} | {value:.1f} | {envs / value * 1000:.0f} | {first / value:.2f}x |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
