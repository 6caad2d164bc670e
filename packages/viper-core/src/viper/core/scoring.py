"""Reward diagnostics (``viper-run score``): does a reward rank behaviour like the true return?

Rolls out the suite's scripted expert, the expert with action noise at several levels, and a
random policy on the same reset seeds; sums each chosen reward over every episode and compares it
with the episode's true return (``info["task_reward"]``, never shown to an agent). A reward worth
training on ranks episodes like the true return (Spearman correlation near 1) and orders the
policies expert > noisy > random. This is what a user checks before spending GPU days.

An episode's reward return sums frames ``1..T``: frame 0 is the reset's, produced by no action
(the training loop gives it reward 0 too). Rewards are computed with their batch form
(:meth:`~viper.core.protocols.Reward.relabel`), which equals the online form for ``viper``;
rewards trained online (``rnd``, ``amp``) are scored in the state the workdir gives them
(untrained), so their numbers here say little.

Writes into the workdir stage ``score``: ``score.json`` (every number), ``scatter.png`` (reward
return against true return, one panel per reward) and ``episodes.mp4`` (a few episodes with each
reward per frame drawn as a strip under the frames).
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_write_bytes, atomic_write_json, read_json
from viper.core.collect import make_policy, run_episode
from viper.core.components import load_suite, parse_env
from viper.core.dataset import VideoDataset
from viper.core.errors import ConfigError, ViperError, WorkdirError
from viper.core.plugins import PluginHost, get_host
from viper.core.progress import progress_bar
from viper.core.protocols import RewardContext
from viper.core.rewarding import build_reward
from viper.core.workdir import Workdir

SCORE_FILE = "score.json"
PLOT_FILE = "scatter.png"
VIDEO_FILE = "episodes.mp4"


# --------------------------------------------------------------------------------------------
# Statistics


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


# --------------------------------------------------------------------------------------------
# Configuration and results


@dataclasses.dataclass
class ScoreConfig:
    """What ``viper-run score`` does."""

    env: str
    """Environment as SUITE:TASK."""
    episodes: int = 6
    """Episodes per policy (the expert, each noise level, random)."""
    rewards: tuple[str, ...] = ("viper",)
    """Reward components to score."""
    options: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Per-reward options, keyed by reward name."""
    noise: tuple[float, ...] = (0.1, 0.3, 0.6)
    """Action-noise levels of the noisy experts (see viper.core.collect.NoisyPolicy)."""
    seed: int = 0
    """Episode ``i`` of every policy resets with seed ``seed + 10_000 + i`` (paired comparison)."""
    size: int = 64
    """Frame height and width."""
    videos: int = 1
    """Episodes per policy drawn into the mp4 (0: no video)."""
    max_steps: int | None = None
    """Cut episodes after this many steps (None: the env's own limit)."""
    data: str | None = None
    """Expert videos for rewards that need them (default: the workdir's collected data)."""
    batch: int = 16
    """Episodes relabelled together."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ConfigError(f"--episodes {self.episodes}: expected at least 1")
        if not self.rewards:
            raise ConfigError("--reward: give at least one reward to score")
        if len(set(self.rewards)) != len(self.rewards):
            raise ConfigError(f"--reward: each reward once, got {', '.join(self.rewards)}")
        for level in self.noise:
            if not 0.0 < float(level) <= 1.0:
                raise ConfigError(f"--noise {level}: noise levels must lie in (0, 1]")
        unknown = sorted(set(self.options) - set(self.rewards))
        if unknown:
            raise ConfigError(f"--set {unknown[0]}.*: not one of the scored rewards ({', '.join(self.rewards)})")
        if self.videos < 0:
            raise ConfigError(f"--videos {self.videos}: expected 0 or more")
        if self.batch < 1:
            raise ConfigError(f"batch {self.batch}: expected at least 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"--max-steps {self.max_steps}: expected at least 1")


@dataclasses.dataclass
class ScoreResult:
    """What :func:`score` found; ``summary`` is what ``score.json`` holds."""

    directory: Path
    summary: dict[str, Any]
    cached: bool = False

    @property
    def plot(self) -> Path:
        return self.directory / PLOT_FILE

    @property
    def video(self) -> Path | None:
        path = self.directory / VIDEO_FILE
        return path if path.exists() else None

    def spearman(self, reward: str) -> float:
        value = self.summary["spearman"][reward]
        return float("nan") if value is None else float(value)

    def table(self) -> str:
        return format_table(self.summary)


def policies(noise: Sequence[float]) -> list[tuple[str, str, float]]:
    """``(label, kind, noise)`` for the expert, each noisy expert and the random policy."""
    return (
        [("expert", "expert", 0.0)]
        + [(f"noisy-{n:g}", "expert", float(n)) for n in noise]
        + [("random", "random", 0.0)]
    )


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def summarize(episodes: list[dict[str, Any]], rewards: Sequence[str], noise: Sequence[float]) -> dict[str, Any]:
    """Per-policy means, correlations and the expert > noisy > random check from episode records."""
    table: dict[str, Any] = {}
    for label, _, _ in policies(noise):
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
    true = [e["true_return"] for e in episodes]
    lengths = [max(int(e.get("length", 1)), 1) for e in episodes]
    returns = {r: [e["reward_return"][r] for e in episodes] for r in rewards}
    # Per-step means matter when the task terminates early: a reward that is negative every
    # step (a log-likelihood) sums to less for a short failed episode than for a long good one.
    per_step = {r: [v / n for v, n in zip(values, lengths)] for r, values in returns.items()}
    return {
        "policies": table,
        "spearman": {r: _finite_or_none(spearman(returns[r], true)) for r in rewards},
        "pearson": {r: _finite_or_none(pearson(returns[r], true)) for r in rewards},
        "ordered": {r: _ordered(episodes, returns[r], table) for r in rewards},
        "lengths_vary": len(set(lengths)) > 1,
        "spearman_per_step": {r: _finite_or_none(spearman(per_step[r], true)) for r in rewards},
        "ordered_per_step": {r: _ordered(episodes, per_step[r], table) for r in rewards},
        "episodes": episodes,
    }


def _ordered(episodes: list[dict[str, Any]], values: Sequence[float], table: dict[str, Any]) -> bool:
    """Mean of ``values`` ordered expert > mean over noisy levels > random."""
    means = {label: float(np.mean([v for e, v in zip(episodes, values) if e["policy"] == label])) for label in table}
    noisy = [means[label] for label in means if label.startswith("noisy-")]
    if "expert" not in means or "random" not in means:
        return False
    if not noisy:
        return means["expert"] > means["random"]
    return means["expert"] > float(np.mean(noisy)) > means["random"]


def format_table(summary: dict[str, Any]) -> str:
    """The per-policy table and the correlations, as printed by ``viper-run score``."""
    rewards = list(summary["spearman"])
    headers = ["policy", "episodes", "true return"] + [f"{r} return" for r in rewards]
    rows = []
    for label, row in summary["policies"].items():
        cells = [label, str(row["episodes"]), f"{row['true_return_mean']:.2f} ± {row['true_return_std']:.2f}"]
        for r in rewards:
            cells.append(f"{row['reward_return_mean'][r]:.2f} ± {row['reward_return_std'][r]:.2f}")
        rows.append(cells)
    widths = [max(len(h), *(len(c[i]) for c in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in rows]
    n = sum(row["episodes"] for row in summary["policies"].values())
    for r in rewards:
        rho, pr = summary["spearman"][r], summary["pearson"][r]
        rho_text = "undefined" if rho is None else f"{rho:.3f}"
        pr_text = "undefined" if pr is None else f"{pr:.3f}"
        order = "yes" if summary["ordered"][r] else "NO"
        lines.append(
            f"{r}: Spearman {rho_text} (Pearson {pr_text}) over {n} episodes; expert > noisy > random: {order}"
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
# The stage


def _stage_inputs(wd: Workdir) -> dict[str, str]:
    out = {}
    for stage in ("data", "tokenizer", "video_model"):
        try:
            out[stage] = wd.latest(stage).name
        except WorkdirError:
            pass
    return out


def _expert_data(config: ScoreConfig, wd: Workdir) -> VideoDataset | None:
    if config.data is not None:
        return VideoDataset(config.data)
    try:
        return VideoDataset(wd.latest("data") / "dataset")
    except ViperError:
        return None


def score(
    workdir: str | Path | Workdir,
    config: ScoreConfig,
    *,
    host: PluginHost | None = None,
    progress: bool = True,
    force: bool = False,
) -> ScoreResult:
    """Run (or reuse) the ``score`` stage of ``workdir``; see the module docstring."""
    host = host or get_host()
    name = parse_env(config.env)
    suite = load_suite(name.suite, host)
    if name.task not in suite.tasks():
        raise ConfigError(
            f"--env {name}: unknown task {name.task!r}; tasks of {name.suite!r}: {', '.join(suite.tasks())}"
        )
    wd = workdir if isinstance(workdir, Workdir) else Workdir(workdir)
    stage_config = {**dataclasses.asdict(config), "inputs": _stage_inputs(wd)}
    stage = wd.stage("score", stage_config)
    if stage.done and not force and (stage.directory / SCORE_FILE).exists():
        # Summaries are recomputed from the stored episodes, so a cache written by an older
        # version gains any figure added since.
        episodes = read_json(stage.directory / SCORE_FILE)["episodes"]
        return ScoreResult(stage.directory, summarize(episodes, config.rewards, config.noise), cached=True)

    mask = suite.image_mask(name.task, config.size)
    context = RewardContext(
        workdir=wd,
        expert_data=_expert_data(config, wd),
        tasks=(name.task,),
        image_size=(config.size, config.size),
        image_masks={name.task: np.asarray(mask, bool)} if mask is not None else {},
        seed=config.seed,
        host=host,
    )
    # Build every reward before any rollout, so a missing model fails in the first second.
    rewards = {r: build_reward(r, context, config.options.get(r), host) for r in config.rewards}

    stage.start()
    metrics = stage.context(seed=config.seed, progress=progress).metrics
    try:
        episodes, shown = _rollouts(suite, name.task, config, progress)
        per_frame = _score_episodes(rewards, episodes, config, progress)
        records = []
        for i, episode in enumerate(episodes):
            records.append(
                {
                    "policy": episode["policy"],
                    "seed": episode["seed"],
                    "length": int(len(episode["frames"]) - 1),
                    "true_return": float(episode["task_reward"][1:].sum()),
                    "reward_return": {r: float(per_frame[r][i][1:].sum()) for r in config.rewards},
                }
            )
        summary = summarize(records, config.rewards, config.noise)
        summary.update(env=str(name), rewards=list(config.rewards), options=config.options, inputs=_stage_inputs(wd))
        plot = write_scatter(stage.directory / PLOT_FILE, records, config.rewards, summary, str(name))
        summary["files"] = {"plot": plot.name}
        if config.videos and shown:
            video = write_video(
                stage.directory / VIDEO_FILE,
                [episodes[i] for i in shown],
                [{r: per_frame[r][i] for r in config.rewards} for i in shown],
            )
            summary["files"]["video"] = video.name
        atomic_write_json(stage.directory / SCORE_FILE, summary)
        metrics.log(
            0,
            {f"score/spearman_{r}": v for r, v in summary["spearman"].items() if v is not None}
            | {f"score/pearson_{r}": v for r, v in summary["pearson"].items() if v is not None},
        )
    finally:
        metrics.close()
    stage.finish({f"spearman_{r}": v for r, v in summary["spearman"].items()})
    return ScoreResult(stage.directory, summary)


def _rollouts(suite: Any, task: str, config: ScoreConfig, progress: bool) -> tuple[list[dict[str, Any]], list[int]]:
    """Every policy's episodes (frames, true rewards) and the indices of those to draw."""
    plan = policies(config.noise)
    episodes, shown = [], []
    bar = progress_bar(
        total=len(plan) * config.episodes, desc=f"score: rollouts on {config.env}", unit="ep", enabled=progress
    )
    for p, (label, kind, noise) in enumerate(plan):
        env = suite.make(task, seed=config.seed, size=config.size)
        try:
            policy = make_policy(kind, suite, task, env, seed=config.seed + 1000 * p, noise=noise)
            for i in range(config.episodes):
                seed = config.seed + 10_000 + i
                episode = run_episode(env, policy, seed=seed, max_steps=config.max_steps)
                if i < config.videos:
                    shown.append(len(episodes))
                episodes.append(
                    {"policy": label, "seed": seed, "frames": episode.frames, "task_reward": episode.task_reward}
                )
                bar.update(1)
        finally:
            env.close()
    bar.close()
    return episodes, shown


def _score_episodes(
    rewards: dict[str, Any], episodes: list[dict[str, Any]], config: ScoreConfig, progress: bool
) -> dict[str, list[np.ndarray]]:
    """Each reward's per-frame values for every episode, relabelling equal-length episodes together."""
    out: dict[str, list[np.ndarray]] = {r: [None] * len(episodes) for r in rewards}  # type: ignore[list-item]
    by_length: dict[int, list[int]] = {}
    for i, episode in enumerate(episodes):
        by_length.setdefault(len(episode["frames"]), []).append(i)
    chunks = [ids[j : j + config.batch] for ids in by_length.values() for j in range(0, len(ids), config.batch)]
    bar = progress_bar(total=len(chunks) * len(rewards), desc="score: rewards", unit="batch", enabled=progress)
    for ids in chunks:
        frames = np.stack([episodes[i]["frames"] for i in ids])
        task_reward = np.stack([episodes[i]["task_reward"] for i in ids]).astype(np.float32)
        task_ids = np.zeros(len(ids), np.int32)
        for r, reward in rewards.items():
            values = np.asarray(reward.relabel(frames, task_ids, task_reward), np.float32)
            if values.shape != frames.shape[:2] or not np.all(np.isfinite(values)):
                raise ConfigError(
                    f"reward {r!r}: relabel returned {values.dtype}{list(values.shape)} with non-finite values"
                )
            for row, i in enumerate(ids):
                out[r][i] = values[row]
            bar.update(1)
    bar.close()
    return out


# --------------------------------------------------------------------------------------------
# Pictures


def write_scatter(
    path: Path, records: list[dict[str, Any]], rewards: Sequence[str], summary: dict[str, Any], title: str
) -> Path:
    """Reward return against true return, one panel per reward, coloured by policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


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


def _label(text: str, width: int, height: int = 14) -> np.ndarray:
    """A dark bar holding ``text`` (rendered once with matplotlib's Agg canvas)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor=(0.06, 0.06, 0.06))
    FigureCanvasAgg(fig)
    fig.text(0.01, 0.5, text, color="white", fontsize=7, va="center", family="monospace")
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    return np.ascontiguousarray(image[:height, :width])


def write_video(
    path: Path,
    episodes: list[dict[str, Any]],
    rewards: list[dict[str, np.ndarray]],
    target_width: int = 256,
    fps: int = 20,
) -> Path:
    """The episodes one after another, each frame (scaled up to about ``target_width`` pixels) above one
    strip per reward showing its per-frame value."""
    import imageio.v3 as iio

    clips = []
    for episode, per_frame in zip(episodes, rewards):
        frames = episode["frames"]
        scale = max(1, round(target_width / frames.shape[2]))
        width = frames.shape[2] * scale + (frames.shape[2] * scale) % 2
        header = _label(
            f"{episode['policy']}  seed {episode['seed']}  true return {episode['task_reward'][1:].sum():.1f}", width
        )
        strips = []
        for r, values in per_frame.items():
            body = values[1:]
            lo, hi = (float(body.min()), float(body.max())) if len(body) else (0.0, 1.0)
            strips.append(
                (r, body, lo, hi, _label(f"{r} per frame  [{lo:.1f}, {hi:.1f}]  sum {body.sum():.1f}", width))
            )
        for t in range(len(frames)):
            big = frames[t].repeat(scale, 0).repeat(scale, 1)
            big = np.pad(big, ((0, 0), (0, width - big.shape[1]), (0, 0)))
            parts = [header, big]
            for _, body, lo, hi, label in strips:
                parts += [label, reward_strip(body, t - 1, width, 28, lo, hi)]
            clips.append(np.concatenate(parts, 0))
    video = np.stack(clips)
    if video.shape[1] % 2:
        video = np.pad(video, ((0, 0), (0, 1), (0, 0), (0, 0)))
    data = iio.imwrite("<bytes>", video, extension=".mp4", plugin="pyav", codec="libx264", fps=fps)
    return atomic_write_bytes(path, data)
