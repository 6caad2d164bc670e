"""How well a reward ranks behaviour: rank correlations, the per-policy summary of scored
episodes and the table ``viper-run score`` prints (the numbers of the ``score`` stage)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def rankdata(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n with ties given the average of the ranks they span (as scipy's ``average``)."""
    x = np.asarray(values, np.float64)
    if x.ndim != 1:
        raise ValueError("rankdata: expected a 1-D sequence")
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    starts = ends - counts
    return ((starts + 1 + ends) / 2.0)[inverse]


def pearson(a: Sequence[float], b: Sequence[float]) -> float:
    """Pearson correlation; NaN when either side is constant or fewer than 2 points."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("pearson: expected two 1-D sequences of equal length")
    if len(x) < 2:
        return float("nan")
    x, y = x - x.mean(), y - y.mean()
    denom = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation (Pearson on average ranks); NaN when undefined."""
    if len(a) != len(b):
        raise ValueError("spearman: expected two sequences of equal length")
    if len(a) < 2:
        return float("nan")
    return pearson(rankdata(a), rankdata(b))


def goal_progress(distance: Sequence[float] | None) -> float | None:
    """The share of its starting distance to the goal (``info["goal_distance"]``) an episode
    closed: 1 ends on the goal, 0 where it began, negative further away. It tells a partial
    success from none on tasks whose true reward is near zero until the very end (lite:push
    scores ~0 until the block is within 0.26 of the pad). None without distances or when the
    episode starts on the goal."""
    if distance is None or len(distance) < 2 or not float(distance[0]) > 1e-9:
        return None
    return 1.0 - float(distance[-1]) / float(distance[0])


#: The policy that always takes the zero / no-op action. It is scored beside the others but
#: kept out of the correlations: it is a probe of what the reward pays for doing nothing, not a
#: rung of the expert > noisy > random ladder.
IDLE = "idle"

#: An idle position (see :func:`idle_positions`) from which ``viper-run score`` and the report warn,
#: and what they say then.
IDLE_WARNING = 0.5
IDLE_ADVICE = (
    "an agent may settle for holding still (a longer context, video_model.frame_skip=4, often lowers it; "
    "benchmarks/stillness.py)"
)


def policies(noise: Sequence[float], expert: str = "expert", idle: bool = False) -> list[tuple[str, str, float]]:
    """``(label, kind, noise)`` for the expert, each noisy expert, the random policy and, with
    ``idle``, the :data:`IDLE` probe; ``expert`` is the policy kind that plays the expert
    (``agent:WORKDIR`` for a trained agent)."""
    ladder = (
        [("expert", expert, 0.0)] + [(f"noisy-{n:g}", expert, float(n)) for n in noise] + [("random", "random", 0.0)]
    )
    return ladder + [(IDLE, IDLE, 0.0)] * idle


def _steps(episode: dict[str, Any]) -> int:
    """An episode record's length in steps (at least 1, for per-step means)."""
    return max(int(episode.get("length", 1)), 1)


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def summarize(episodes: list[dict[str, Any]], rewards: Sequence[str], noise: Sequence[float]) -> dict[str, Any]:
    """Per-policy means, correlations and the expert > noisy > random check from episode records."""
    table: dict[str, Any] = {}
    for label, _, _ in policies(noise, idle=True):
        rows = [e for e in episodes if e["policy"] == label]
        if not rows:
            continue
        true = np.array([e["true_return"] for e in rows])
        table[label] = {
            "episodes": len(rows),
            "true_return_mean": float(true.mean()),
            "true_return_std": float(true.std()),
            "reward_return_mean": {r: float(np.mean([e["reward_return"][r] for e in rows])) for r in rewards},
            "reward_return_std": {r: float(np.std([e["reward_return"][r] for e in rows])) for r in rewards},
        }
        if all("success" in e for e in rows):  # envs with a success test (metaworld)
            table[label]["success_rate"] = float(np.mean([e["success"] for e in rows]))
        if all(e.get("goal_progress") is not None for e in rows):
            table[label]["goal_progress"] = float(np.mean([e["goal_progress"] for e in rows]))
    probed, episodes = episodes, [e for e in episodes if e["policy"] != IDLE]
    true = [e["true_return"] for e in episodes]
    lengths = [_steps(e) for e in episodes]
    lengths_vary = len(set(lengths)) > 1
    returns = {r: [e["reward_return"][r] for e in episodes] for r in rewards}
    # Per-step means matter when the task terminates early: a reward that is negative every
    # step (a log-likelihood) sums to less for a short failed episode than for a long good one.
    per_step = {r: [v / n for v, n in zip(values, lengths)] for r, values in returns.items()}
    return {
        "policies": table,
        "idle_position": idle_positions(probed, rewards, per_step=lengths_vary),
        "spearman": {r: _finite_or_none(spearman(returns[r], true)) for r in rewards},
        "pearson": {r: _finite_or_none(pearson(returns[r], true)) for r in rewards},
        "ordered": {r: _ordered(episodes, returns[r], table) for r in rewards},
        "lengths_vary": lengths_vary,
        "spearman_per_step": {r: _finite_or_none(spearman(per_step[r], true)) for r in rewards},
        "ordered_per_step": {r: _ordered(episodes, per_step[r], table) for r in rewards},
        "episodes": probed,
    }


def idle_positions(episodes: list[dict[str, Any]], rewards: Sequence[str], per_step: bool) -> dict[str, float | None]:
    """Where doing nothing lands between random play (0) and the expert (1) in each reward's mean
    return (``per_step``: mean reward per step, for tasks that terminate early, where a short
    episode sums less of a negative reward); near or above 1, an agent can settle for stillness
    (benchmarks/stillness.py). Empty without idle episodes; None where expert and random tie."""

    def mean(policy: str, r: str) -> float:
        rows = [e for e in episodes if e["policy"] == policy]
        return float(np.mean([e["reward_return"][r] / (_steps(e) if per_step else 1) for e in rows]))

    if not {IDLE, "expert", "random"} <= {e["policy"] for e in episodes}:
        return {}
    out: dict[str, float | None] = {}
    for r in rewards:
        low, high = mean("random", r), mean("expert", r)
        out[r] = _finite_or_none((mean(IDLE, r) - low) / (high - low)) if high != low else None
    return out


def _ordered(episodes: list[dict[str, Any]], values: Sequence[float], table: dict[str, Any]) -> bool:
    """Mean of ``values`` ordered expert > mean over noisy levels > random."""
    means = {
        label: float(np.mean([v for e, v in zip(episodes, values) if e["policy"] == label]))
        for label in table
        if label != IDLE
    }
    noisy = [means[label] for label in means if label.startswith("noisy-")]
    if "expert" not in means or "random" not in means:
        return False
    if not noisy:
        return means["expert"] > means["random"]
    return means["expert"] > float(np.mean(noisy)) > means["random"]


def format_table(summary: dict[str, Any]) -> str:
    """The per-policy table and the correlations, as printed by ``viper-run score``."""
    rewards = list(summary["spearman"])
    success = bool(summary["policies"]) and all("success_rate" in row for row in summary["policies"].values())
    progress = bool(summary["policies"]) and all("goal_progress" in row for row in summary["policies"].values())
    headers = ["policy", "episodes", "true return"] + ["success"] * success + ["goal progress"] * progress
    headers += [f"{r} return" for r in rewards]
    rows = []
    for label, row in summary["policies"].items():
        cells = [label, str(row["episodes"]), f"{row['true_return_mean']:.2f} ± {row['true_return_std']:.2f}"]
        if success:
            cells.append(f"{row['success_rate']:.0%}")
        if progress:
            cells.append(f"{row['goal_progress']:.0%}")
        for r in rewards:
            cells.append(f"{row['reward_return_mean'][r]:.2f} ± {row['reward_return_std'][r]:.2f}")
        rows.append(cells)
    widths = [max(len(h), *(len(c[i]) for c in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in rows]
    n = sum(row["episodes"] for label, row in summary["policies"].items() if label != IDLE)
    for r in rewards:
        rho, pr = summary["spearman"][r], summary["pearson"][r]
        rho_text = "undefined" if rho is None else f"{rho:.3f}"
        pr_text = "undefined" if pr is None else f"{pr:.3f}"
        order = "yes" if summary["ordered"][r] else "NO"
        lines.append(
            f"{r}: Spearman {rho_text} (Pearson {pr_text}) over {n} episodes; expert > noisy > random: {order}"
        )
        idle = (summary.get("idle_position") or {}).get(r)
        if idle is not None:
            lines.append(
                f"  doing nothing ({IDLE}, not in the correlation) earns {idle:.2f} of the way from random (0) "
                f"to the expert (1)" + (f": {IDLE_ADVICE}" if idle >= IDLE_WARNING else "")
            )
        if summary.get("lengths_vary"):
            step_rho = summary["spearman_per_step"][r]
            step_order = "yes" if summary["ordered_per_step"][r] else "NO"
            lines.append(
                f"  episodes end at different lengths (the task terminates early); per-step mean {r} reward: "
                f"Spearman {'undefined' if step_rho is None else f'{step_rho:.3f}'}, ordered: {step_order}"
            )
    if summary.get("lengths_vary"):
        lines.append(
            "  note: a summed reward that is negative every step (a log-likelihood) favours short episodes, "
            "so on a terminating task judge the per-step figures; an agent trained on such a reward may learn "
            "to end episodes early (the paper's DMC tasks never terminate)"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Diagnostics: why a reward teaches or not (pure numpy; pictures in viper.core.diagnostic_plots)


def step_curve(series: Sequence[np.ndarray]) -> dict[str, list[float]]:
    """Mean, std and count at each step of per-step ``series`` of any lengths (step ``t`` is
    averaged over the episodes that lasted that long)."""
    length = max((len(s) for s in series), default=0)
    table = np.full((len(series), length), np.nan)
    for i, values in enumerate(series):
        table[i, : len(values)] = values
    count = np.sum(np.isfinite(table), axis=0)
    filled = np.where(np.isfinite(table), table, 0.0)
    mean = filled.sum(0) / np.maximum(count, 1)
    std = np.sqrt((np.where(np.isfinite(table), table - mean, 0.0) ** 2).sum(0) / np.maximum(count, 1))
    return {"mean": mean.tolist(), "std": std.tolist(), "count": count.astype(int).tolist()}


def quantile_bins(x: np.ndarray, bins: int) -> np.ndarray:
    """Each value's bin index among ``bins`` quantile bins of ``x`` (equal counts; ties may merge
    bins, so some indices can be unused)."""
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, bins + 1)))
    return np.clip(np.searchsorted(edges, x, side="right") - 1, 0, max(len(edges) - 2, 0))


def binned_means(x: np.ndarray, y: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """``y`` averaged within quantile bins of ``x`` (equal counts per bin; ties may merge bins):
    each bin's edges, mean ``x``, mean and std of ``y`` and count."""
    x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError("binned_means: x and y must have the same number of values")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if not len(x):
        return {"lo": [], "hi": [], "x": [], "mean": [], "std": [], "count": []}
    which = quantile_bins(x, bins)
    out: dict[str, list[float]] = {"lo": [], "hi": [], "x": [], "mean": [], "std": [], "count": []}
    for b in np.unique(which):
        rows = which == b
        out["lo"].append(float(x[rows].min()))
        out["hi"].append(float(x[rows].max()))
        out["x"].append(float(x[rows].mean()))
        out["mean"].append(float(y[rows].mean()))
        out["std"].append(float(y[rows].std()))
        out["count"].append(int(rows.sum()))
    return out


def bits_per_code(log_prob: np.ndarray, codes_per_frame: int) -> np.ndarray:
    """Per-frame log-likelihoods (nats summed over a frame's codes) as bits per code."""
    return -np.asarray(log_prob, np.float64) / (math.log(2.0) * codes_per_frame)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Mean, median, quartiles and count of ``values`` (NaN-free), for box-plot tables."""
    x = np.asarray(values, np.float64)
    if not len(x):
        return {"count": 0}
    q25, median, q75 = np.quantile(x, [0.25, 0.5, 0.75])
    return {"count": len(x), "mean": float(x.mean()), "median": float(median), "q25": float(q25), "q75": float(q75)}


def median_frame(frames: np.ndarray) -> np.ndarray:
    """The per-pixel median of ``uint8[N,H,W,3]`` frames: the static background of a dataset."""
    return np.median(np.asarray(frames), axis=0).round().astype(np.uint8)


def foreground_mask(frames: np.ndarray, background: np.ndarray, threshold: int = 24) -> np.ndarray:
    """``bool[N,H,W]``: pixels whose largest channel difference from ``background`` exceeds
    ``threshold`` (the moving body, the object, the target)."""
    diff = np.abs(np.asarray(frames, np.int16) - np.asarray(background, np.int16)[None])
    return diff.max(axis=-1) > threshold


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of ``uint8`` images ``a`` against ``b`` over all pixels or the ``bool[N,H,W]``
    ``mask``'s (NaN when the mask is empty)."""
    err = (np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2
    if mask is not None:
        if not mask.any():
            return float("nan")
        err = err[np.asarray(mask, bool)]
    mse = float(err.mean())
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
