"""Every picture and video viper writes: mp4/PNG/GIF writers, the learning curve, the
reward-vs-return scatter and the per-frame reward strips drawn under episode videos.

Used by the loop (evaluation videos, learning curve), the score stage (scatter, episodes with
their rewards) and the report (learning curve with reference lines, rollout GIF). Files are
written atomically; matplotlib runs on its Agg backend (no display needed).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_write_bytes


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_png(path: Path, fig: Any) -> Path:
    """Save a matplotlib figure as a PNG and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    _pyplot().close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def write_image(path: Path, image: np.ndarray) -> Path:
    """``uint8[H,W,3]`` as a PNG (e.g. a grid of frames and their reconstructions)."""
    import imageio.v3 as iio

    return atomic_write_bytes(path, iio.imwrite("<bytes>", image, extension=".png"))


def write_mp4(path: Path, frames: np.ndarray, fps: int = 20) -> Path:
    """``uint8[T,H,W,3]`` as an H.264 mp4 (via PyAV); odd sides are padded by one pixel, which
    H.264 needs."""
    import imageio.v3 as iio

    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    data = iio.imwrite("<bytes>", frames, extension=".mp4", plugin="pyav", codec="libx264", fps=fps)
    return atomic_write_bytes(path, data)


def read_mp4(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    return np.asarray(iio.imread(path, plugin="pyav"))


def write_gif(path: Path, frames: np.ndarray, scale: int = 1, frame_ms: int = 50) -> Path:
    """A looping GIF of ``uint8[T,H,W,3]``, each pixel scaled to ``scale`` x ``scale``."""
    import imageio.v3 as iio

    frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    data = iio.imwrite("<bytes>", list(frames), extension=".gif", duration=frame_ms, loop=0)
    return atomic_write_bytes(path, data)


# --------------------------------------------------------------------------------------------
# Plots


def _short_count(value: float, _position: Any = None) -> str:
    """Axis label for a step count: 2500 -> 2.5k, 1000000 -> 1M."""
    for unit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= unit:
            return f"{value / unit:g}{suffix}"
    return f"{value:g}"


def plot_learning_curve(
    metrics_path: Path, out: Path, stage: str = "agent", run: str | None = None, lines: dict[str, float] | None = None
) -> Path | None:
    """A PNG of evaluation return (true, from the env) against env steps, with optional
    horizontal reference ``lines`` (e.g. ``{"scripted expert": 88.4, "random": 0.0}``)."""
    from viper.core.metrics import read_metrics

    records = [r for r in read_metrics(metrics_path, stage, run) if "eval/return" in r]
    if not records:
        return None
    plt = _pyplot()
    import matplotlib.ticker

    steps = np.array([r["step"] for r in records])
    mean = np.array([r["eval/return"] for r in records])
    std = np.array([r.get("eval/return_std", 0.0) for r in records])
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    ax.plot(steps, mean, marker="o", ms=3, label="agent (mean ± std)")
    ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    styles = iter([("tab:green", "--"), ("tab:red", ":"), ("tab:gray", "-.")])
    for label, value in (lines or {}).items():
        color, style = next(styles, ("k", "--"))
        ax.axhline(value, color=color, linestyle=style, label=f"{label} ({value:.1f})")
    if lines:
        ax.legend(fontsize=7, loc="best")
    ax.set_xlabel("env steps")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_short_count))
    ax.set_ylabel("eval return (true)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return write_png(out, fig)


def write_scatter(
    path: Path, records: list[dict[str, Any]], rewards: Sequence[str], summary: dict[str, Any], title: str
) -> Path:
    """Reward return against true return, one panel per reward, coloured by policy."""
    plt = _pyplot()
    labels = list(dict.fromkeys(e["policy"] for e in records))
    colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, max(2, len(labels))))
    fig, axes = plt.subplots(1, len(rewards), figsize=(4.2 * len(rewards), 3.6), dpi=120, squeeze=False)
    for ax, r in zip(axes[0], rewards):
        for label, color in zip(labels, colors):
            rows = [e for e in records if e["policy"] == label]
            ax.scatter(
                [e["true_return"] for e in rows],
                [e["reward_return"][r] for e in rows],
                s=18,
                color=color,
                label=label,
                alpha=0.85,
            )
        rho = summary["spearman"][r]
        heading = f"{r}: Spearman {'n/a' if rho is None else f'{rho:.2f}'}"
        ax.set_title(f"{title}, {heading}" if len(rewards) == 1 else heading, fontsize=10)
        ax.set_xlabel("true return")
        ax.set_ylabel(f"{r} return")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="best")
    if len(rewards) > 1:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return write_png(path, fig)


# --------------------------------------------------------------------------------------------
# Episodes drawn with their per-frame reward


def reward_strip(values: np.ndarray, t: int, width: int, height: int, lo: float, hi: float) -> np.ndarray:
    """``uint8[height, width, 3]``: the curve of ``values`` (frames 1..T), drawn up to frame ``t``
    in colour and after it in grey, with a cursor at ``t``."""
    strip = np.full((height, width, 3), 24, np.uint8)
    steps = len(values)
    if steps < 2:
        return strip
    span = hi - lo if hi > lo else 1.0
    columns = np.arange(width)
    index = np.minimum((columns * steps) // width, steps - 1)
    level = (values[index] - lo) / span
    rows = np.clip(((1.0 - level) * (height - 3)).round().astype(int) + 1, 0, height - 1)
    past = index <= t
    strip[rows[past], columns[past]] = (250, 190, 60)
    strip[np.minimum(rows[past] + 1, height - 1), columns[past]] = (250, 190, 60)
    strip[rows[~past], columns[~past]] = (90, 90, 90)
    if t >= 0:
        strip[:, min(width - 1, int((t + 0.5) * width / steps))] = (200, 200, 200)
    return strip


def text_bar(text: str, width: int, height: int = 14) -> np.ndarray:
    """A dark bar holding ``text`` (rendered once with matplotlib's Agg canvas)."""
    _pyplot()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor=(0.06, 0.06, 0.06))
    FigureCanvasAgg(fig)
    fig.text(0.01, 0.5, text, color="white", fontsize=7, va="center", family="monospace")
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    return np.ascontiguousarray(image[:height, :width])


def write_reward_video(
    path: Path,
    episodes: list[dict[str, Any]],
    rewards: list[dict[str, np.ndarray]],
    target_width: int = 256,
    fps: int = 20,
) -> Path:
    """The episodes one after another, each frame (scaled up to about ``target_width`` pixels)
    above one strip per reward showing its per-frame value."""
    clips = []
    for episode, per_frame in zip(episodes, rewards):
        frames = episode["frames"]
        scale = max(1, round(target_width / frames.shape[2]))
        width = frames.shape[2] * scale + (frames.shape[2] * scale) % 2
        header = text_bar(
            f"{episode['policy']}  seed {episode['seed']}  true return {episode['task_reward'][1:].sum():.1f}", width
        )
        strips = []
        for r, values in per_frame.items():
            body = values[1:]
            lo, hi = (float(body.min()), float(body.max())) if len(body) else (0.0, 1.0)
            label = text_bar(f"{r} per frame  [{lo:.1f}, {hi:.1f}]  sum {body.sum():.1f}", width)
            strips.append((body, lo, hi, label))
        for t in range(len(frames)):
            big = frames[t].repeat(scale, 0).repeat(scale, 1)
            big = np.pad(big, ((0, 0), (0, width - big.shape[1]), (0, 0)))
            parts = [header, big]
            for body, lo, hi, label in strips:
                parts += [label, reward_strip(body, t - 1, width, 28, lo, hi)]
            clips.append(np.concatenate(parts, 0))
    return write_mp4(path, np.stack(clips), fps)
