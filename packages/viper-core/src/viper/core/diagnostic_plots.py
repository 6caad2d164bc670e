"""The pictures of the reward diagnostics (:mod:`viper.core.diagnostics`): the reward along an
episode, the reward by distance to the goal, per-frame bits (or scores) per policy and the
tokenizer's foreground figure. Written atomically as PNGs by :mod:`viper.core.media`'s writers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from viper.core.media import _pyplot, write_image, write_png


def _colors(labels: list[str]) -> dict[str, Any]:
    """Policies from viridis in plan order; the trained agent stands out in red."""
    plt = _pyplot()
    others = [label for label in labels if label != "agent"]
    palette = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, max(2, len(others))))
    colors: dict[str, Any] = dict(zip(others, palette))
    colors["agent"] = "tab:red"
    return colors


def plot_reward_along_episode(path: Path, curves: dict[str, dict[str, dict[str, list[float]]]], title: str) -> Path:
    """One panel per reward; a line (mean) with a band (± std) per policy over steps 1..T."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(4.6 * len(curves), 3.4), dpi=120, squeeze=False)
    for ax, (reward, by_policy) in zip(axes[0], curves.items()):
        colors = _colors(list(by_policy))
        for label, curve in by_policy.items():
            mean, std = np.asarray(curve["mean"]), np.asarray(curve["std"])
            steps = np.arange(1, len(mean) + 1)
            ax.plot(steps, mean, color=colors[label], lw=1.6 if label in ("expert", "agent") else 1.0, label=label)
            ax.fill_between(steps, mean - std, mean + std, color=colors[label], alpha=0.12)
        ax.set_title(f"{title}: {reward} per step", fontsize=10)
        ax.set_xlabel("step t")
        ax.set_ylabel(f"{reward} reward")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return write_png(path, fig)


def plot_reward_by_distance(
    path: Path,
    tables: dict[str, dict[str, list[float]]],
    title: str,
    directions: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """One panel per reward: mean (± std) reward in each distance bin against the bin's mean
    distance; with ``directions`` (:func:`viper.core.diagnostics.reward_by_direction`) also the
    mean of the steps that moved toward the goal and of those that moved away."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(tables), figsize=(4.6 * len(tables), 3.4), dpi=120, squeeze=False)
    for ax, (reward, table) in zip(axes[0], tables.items()):
        x, mean, std = (np.asarray(table[k]) for k in ("x", "mean", "std"))
        ax.errorbar(x, mean, yerr=std, marker="o", ms=4, capsize=3, label="all steps")
        split = (directions or {}).get(reward)
        if split:
            gap, far = split.get("gap"), split.get("gap_far")
            note = "" if gap is None else f" (gap {gap:+.3g}" + ("" if far is None else f", far half {far:+.3g}") + ")"
            ax.plot(split["x"], split["toward"], "g^--", ms=4, label="steps toward the goal" + note)
            ax.plot(split["x"], split["away"], "rv:", ms=4, label="steps away from it")
            ax.legend(fontsize=7, loc="best")
        ax.set_title(f"{title}: {reward} by distance to goal", fontsize=10)
        ax.set_xlabel("distance to goal (env units)")
        ax.set_ylabel(f"mean {reward} reward")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return write_png(path, fig)


def plot_frame_scores(path: Path, groups: dict[str, np.ndarray], ylabel: str, title: str) -> Path:
    """A box plot of per-frame values (bits per code, or a model's score) for each policy."""
    plt = _pyplot()
    labels = [label for label, values in groups.items() if len(values)]
    colors = _colors(labels)
    fig, ax = plt.subplots(figsize=(1.1 * len(labels) + 2.5, 3.4), dpi=120)
    boxes = ax.boxplot([np.asarray(groups[label]) for label in labels], showfliers=False, patch_artist=True)
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=20, fontsize=8)
    for patch, label in zip(boxes["boxes"], labels):
        patch.set_facecolor(colors[label])
        patch.set_alpha(0.5)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return write_png(path, fig)


def write_foreground_figure(
    path: Path, originals: np.ndarray, reconstructions: np.ndarray, masks: np.ndarray, scale: int = 2
) -> Path:
    """Three rows of ``uint8[N,H,W,3]``: originals, reconstructions, and the foreground mask
    (white) over a dimmed original, each pixel ``scale`` x ``scale``."""
    dimmed = (originals.astype(np.float32) * 0.3).astype(np.uint8)
    shown = np.where(masks[..., None], np.uint8(255), dimmed)
    rows = [np.concatenate(list(block), axis=1) for block in (originals, reconstructions, shown)]
    grid = np.concatenate(rows, axis=0)
    return write_image(path, grid.repeat(scale, 0).repeat(scale, 1))
