"""Pixels: an agent that observes only the 64x64 frames learns from the VIPER reward, on a CPU.

The quick preset's agent reads the env's low-dimensional ``state``; the paper's agents see
pixels. This runs the drq agent on ``image`` alone (conv encoder + random-shift augmentation,
3 stacked frames; by default its convs are read out as keypoints) with sizes a 2-core CPU can
train in about an hour, once on the VIPER reward and once on the task reward (the oracle: same
agent, same budget), and draws both evaluation curves in one figure beside the scripted
expert's and the random policy's returns.

Each cell is an ordinary cached ``viper-run`` in ``ROOT/<env>/seed<S>``, the workdir layout of
``agent_returns.py``: with the same ``--root`` the reward's stages (collect, tokenizer, video
model, score) are shared with that script's cells and only the agent stage is new. An
interrupted run resumes from the agent's last checkpoint; a finished one is only read.

    python benchmarks/pixels.py [--env lite:reach] [--seeds 0] [--rewards viper task] \\
        [--steps 20000] [--set agent.encoder=keypoints ...] [--tag NAME] [--root runs/agent_returns] [--dry-run]

Writes ``--out``/pixels-<env>[-<tag>].json (every cell's curve and final figures) and .png (the
curves); a ``--tag`` keeps one variant's figures beside another's. Cells already in that file
with the same settings and budget but another reward or seed are kept (a later ``--seeds 1 2``
adds to seed 0's record, from whichever machine ran it); a cell run again replaces its record.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agent_returns import read_cell, run_cells  # noqa: E402

#: The drq agent from pixels, sized for a CPU: SAC (``algorithm=drq``, which learns where the
#: quick preset's DrQ-v2 parked, benchmarks/README.md) with the keypoint encoder (DrQ's convs at
#: half width, 16 channels, read out as 16 positions: with DrQ's flattened encoder the task
#: reward taught nothing in 20k steps, 2% of the expert; with keypoints 80%, best 98%) and its
#: 50-unit trunk, 3-step targets and one update per 2 env steps (DrQ-v2's) at a batch of 64
#: (DrQ-v2: 256), so that ~20k steps fit in about an hour. Every field overrides the quick
#: preset's state-agent setting of the same name; ``--set`` wins over these.
PIXEL_AGENT = {
    "obs_keys": "image",
    "algorithm": "drq",
    "encoder": "keypoints",
    "conv_channels": 16,
    "feature_dim": 50,
    "hidden": 256,
    "batch_size": 64,
    "frame_stack": 3,
    "nstep": 3,
    "update_every": 2,
    "critic_tau": 0.01,
    "init_temperature": 0.1,
    "lr": 3e-4,
}


def pixel_settings(extra: list[str]) -> list[str]:
    """``--set`` strings: :data:`PIXEL_AGENT`, then ``extra`` (later ones win in ``viper-run``)."""
    return [f"agent.{key}={value}" for key, value in PIXEL_AGENT.items()] + list(extra)


def eval_curve(workdir: Path, agent_stage: str) -> list[dict]:
    """``[{step, return, std}]`` of one agent stage's evaluations, from the workdir's metrics."""
    from viper.core.metrics import read_metrics

    records = read_metrics(workdir / "metrics.jsonl", "agent", agent_stage)
    return [
        {"step": r["step"], "return": r["eval/return"], "std": r.get("eval/return_std", 0.0)}
        for r in records
        if "eval/return" in r
    ]


def read_recorded(path: Path) -> list[dict]:
    """The cells an earlier run wrote to ``path`` ([] when there is none); a file that is not
    that json stops the script with its name, before any training."""
    if not path.is_file():
        return []
    try:
        recorded = json.loads(path.read_text())
    except ValueError as err:
        raise SystemExit(f"{path}: not the json this script writes ({err}); move it aside to start afresh") from None
    if not isinstance(recorded, list) or not all(isinstance(r, dict) for r in recorded):
        raise SystemExit(f"{path}: expected a json list of cells; move it aside to start afresh")
    return recorded


#: ``--set`` (section, field) pairs that change how fast a cell runs, not what it learns.
SPEED_ONLY = {("agent", "threads")}


def effective_settings(settings: list[str]) -> dict[tuple[str, str], str]:
    """``--set`` strings parsed as viper-run parses them (the last value of a field wins), speed-only
    fields left out: two cells with equal results compare equal however their lists were written."""
    from viper.core.config import parse_assignments

    parsed = parse_assignments(settings)
    return {(s, f): v for s, fields in parsed.items() for f, v in fields.items() if (s, f) not in SPEED_ONLY}


def merge_recorded(path: Path, cells: list[dict]) -> list[dict]:
    """``cells`` plus the records in ``path`` of the same env, settings and budget whose
    (reward, seed) this run did not produce, ordered by reward then seed."""
    fresh = {(c["reward"], c["seed"]) for c in cells}
    ours = cells[0]
    same = [
        r
        for r in read_recorded(path)
        if (r.get("reward"), r.get("seed")) not in fresh
        and (r.get("env"), r.get("steps")) == (ours["env"], ours["steps"])
        and effective_settings(r.get("set", [])) == effective_settings(ours["set"])
    ]
    order = {"viper": 0, "task": 1}
    return sorted(cells + same, key=lambda c: (order.get(c["reward"], 2), c["reward"], c["seed"]))


def plot(cells: list[dict], env: str, out: Path, encoder: str = "drq") -> None:
    from viper.core.media import _pyplot, write_png

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.4), dpi=120)
    colors = {"viper": "tab:blue", "task": "tab:orange"}
    seeds = sorted({cell["seed"] for cell in cells})
    styles = ["-", "--", "-.", ":"]
    for cell in cells:
        steps = [p["step"] for p in cell["curve"]]
        mean = [p["return"] for p in cell["curve"]]
        style = styles[seeds.index(cell["seed"]) % len(styles)]
        color = colors.get(cell["reward"], None)
        ax.plot(steps, mean, style, marker="o", ms=3, color=color, label=f"{cell['reward']} seed {cell['seed']}")
    experts = [cell["expert_return"] for cell in cells]
    expert = sum(experts) / len(experts)  # each seed's reward models come with its own expert episodes
    label = f"scripted expert ({expert:.1f})" if len(set(experts)) == 1 else f"scripted expert (mean {expert:.1f})"
    ax.axhline(expert, color="tab:green", linestyle="--", label=label)
    if cells[0].get("random_return") is not None:
        ax.axhline(cells[0]["random_return"], color="tab:red", linestyle=":", label="random policy")
    ax.set_xlabel("env steps")
    ax.set_ylabel("eval return (true)")
    ax.set_title(f"{env}: drq ({encoder} encoder) from 64x64 pixels only", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    write_png(out, fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="lite:reach")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--rewards", nargs="+", default=["viper", "task"])
    parser.add_argument("--steps", type=int, default=20_000, help="agent env steps per cell")
    parser.add_argument("--set", action="append", default=[], help="SECTION.FIELD=VALUE on top of the pixel agent")
    parser.add_argument("--root", type=Path, default=Path("runs/agent_returns"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--tag", default="", help="suffix of the output files' names (one variant beside another)")
    parser.add_argument("--dry-run", action="store_true", help="list the cells and stop")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error(f"--steps {args.steps}: expected a positive number of env steps")
    if args.tag and not args.tag.replace("-", "").replace("_", "").isalnum():
        parser.error(f"--tag {args.tag!r}: expected letters, digits, '-' or '_' (it names files)")

    # cell_command reads these agent_returns.py options; the pixel settings travel as --set.
    run_args = argparse.Namespace(
        env=args.env, agent="drq", steps=args.steps, random_episodes=None, episodes=None, explore=None,
        set=pixel_settings(args.set),
    )  # fmt: skip
    name = f"pixels-{args.env.replace(':', '-')}" + (f"-{args.tag}" if args.tag else "")
    record = args.out / f"{name}.json"
    read_recorded(record)  # a damaged record stops us now, not after the training
    cells = []
    start = began = time.time()
    for reward, seed, workdir in run_cells(run_args, args.rewards, args.seeds, args.root, args.dry_run):
        cell = {"env": args.env, "reward": reward, "seed": seed, "steps": args.steps, "set": run_args.set}
        cell |= read_cell(workdir)
        cell["curve"] = eval_curve(workdir, cell["agent_stage"])
        cells.append(cell)
        pct = 100 * cell["eval_return"] / cell["expert_return"]
        print(
            f"    {reward} seed {seed}: {cell['eval_return']:.1f} = {pct:.0f}% of the expert's "
            f"{cell['expert_return']:.1f} (agent stage {cell['seconds']:.0f} s; this call {time.time() - began:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        began = time.time()
    if args.dry_run:
        return
    from viper.core.atomic import atomic_write_text

    args.out.mkdir(parents=True, exist_ok=True)
    if cells:
        cells = merge_recorded(record, cells)
    atomic_write_text(record, json.dumps(cells, indent=1) + "\n")
    encoder = next((s.split("=", 1)[1] for s in reversed(run_args.set) if s.startswith("agent.encoder=")), "drq")
    plot(cells, args.env, args.out / f"{name}.png", encoder)
    print(
        f"\n{args.env}, drq ({encoder} encoder) from pixels, {args.steps} env steps: final eval return, % of the expert\n"
    )
    print("| reward | seed | % of expert | return | best eval | agent stage |")
    print("|---|---:|---:|---:|---:|---:|")
    for c in cells:
        pct = 100 * c["eval_return"] / c["expert_return"]
        best = c["eval_return_best"]
        best_text = "" if best is None else f"{100 * best / c['expert_return']:.0f}%"
        print(
            f"| {c['reward']} | {c['seed']} | {pct:.0f}% | {c['eval_return']:.1f} | {best_text} | {c['seconds']:.0f} s |"
        )
    print(f"\nwall time {time.time() - start:.0f} s; curves: {args.out / name}.png")


if __name__ == "__main__":
    main()
