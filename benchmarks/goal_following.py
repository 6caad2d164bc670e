"""Does the trained agent go where the goal is, or to one place whatever the goal?

Reads the final evaluation episodes an agent stage keeps (``agent-*/eval_episodes.npz``) of
``lite:reach`` runs, finds the target ring in each episode's first frame and the point in its last
frame by their colours, and prints per agent stage: the mean true return, the correlation between
target and end position per axis, and the spread (std, pixels) of the end positions against the
targets'. An agent that follows the goal has correlations near 1 and both spreads alike; one whose
reward ignores the ring ends in one region (small end spread, low correlation).

    python benchmarks/goal_following.py runs/agent_returns/lite-reach/seed*/ [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from viper.envs.lite.reach import AGENT_COLOR, TARGET_COLOR

#: Summed absolute RGB difference below which a pixel counts as the colour (antialiased edges differ).
TOLERANCE = 60


def centroid(frame: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    """Mean (row, column) of the pixels of ``color``; NaNs where none is on screen."""
    mask = np.abs(frame.astype(int) - np.array(color)).sum(-1) < TOLERANCE
    if not mask.any():
        return np.full(2, np.nan)
    rows, cols = np.nonzero(mask)
    return np.array([rows.mean(), cols.mean()])


def follow(path: Path) -> dict:
    """Target-vs-end statistics of one agent stage's evaluation episodes."""
    data = np.load(path)
    ends = np.concatenate([[0], np.cumsum(data["lengths"])])
    frames, rewards = data["frames"], data["task_reward"]
    targets = np.array([centroid(frames[a], TARGET_COLOR) for a in ends[:-1]])
    finals = np.array([centroid(frames[b - 1], AGENT_COLOR) for b in ends[1:]])
    returns = [float(rewards[a:b].sum()) for a, b in zip(ends[:-1], ends[1:])]
    ok = ~(np.isnan(targets).any(1) | np.isnan(finals).any(1))
    with np.errstate(invalid="ignore", divide="ignore"):  # an agent that never moves: NaN, not a warning
        corr = [
            float(np.corrcoef(targets[ok, k], finals[ok, k])[0, 1]) if ok.sum() > 2 else float("nan") for k in (0, 1)
        ]
    stage = json.loads((path.parent / "stage.json").read_text())
    return {
        "stage": str(path.parent),
        "reward": stage["config"].get("reward"),
        "episodes": len(returns),
        "return_mean": float(np.mean(returns)),
        "corr_rows": corr[0],
        "corr_cols": corr[1],
        "end_spread": np.nanstd(finals, 0).round(2).tolist(),
        "target_spread": np.nanstd(targets, 0).round(2).tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdirs", nargs="+", type=Path, help="viper-run workdirs of lite:reach")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args()
    paths = sorted(p for w in args.workdirs for p in w.glob("agent-*/eval_episodes.npz"))
    if not paths:
        raise SystemExit(f"no agent-*/eval_episodes.npz under {[str(w) for w in args.workdirs]}")
    rows = [follow(p) for p in paths]
    print(f"{'agent stage':55s} {'reward':7s} {'return':>6s}  corr(target,end) rows/cols  end vs target spread (px)")
    for r in rows:
        print(
            f"{r['stage'][-55:]:55s} {r['reward']:7s} {r['return_mean']:6.1f}  {r['corr_rows']:+.2f} / {r['corr_cols']:+.2f}"
            f"            {r['end_spread']} vs {r['target_spread']}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
