"""Does the reward teach? An agent's true return as % of the expert, over seeds, next to its oracle.

Each cell is one ordinary ``viper-run`` (collect, tokenizer, video model, score, agent) in the
workdir ``ROOT/<env>/seed<S>``: the reward's stages are shared by every cell of that env and
seed, each reward/agent/option combination trains its own agent stage, and a finished stage is
never recomputed — so an interrupted grid resumes where it stopped and rerunning the script only
prints the table. ``--reward task`` is the oracle: the same agent and budget on the env's own
reward. A cell's result is its agent stage's final evaluation (``--set loop.eval_episodes``
episodes, 10 by default) as % of the scripted expert's mean return in the score stage.

    python benchmarks/agent_returns.py --env lite:reach --agent drq --seeds 0 1 2 \\
        --rewards viper task [--set agent.lr=3e-4 ...] [--root runs/agent_returns] [--dry-run]

Prints one row per (reward, options) with mean ± std over seeds and each seed's figure, the
success rate where the env reports one (Meta-World) and the agent stage's wall minutes, and
writes every cell's numbers to ``ROOT/<env>/results.jsonl`` (one line per finished cell).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def cell_command(args: argparse.Namespace, seed: int, reward: str, workdir: Path) -> list[str]:
    command = [shutil.which("viper-run") or "viper-run", "--env", args.env, "--agent", args.agent]
    command += ["--reward", reward, "--seed", str(seed), "--workdir", str(workdir)]
    if args.steps:
        command += ["--steps", str(args.steps)]
    if args.random_episodes is not None:
        command += ["--random-episodes", str(args.random_episodes)]
    if args.episodes is not None:
        command += ["--episodes", str(args.episodes)]
    if args.explore:
        command += ["--explore", args.explore, "--beta", str(args.beta)]
    for setting in args.set:
        command += ["--set", setting]
    return command


def run_cells(args: argparse.Namespace, rewards: list[str], seeds: list[int], root: Path, dry_run: bool):
    """Runs the ``viper-run`` of each (reward, seed) cell in ``ROOT/<env>/seed<S>`` in turn,
    printing its command first; yields ``(reward, seed, workdir)`` once each has finished (a dry
    run only prints)."""
    base = root / args.env.replace(":", "-")
    cells = [(reward, seed) for reward in rewards for seed in seeds]
    for index, (reward, seed) in enumerate(cells, 1):
        workdir = base / f"seed{seed}"
        command = cell_command(args, seed, reward, workdir)
        print(f"[{index}/{len(cells)}] $ {' '.join(command)}", file=sys.stderr, flush=True)
        if not dry_run:
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            yield reward, seed, workdir


def read_cell(workdir: Path) -> dict:
    """The finished run's agent return, the expert's and the random policy's (None if it was not
    scored), from the stage folders ``latest.json`` names."""
    latest = json.loads((workdir / "latest.json").read_text())
    agent = json.loads((workdir / latest["agent"] / "stage.json").read_text())
    score = json.loads((workdir / latest["score"] / "score.json").read_text())
    expert = expert_return(score)
    report = workdir / "report" / "report.json"
    numbers = json.loads(report.read_text()) if report.exists() else {}
    # The report is rewritten by every run in this workdir: only this cell's own run counts.
    own = numbers.get("stage_folders", {}).get("agent") == latest["agent"]
    return {
        "agent_stage": latest["agent"],
        "eval_return": agent["metrics"]["eval_return"],
        "eval_return_best": agent["metrics"].get("eval_return_best"),
        "expert_return": expert,
        "random_return": (score["policies"].get("random") or {}).get("true_return_mean"),
        "eval_success": numbers.get("agent_eval_success") if own else None,
        "expert_success": (score["policies"].get("expert") or {}).get("success_rate"),
        # share of the starting distance to the goal closed, where the env reports one (push: the block's)
        "eval_goal_progress": numbers.get("agent_eval_goal_progress") if own else None,
        "expert_goal_progress": (score["policies"].get("expert") or {}).get("goal_progress"),
        "seconds": agent["seconds"],
    }


def expert_return(score: dict) -> float:
    """Mean true return of the scripted expert's episodes in a ``score.json``."""
    policies = score.get("policies", {})
    if "expert" not in policies:
        raise KeyError(f"score.json has no expert policy (policies: {sorted(policies)})")
    return float(policies["expert"]["true_return_mean"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="lite:reach")
    parser.add_argument("--agent", default="drq")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rewards", nargs="+", default=["viper", "task"])
    parser.add_argument("--steps", type=int, default=None, help="agent env steps (default: the preset's)")
    parser.add_argument("--random-episodes", type=int, default=None, help="random-policy episodes for the tokenizer")
    parser.add_argument("--episodes", type=int, default=None, help="expert episodes (default: the preset's)")
    parser.add_argument("--explore", default=None)
    parser.add_argument("--beta", type=float, default=0.5)
    parser.add_argument("--set", action="append", default=[], help="SECTION.FIELD=VALUE for every cell")
    parser.add_argument("--tag", default="", help="label of this option set in the table")
    parser.add_argument("--root", type=Path, default=Path("runs/agent_returns"))
    parser.add_argument("--dry-run", action="store_true", help="list the cells and stop")
    args = parser.parse_args()

    results = args.root / args.env.replace(":", "-") / "results.jsonl"
    rows: dict[str, list[dict]] = {}
    start = time.time()
    for reward, seed, workdir in run_cells(args, args.rewards, args.seeds, args.root, args.dry_run):
        cell = {"env": args.env, "agent": args.agent, "reward": reward, "seed": seed, "set": args.set}
        cell["random_episodes"] = args.random_episodes
        cell["episodes"] = args.episodes
        cell |= {"explore": args.explore, "beta": args.beta if args.explore else None, "tag": args.tag}
        cell |= read_cell(workdir)
        with results.open("a") as out:
            out.write(json.dumps(cell) + "\n")
        rows.setdefault(reward, []).append(cell)
        print(
            f"    {reward} seed {seed}: {cell['eval_return']:.1f} = "
            f"{100 * cell['eval_return'] / cell['expert_return']:.0f}% of the expert's {cell['expert_return']:.1f}"
            f" ({cell['seconds']:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    if args.dry_run:
        return
    label = " ".join([args.tag, *args.set]).strip() or "defaults"
    print(f"\n{args.env}, {args.agent}, {label}: final eval return, % of the expert (mean ± std over seeds)\n")
    success = all(c.get("eval_success") is not None for cells_of in rows.values() for c in cells_of)
    progress = all(c.get("eval_goal_progress") is not None for cells_of in rows.values() for c in cells_of)
    print(
        "| reward | % of expert | return |"
        + " success |" * success
        + " distance to the goal closed |" * progress
        + " per seed | agent minutes |"
    )
    print("|---|---:|---:|" + "---:|" * (success + progress) + "---|---:|")
    for reward, cells_of in rows.items():
        pct = np.array([100 * c["eval_return"] / c["expert_return"] for c in cells_of])
        ret = np.array([c["eval_return"] for c in cells_of])
        seeds = ", ".join(f"{c['seed']}: {p:.0f}%" for c, p in zip(cells_of, pct, strict=True))
        rate = np.array([100 * (c.get("eval_success") or 0.0) for c in cells_of])
        shown = f" {rate.mean():.0f} ± {rate.std():.0f}% |" if success else ""
        if progress:
            closed = np.array([100 * c["eval_goal_progress"] for c in cells_of])
            shown += f" {closed.mean():.0f} ± {closed.std():.0f}% |"
        minutes = np.mean([c["seconds"] for c in cells_of]) / 60
        print(
            f"| {reward} | {pct.mean():.0f} ± {pct.std():.0f} | {ret.mean():.1f} ± {ret.std():.1f} |{shown} {seeds} "
            f"| {minutes:.0f} |"
        )
    print(f"\nwall time {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
