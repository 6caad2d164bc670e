"""The ``score`` stage (``viper-run score``): does a reward rank behaviour like the true return?

Rolls out the suite's scripted expert (or a trained agent, ``--expert agent:WORKDIR``), the
expert with action noise at several levels, a random policy and the ``idle`` probe (the zero /
no-op action: how much the reward pays for doing nothing) on the same reset seeds; sums each chosen reward over every episode and compares it
with the episode's true return (``info["task_reward"]``, never shown to an agent). A reward worth
training on ranks episodes like the true return (Spearman correlation near 1) and orders the
policies expert > noisy > random. This is what a user checks before spending GPU days.

An episode's reward return sums frames ``1..T``: frame 0 is the reset's, produced by no action
(the training loop gives it reward 0 too). Rewards are computed with their batch form
(:meth:`~viper.core.protocols.Reward.relabel`), which equals the online form for ``viper``;
rewards trained online (``rnd``, ``amp``) are scored in the state the workdir gives them
(untrained), so their numbers here say little. The statistics live in
:mod:`viper.core.statistics`, the pictures in :mod:`viper.core.media`.

Writes into the workdir stage ``score``: ``score.json`` (every number), ``scatter.png`` (reward
return against true return, one panel per reward), ``episodes.mp4`` (a few episodes with each
reward per frame drawn as a strip under the frames) and the diagnostics of
:mod:`viper.core.diagnostics` (``score.json``'s ``diagnostics``): ``along_episode.png`` (each
reward per step, per policy), ``by_distance.png`` (mean reward by ``info["goal_distance"]``,
when the env reports it) and ``frame_bits.png`` (per-frame bits per code under the video model).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from viper.core.atomic import atomic_write_json, read_json
from viper.core.collect import make_policy, run_episode
from viper.core.components import EnvName, literal_options, resolve_env
from viper.core.config import Options, Rule, option
from viper.core.diagnostic_plots import plot_frame_scores, plot_reward_along_episode, plot_reward_by_distance
from viper.core.diagnostics import FrameScorer, episode_diagnostics
from viper.core.errors import ConfigError
from viper.core.media import write_reward_video, write_scatter
from viper.core.plugins import PluginHost, get_host
from viper.core.progress import progress_bar
from viper.core.rewarding import build_reward, expert_dataset, reward_context
from viper.core.stages.lifecycle import run_stage, upstream_folders
from viper.core.statistics import format_table, goal_progress, policies, summarize
from viper.core.trained_agent import check_expert, is_expert_name
from viper.core.workdir import StageContext, Workdir

SCORE_FILE = "score.json"
PLOT_FILE = "scatter.png"
VIDEO_FILE = "episodes.mp4"
ALONG_FILE = "along_episode.png"
DISTANCE_FILE = "by_distance.png"
BITS_FILE = "frame_bits.png"


@dataclasses.dataclass
class ScoreConfig(Options):
    """What ``viper-run score`` does (its constraints are worded as the command's flags)."""

    SECTION: ClassVar[str] = "--"
    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule(
            "rewards",
            lambda c: set(c.options) <= set(c.rewards),
            lambda c: (
                f"a reward named by every --set section; --set {min(set(c.options) - set(c.rewards))}.* names none"
            ),
        ),
    )

    env: str
    """Environment as SUITE:TASK."""
    episodes: int = option(6, ge=1)
    """Episodes per policy (the expert, each noise level, random)."""
    rewards: tuple[str, ...] = option(
        ("viper",),
        flag="reward",
        test=lambda r: len(r) > 0 and len(set(r)) == len(r),
        expected="at least one reward, each reward once",
    )
    """Reward components to score."""
    options: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Per-reward options, keyed by reward name."""
    noise: tuple[float, ...] = option((0.1, 0.3, 0.6), gt=0, le=1)
    """Action-noise levels of the noisy experts (see viper.core.collect.NoisyPolicy)."""
    expert: str = option("expert", test=is_expert_name, expected="'expert' or agent:WORKDIR", keyed_default=False)
    """Who plays the expert and, with action noise, the noisy experts: ``expert`` (the suite's
    scripted expert) or ``agent:WORKDIR`` (an agent ``viper-run train`` trained there, for tasks
    without a scripted expert: the paper's DMC and Atari experts were trained agents)."""
    seed: int = 0
    """Episode ``i`` of every policy resets with seed ``seed + 10_000 + i`` (paired comparison)."""
    size: int = 64
    """Frame height and width."""
    idle: bool = True
    """Also score the policy that takes the zero / no-op action (``idle``; kept out of the
    correlations) and say where it lands between random and the expert: a reward that pays
    nearly as much for holding still lets an agent settle there."""
    videos: int = option(1, ge=0)
    """Episodes per policy drawn into the mp4 (0: no video)."""
    max_steps: int | None = option(None, ge=1)
    """Cut episodes after this many steps (None: the env's own limit)."""
    data: str | None = None
    """Expert videos for rewards that need them (default: the workdir's collected data)."""
    batch: int = option(16, ge=1)
    """Episodes relabelled together."""
    env_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Options for the suite's ``make`` (``--set env.FIELD=VALUE``)."""


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
    name, suite = resolve_env(config.env, host)
    check_expert(config.expert, name, config.size, config.env_options)
    wd = workdir if isinstance(workdir, Workdir) else Workdir(workdir)
    stage_config = dataclasses.asdict(config)
    # Options at their defaults stay out of the key, so the folders of earlier runs keep their names.
    if not stage_config["env_options"]:
        del stage_config["env_options"]
    if stage_config["expert"] == "expert":
        del stage_config["expert"]
    stage = wd.stage("score", {**stage_config, "inputs": upstream_folders(wd)})
    stored = read_json(stage.directory / SCORE_FILE) if (stage.directory / SCORE_FILE).exists() else {}
    # A stage scored before the diagnostics existed is scored again (same folder) to gain them.
    if stage.done and not force and "diagnostics" in stored:
        stage.reuse()
        # Summaries are recomputed from the stored episodes, so a cache written by an older
        # version gains any figure added since.
        summary = summarize(stored["episodes"], config.rewards, config.noise)
        summary.update(
            env=str(name), options=config.options, diagnostics=stored["diagnostics"], files=stored.get("files", {})
        )
        return ScoreResult(stage.directory, summary, cached=True)

    context = reward_context(
        wd, suite, name.task, size=config.size, seed=config.seed, host=host, expert_data=expert_dataset(wd, config.data)
    )
    # Build every reward before any rollout, so a missing model fails in the first second.
    rewards = {r: build_reward(r, context, config.options.get(r), host) for r in config.rewards}
    mask = context.image_masks.get(name.task) if context.image_masks else None
    scorer = FrameScorer.from_workdir(wd, name.task, mask, host)
    summary: dict[str, Any] = {}

    def work(ctx: StageContext) -> dict[str, Any]:
        summary.update(_score_stage(ctx, wd, suite, name, rewards, config, scorer))
        return {f"spearman_{r}": v for r, v in summary["spearman"].items()}

    run_stage(stage, work, seed=config.seed, progress=progress)
    return ScoreResult(stage.directory, summary)


def _score_stage(
    ctx: StageContext,
    wd: Workdir,
    suite: Any,
    name: EnvName,
    rewards: dict[str, Any],
    config: ScoreConfig,
    scorer: tuple[FrameScorer | None, str | None],
) -> dict[str, Any]:
    """Roll out, score and summarise; write score.json, the scatter, the video and the diagnostics."""
    directory, env = Path(ctx.directory), str(name)
    episodes, shown = rollouts(suite, name.task, config, ctx.progress)
    per_frame = score_episodes(rewards, episodes, config.batch, ctx.progress)
    records = [
        {
            "policy": episode["policy"],
            "seed": episode["seed"],
            "length": int(len(episode["frames"]) - 1),
            "true_return": float(episode["task_reward"][1:].sum()),
            "reward_return": {r: float(per_frame[r][i][1:].sum()) for r in config.rewards},
            **({} if episode["success"] is None else {"success": episode["success"]}),
            "goal_progress": goal_progress(episode["goal_distance"]),
        }
        for i, episode in enumerate(episodes)
    ]
    summary = summarize(records, config.rewards, config.noise)
    summary.update(env=env, rewards=list(config.rewards), options=config.options, inputs=upstream_folders(wd))
    plot = write_scatter(directory / PLOT_FILE, records, config.rewards, summary, env)
    summary["files"] = {"plot": plot.name}
    summary["diagnostics"] = episode_diagnostics(episodes, per_frame, *scorer)
    summary["files"].update(write_diagnostic_plots(directory, summary["diagnostics"], env))
    if config.videos and shown:
        video = write_reward_video(
            directory / VIDEO_FILE,
            [episodes[i] for i in shown],
            [{r: per_frame[r][i] for r in config.rewards} for i in shown],
        )
        summary["files"]["video"] = video.name
    atomic_write_json(directory / SCORE_FILE, summary)
    ctx.metrics.log(
        0,
        {f"score/spearman_{r}": v for r, v in summary["spearman"].items() if v is not None}
        | {f"score/pearson_{r}": v for r, v in summary["pearson"].items() if v is not None},
    )
    return summary


def rollouts(
    suite: Any, task: str, config: ScoreConfig, progress: bool, plan: list[tuple[str, str, float]] | None = None
) -> tuple[list[dict[str, Any]], list[int]]:
    """Every policy's episodes (frames, true rewards) and the indices of those to draw. ``plan``
    lists ``(label, kind, noise)`` (kinds as :func:`viper.core.collect.make_policy` takes them;
    default: the expert, its noisy versions and random); policy ``p`` is seeded ``seed + 1000 p``
    and episode ``i`` of every policy resets with ``seed + 10_000 + i``."""
    plan = plan if plan is not None else policies(config.noise, config.expert, idle=config.idle)
    episodes, shown = [], []
    bar = progress_bar(
        total=len(plan) * config.episodes, desc=f"score: rollouts on {config.env}", unit="ep", enabled=progress
    )
    for p, (label, kind, noise) in enumerate(plan):
        env = suite.make(task, seed=config.seed, size=config.size, **literal_options(config.env_options))
        try:
            policy = make_policy(kind, suite, task, env, seed=config.seed + 1000 * p, noise=noise)
            for i in range(config.episodes):
                seed = config.seed + 10_000 + i
                episode = run_episode(env, policy, seed=seed, max_steps=config.max_steps)
                if i < config.videos:
                    shown.append(len(episodes))
                episodes.append(
                    {
                        "policy": label,
                        "seed": seed,
                        "frames": episode.frames,
                        "task_reward": episode.task_reward,
                        "goal_distance": episode.goal_distance,
                        "success": episode.success,
                    }
                )
                bar.update(1)
        finally:
            env.close()
    bar.close()
    return episodes, shown


def write_diagnostic_plots(directory: Path, diagnostics: dict[str, Any], title: str) -> dict[str, str]:
    """The diagnostics' PNGs in ``directory``; returns ``{figure: file name}`` of those drawn."""
    files = {"along_episode": plot_reward_along_episode(directory / ALONG_FILE, diagnostics["along_episode"], title)}
    if diagnostics.get("by_distance"):
        files["by_distance"] = plot_reward_by_distance(
            directory / DISTANCE_FILE, diagnostics["by_distance"], title, diagnostics.get("by_direction")
        )
    frames = diagnostics.get("frame_scores")
    if frames:
        values = {p: np.asarray(v) for p, v in frames["values"].items()}
        files["frame_bits"] = plot_frame_scores(directory / BITS_FILE, values, frames["quantity"], title)
    return {k: p.name for k, p in files.items()}


def score_episodes(
    rewards: dict[str, Any], episodes: list[dict[str, Any]], batch: int, progress: bool
) -> dict[str, list[np.ndarray]]:
    """Each reward's per-frame values for every episode, relabelling equal-length episodes together."""
    out: dict[str, list[np.ndarray]] = {r: [None] * len(episodes) for r in rewards}  # type: ignore[list-item]
    by_length: dict[int, list[int]] = {}
    for i, episode in enumerate(episodes):
        by_length.setdefault(len(episode["frames"]), []).append(i)
    chunks = [ids[j : j + batch] for ids in by_length.values() for j in range(0, len(ids), batch)]
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
