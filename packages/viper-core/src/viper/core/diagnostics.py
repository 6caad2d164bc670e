"""Why a reward teaches or not: the diagnostics of ``viper-run score`` and the report.

* the reward along an episode: per reward and policy, mean ± std at each step ``t = 1..T``;
* the reward by distance to the goal, for suites whose envs put the optional
  ``info["goal_distance"]`` (env units) in every step's info (others are skipped with a note),
  and split by direction: steps that brought the agent closer against steps that took it
  away, at the same distance (a reward can fall with distance and still not say which way to go);
* per-frame bits per code under the video model (``-log p(frame) / (ln 2 * codes per frame)``,
  frame ``t`` given its context), or a score model's per-frame score in its own units;
* the tokenizer's reconstruction error on the pixels that matter: PSNR over the foreground
  (pixels that differ from the dataset's per-pixel median frame) beside the whole-frame PSNR;
* the trained agent's final evaluation episodes, saved by the loop (``eval_episodes.npz`` in the
  agent stage), so the report can put the agent beside the scripted policies.

Numbers come from :mod:`viper.core.statistics`, pictures from :mod:`viper.core.diagnostic_plots`.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_write_bytes
from viper.core.components import load_tokenizer, load_video_model
from viper.core.dataset import apply_mask
from viper.core.diagnostic_plots import write_foreground_figure
from viper.core.errors import ViperError
from viper.core.protocols import frame_scores, has_likelihood, score_units
from viper.core.statistics import (
    binned_means,
    bits_per_code,
    foreground_mask,
    median_frame,
    psnr,
    quantile_bins,
    spread,
    step_curve,
)

EVAL_EPISODES_FILE = "eval_episodes.npz"
FOREGROUND_FILE = "foreground.png"
FOREGROUND_KEYS = (
    "frame_psnr",
    "foreground_psnr",
    "background_psnr",
    "foreground_fraction",
    "foreground_threshold",
    "foreground_frames",
)
DISTANCE_BINS = 10
#: Episodes per policy whose frames are scored by the video model (about 0.4 s each on a CPU for
#: 100 frames at 64x64; a few hundred frames per policy make a steady box plot).
FRAME_EPISODES = 5


# --------------------------------------------------------------------------------------------
# Per-step statistics of scored episodes (dicts with "policy", "frames", optional "goal_distance")


def reward_along_episode(
    episodes: list[dict[str, Any]], per_frame: dict[str, list[np.ndarray]]
) -> dict[str, dict[str, dict[str, list[float]]]]:
    """``{reward: {policy: step_curve}}`` over steps 1..T (frame 0 has no reward)."""
    labels = list(dict.fromkeys(e["policy"] for e in episodes))
    return {
        r: {p: step_curve([v[1:] for e, v in zip(episodes, values) if e["policy"] == p]) for p in labels}
        for r, values in per_frame.items()
    }


def reward_by_distance(
    episodes: list[dict[str, Any]], per_frame: dict[str, list[np.ndarray]], bins: int = DISTANCE_BINS
) -> tuple[dict[str, dict[str, list[float]]] | None, str | None]:
    """``{reward: binned_means(distance, reward)}`` over every scored step of every policy, or
    None and a note when an episode lacks ``info["goal_distance"]``."""
    if not episodes or any(e.get("goal_distance") is None for e in episodes):
        return None, "reward by distance to the goal: skipped, the env's info has no 'goal_distance'"
    distance = np.concatenate([e["goal_distance"][1:] for e in episodes])
    return {
        r: binned_means(distance, np.concatenate([v[1:] for v in values]), bins) for r, values in per_frame.items()
    }, None


def reward_by_direction(
    episodes: list[dict[str, Any]], per_frame: dict[str, list[np.ndarray]], bins: int = DISTANCE_BINS
) -> dict[str, dict[str, Any]] | None:
    """Per reward, within quantile bins of the distance before each step: the mean reward of steps
    that moved toward the goal and of steps that moved away (steps that kept the distance within
    1% of the bin's mean distance are left out), and ``gap``, the count-weighted mean of
    ``toward - away`` over bins holding at least 5 steps of each; ``gap_far``, the same over the
    farther half of the bins (where a reward that only recognises the goal stops telling the way).
    None without ``goal_distance``."""
    if not episodes or any(e.get("goal_distance") is None for e in episodes):
        return None
    before = np.concatenate([np.asarray(e["goal_distance"][:-1], np.float64) for e in episodes])
    after = np.concatenate([np.asarray(e["goal_distance"][1:], np.float64) for e in episodes])
    which = quantile_bins(before, bins)
    out: dict[str, dict[str, Any]] = {}
    for reward, values in per_frame.items():
        y = np.concatenate([np.asarray(v[1:], np.float64) for v in values])
        table: dict[str, Any] = {"x": [], "toward": [], "away": [], "toward_count": [], "away_count": []}
        gaps, weights, far = [], [], []
        occupied = np.unique(which)
        for b in occupied:
            rows = which == b
            still = 0.01 * max(float(before[rows].mean()), 1e-12)
            toward, away = rows & (after < before - still), rows & (after > before + still)
            means = [float(y[m].mean()) if m.any() else float("nan") for m in (toward, away)]
            table["x"].append(float(before[rows].mean()))
            table["toward"].append(means[0])
            table["away"].append(means[1])
            table["toward_count"].append(int(toward.sum()))
            table["away_count"].append(int(away.sum()))
            if toward.sum() >= 5 and away.sum() >= 5:
                gaps.append(means[0] - means[1])
                weights.append(int(toward.sum() + away.sum()))
                far.append(b >= occupied[len(occupied) // 2])
        table["gap"] = float(np.average(gaps, weights=weights)) if gaps else None
        far_gaps = [g for g, f in zip(gaps, far, strict=True) if f]
        far_weights = [w for w, f in zip(weights, far, strict=True) if f]
        table["gap_far"] = float(np.average(far_gaps, weights=far_weights)) if far_gaps else None
        out[reward] = table
    return out


@dataclasses.dataclass
class FrameScorer:
    """Per-frame bits per code (a likelihood model) or score (a score model) of a workdir's
    frozen tokenizer and video model, frame ``t`` given its context."""

    tokenizer: Any
    model: Any
    task: int = 0
    mask: np.ndarray | None = None
    batch: int = 256

    @classmethod
    def from_workdir(
        cls, workdir: Any, task: str, mask: np.ndarray | None = None, host: Any = None
    ) -> tuple[FrameScorer | None, str | None]:
        try:
            tokenizer, model = load_tokenizer(workdir, host), load_video_model(workdir, host)
        except (ViperError, OSError) as exc:
            return None, f"per-frame bits: skipped, no trained tokenizer and video model ({exc})"
        tasks = list(getattr(model, "tasks", None) or [])
        return cls(tokenizer, model, tasks.index(task) if task in tasks else 0, mask), None

    @property
    def likelihood(self) -> bool:
        return has_likelihood(self.model)

    @property
    def quantity(self) -> str:
        """What the numbers are, as an axis label."""
        return "bits per code (lower: more expert-like)" if self.likelihood else f"score, {score_units(self.model)}"

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """``uint8[T,H,W,3]`` -> ``float[T-1]`` for frames 1..T-1 (frame 0 has no context)."""
        frames = apply_mask(frames, self.mask)
        codes = np.concatenate(
            [self.tokenizer.encode(frames[i : i + self.batch]) for i in range(0, len(frames), self.batch)]
        )
        values = np.asarray(frame_scores(self.model, codes[None].astype(np.int32), np.array([self.task])), np.float64)[
            0
        ]
        if self.likelihood:
            values = bits_per_code(values, int(np.prod(self.model.code_grid)))
        return values[1:]


def frame_scores_by_policy(
    episodes: list[dict[str, Any]], scorer: FrameScorer, per_policy: int = FRAME_EPISODES
) -> dict[str, list[float]]:
    """The bits (or score) of every frame of each policy's first ``per_policy`` episodes."""
    out: dict[str, list[float]] = {}
    done: dict[str, int] = {}
    for episode in episodes:
        label = episode["policy"]
        if done.get(label, 0) < per_policy:
            done[label] = done.get(label, 0) + 1
            out.setdefault(label, []).extend(np.round(scorer(episode["frames"]), 4).tolist())
    return out


def episode_diagnostics(
    episodes: list[dict[str, Any]], per_frame: dict[str, list[np.ndarray]], scorer: FrameScorer | None, note: str | None
) -> dict[str, Any]:
    """Everything the score stage stores under ``diagnostics`` in ``score.json``."""
    by_distance, distance_note = reward_by_distance(episodes, per_frame)
    notes = [n for n in (distance_note, note) if n]
    frames: dict[str, Any] | None = None
    if scorer is not None:
        values = frame_scores_by_policy(episodes, scorer)
        frames = {
            "quantity": scorer.quantity,
            "likelihood": scorer.likelihood,
            "values": values,
            "summary": {p: spread(v) for p, v in values.items()},
        }
    return {
        "along_episode": reward_along_episode(episodes, per_frame),
        "by_distance": by_distance,
        "by_direction": reward_by_direction(episodes, per_frame) if by_distance else None,
        "frame_scores": frames,
        "notes": notes,
    }


# --------------------------------------------------------------------------------------------
# The agent's final evaluation episodes (written by the loop, read by the report)


def save_episodes(path: Path, episodes: list[dict[str, np.ndarray]]) -> Path:
    """Episodes (``frames`` uint8[T,H,W,3], ``task_reward`` [T], optional ``goal_distance`` [T])
    concatenated into one compressed npz with their ``lengths``."""
    arrays = {
        "lengths": np.array([len(e["frames"]) for e in episodes], np.int64),
        "frames": np.concatenate([e["frames"] for e in episodes]).astype(np.uint8),
        "task_reward": np.concatenate([e["task_reward"] for e in episodes]).astype(np.float32),
    }
    if all(e.get("goal_distance") is not None for e in episodes):
        arrays["goal_distance"] = np.concatenate([e["goal_distance"] for e in episodes]).astype(np.float32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return atomic_write_bytes(path, buffer.getvalue())


def load_episodes(path: Path, policy: str = "agent") -> list[dict[str, Any]]:
    """The episodes :func:`save_episodes` wrote, each labelled ``policy``."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    ends = np.cumsum(arrays["lengths"])
    out = []
    for start, end in zip(np.concatenate([[0], ends[:-1]]), ends):
        episode: dict[str, Any] = {"policy": policy, "frames": arrays["frames"][start:end]}
        episode["task_reward"] = arrays["task_reward"][start:end]
        episode["goal_distance"] = arrays["goal_distance"][start:end] if "goal_distance" in arrays else None
        out.append(episode)
    return out


# --------------------------------------------------------------------------------------------
# The tokenizer on the pixels that matter


def tokenizer_foreground(
    tokenizer: Any, frames: np.ndarray, background: np.ndarray, threshold: int = 24
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Whole-frame and foreground PSNR of ``tokenizer``'s reconstructions of ``frames``, the
    foreground's share of the pixels; also the reconstructions and the foreground masks."""
    recon = np.asarray(tokenizer.decode(tokenizer.encode(frames)), np.uint8)
    masks = foreground_mask(frames, background, threshold)
    metrics = {
        "frame_psnr": psnr(frames, recon),
        "foreground_psnr": psnr(frames, recon, masks),
        "background_psnr": psnr(frames, recon, ~masks),
        "foreground_fraction": float(masks.mean()),
        "foreground_threshold": float(threshold),
        "foreground_frames": int(len(frames)),
    }
    return metrics, recon, masks


def spread_frames(episodes: list[np.ndarray], count: int) -> np.ndarray:
    """``count`` frames spread evenly over ``episodes`` (``uint8[T,H,W,3]`` arrays)."""
    everything = np.concatenate(episodes)
    picks = np.linspace(0, len(everything) - 1, min(count, len(everything))).round().astype(int)
    return everything[picks]


def foreground_figures(
    tokenizer: Any, train: list[np.ndarray], val: list[np.ndarray], out: Path, count: int = 64, threshold: int = 24
) -> dict[str, float]:
    """:func:`tokenizer_foreground` on ``count`` frames of the ``val`` episodes (``train`` when
    empty), the background being the median of up to 512 frames of all; writes the figure ``out``
    (8 frames: originals, reconstructions, foreground mask)."""
    background = median_frame(spread_frames(train + val, 512))
    frames = spread_frames(val or train, count)
    metrics, recon, masks = tokenizer_foreground(tokenizer, frames, background, threshold)
    shown = np.linspace(0, len(frames) - 1, min(8, len(frames))).round().astype(int)
    write_foreground_figure(out, frames[shown], recon[shown], masks[shown])
    return metrics


def evaluate_tokenizer_foreground(
    workdir: Any, dataset: Any, out: Path, *, val_fraction: float = 0.1, host: Any = None
) -> dict[str, float]:
    """:func:`foreground_figures` of the workdir's tokenizer on its dataset's held-out episodes."""
    from viper.core.stages.fit import image_masks

    masks = image_masks(dataset, host=host)
    train, val = (dataset.store(part, masks=masks).arrays for part in dataset.split(val_fraction))
    return foreground_figures(load_tokenizer(workdir, host), train, val, out)
