"""Does the VIPER reward rank episodes like the true return? Per task, with the quick preset.

For each task, the first four stages of ``viper-run`` (collect ``--episodes`` expert videos, by
default 60, the table's basis; fit the tokenizer, fit the video model, score) run with the
``quick`` preset's defaults, untuned, in the workdir ``ROOT/<suite>-<task>[-ep<N>]/seed<S>``
(:func:`viper.core.pipeline.fit_reward`: the same stages and folders a user's ``viper-run --env
TASK --workdir DIR`` makes, so every stage is cached and an interrupted run resumes; a finished
task costs seconds). The score stage rolls out the scripted
expert, the expert with action noise 0.1 / 0.3 / 0.6 and a random policy (10 episodes each, the
same reset seeds) and sums the VIPER reward over each episode. Per task the table shows the
Spearman correlation of that episode VIPER return with the true return over all 50 episodes,
mean true and VIPER return of expert / noisy (mean of the three levels) / random, whether the
VIPER means order expert > noisy > random, the success rate (Meta-World), the tokenizer's
validation PSNR and the wall-clock seconds of the four stages.

    MUJOCO_GL=egl python benchmarks/reward_quality.py [--tasks metaworld:reach dmc:cartpole-swingup ...] \\
        [--seed 0] [--episodes N] [--root /work/runs/reward_quality] [--json benchmarks/results/reward_quality.json]

Tasks without a scripted expert (Atari, DMC walker...) take a trained agent as the expert, the
paper's way: ``--expert agent:WORKDIR`` (a ``viper-run train`` run on the task reward) records the
expert videos and plays the expert and noisy experts, with the env options it trained with
(``--set env.action_set=minimal``).

Where the suite hides part of the frame from the reward (Atari's score), the first expert video's
frames as recorded and as the reward sees them go to ``reward_quality-<task>-expert-frames.png``
beside ``--json``.

A variant of the table's basis (``--set tokenizer.foreground_weight=100 --tag fg100``: tokenizer or
video-model options) fits in ``ROOT/<task>-TAG`` and keeps its own row beside the basis row.

Tasks run one after another; a task that fails is reported and the next one runs. Rows are merged
into ``--json`` by (task, seed, episodes, tag), so a run over some tasks keeps the others' rows.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_write_json
from viper.core.statistics import IDLE, spearman

#: Five Meta-World tasks whose scripted experts succeed 100% (packages/viper-envs/README.md), then
#: every DMC task with a scripted expert (the ``_sparse`` variants render the same frames as their
#: dense tasks), then a sixth Meta-World task.
METAWORLD_TASKS = ("reach", "push", "drawer-close", "button-press-topdown", "door-open")


def default_tasks() -> list[str]:
    from viper.core.components import load_suite

    dmc = [t for t in load_suite("dmc").expert_tasks() if not t.endswith("_sparse")]
    return [*(f"metaworld:{t}" for t in METAWORLD_TASKS), *(f"dmc:{t}" for t in dmc), "metaworld:window-open"]


#: The stages whose wall time a task costs (the agent stage is not run).
STAGES = ("data", "tokenizer", "video_model", "score")
GROUPS = ("expert", "noisy", "random")


def group_means(policies: dict[str, Any], reward: str = "viper") -> dict[str, dict[str, float | None]]:
    """Mean true return, reward return and success rate of expert / noisy / random, the noisy
    group being the mean over noise levels (as ``viper.core.statistics`` orders them)."""
    out: dict[str, dict[str, float | None]] = {}
    for group in GROUPS:
        rows = [row for label, row in policies.items() if label == group or label.startswith(f"{group}-")]
        if not rows:
            continue
        success = [row["success_rate"] for row in rows if "success_rate" in row]
        out[group] = {
            "true_return": float(np.mean([row["true_return_mean"] for row in rows])),
            "viper_return": float(np.mean([row["reward_return_mean"][reward] for row in rows])),
            "success_rate": float(np.mean(success)) if len(success) == len(rows) else None,
        }
    return out


def spearman_without_random(episodes: list[dict[str, Any]], reward: str = "viper") -> float | None:
    """Spearman over the expert and noisy episodes alone: whether the reward also ranks the finer
    differences among good episodes, not just random play below everything else (the idle probe,
    which is no rung of that ladder, is left out as well)."""
    rows = [e for e in episodes if e["policy"] not in ("random", IDLE)]
    value = spearman([e["reward_return"][reward] for e in rows], [e["true_return"] for e in rows])
    return None if math.isnan(value) else value


def task_row(task: str, seed: int, summary: dict[str, Any], stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One task's result from its score summary and the ``stage.json`` of each stage."""
    groups = group_means(summary["policies"])
    tokenizer = stages.get("tokenizer", {}).get("metrics", {})
    video_model = stages.get("video_model", {}).get("metrics", {})
    return {
        "task": task,
        "seed": seed,
        "spearman": summary["spearman"]["viper"],
        "pearson": summary["pearson"]["viper"],
        "spearman_without_random": spearman_without_random(summary["episodes"]),
        "ordered": bool(summary["ordered"]["viper"]),
        "groups": groups,
        "policies": {
            label: {
                "true_return_mean": row["true_return_mean"],
                "true_return_std": row["true_return_std"],
                "viper_return_mean": row["reward_return_mean"]["viper"],
                "viper_return_std": row["reward_return_std"]["viper"],
                **({"success_rate": row["success_rate"]} if "success_rate" in row else {}),
            }
            for label, row in summary["policies"].items()
        },
        "tokenizer_psnr": tokenizer.get("val_psnr"),
        "tokenizer_metrics": {k: v for k, v in tokenizer.items() if "psnr" in k},
        "video_model_metrics": {k: v for k, v in video_model.items() if "bits" in k or "loss" in k},
        "stage_seconds": {name: stages[name].get("seconds") for name in STAGES if name in stages},
        "seconds": float(sum(stages[name].get("seconds") or 0.0 for name in STAGES if name in stages)),
    }


def _number(value: float | None, digits: int) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _label(row: dict[str, Any]) -> str:
    """The task column: the task, and a variant's tag with its fit options."""
    if not row.get("tag"):
        return row["task"]
    options = ", ".join(f"{s}.{k}={v}" for s, values in row.get("fit_options", {}).items() for k, v in values.items())
    return f"{row['task']} ({row['tag']}: {options})" if options else f"{row['task']} ({row['tag']})"


def format_table(rows: list[dict[str, Any]]) -> str:
    """A markdown table of task rows (as ``task_row`` makes them; a row with ``error`` says so)."""
    header = (
        "| task | expert videos | Spearman | without random | VIPER expert > noisy > random | true return E / N / R | VIPER return E / N / R "
        "| success E / N / R | tokenizer PSNR (dB) | minutes |"
    )
    lines = [header, "|---|---:|---:|---:|---|---|---|---|---:|---:|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {_label(row)} | {row.get('episodes', 60)} | failed: {row['error']} | | | | | | | |")
            continue
        groups = row["groups"]

        def triple(key: str, digits: int, groups: dict = groups) -> str:
            return " / ".join(_number(groups.get(g, {}).get(key), digits) for g in GROUPS)

        success = " / ".join(
            "—" if groups.get(g, {}).get("success_rate") is None else f"{groups[g]['success_rate']:.0%}" for g in GROUPS
        )
        lines.append(
            f"| {_label(row)} | {row.get('episodes', 60)}{' (agent)' if 'expert' in row else ''} | {_number(row['spearman'], 2)} | {_number(row.get('spearman_without_random'), 2)} "
            f"| {'yes' if row['ordered'] else 'no'} "
            f"| {triple('true_return', 0)} | {triple('viper_return', 0)} | {success} "
            f"| {_number(row['tokenizer_psnr'], 1)} | {row['seconds'] / 60:.1f} |"
        )
    return "\n".join(lines)


#: What every row of the committed table was measured with, kept when the quick preset moved to
#: 120 videos and the symlog scaling (2026-12-03) so the table stays one comparable set: 60 videos,
#: and the score summing log-likelihoods in nats (``running`` starts at mean 0, std 1 and
#: relabelling does not move it; symlog would sum squashed values).
EPISODES = 60
REWARD_OPTIONS = {"normalize": "running"}
#: The ``--set`` sections taken here: the env's options, and the tokenizer's and video model's
#: for a tagged variant of a row.
SET_SECTIONS = ("env", "tokenizer", "video_model")


def run_task(
    task: str,
    seed: int,
    workdir: Path,
    episodes: int | None = None,
    expert: str = "expert",
    env_options: dict[str, str] | None = None,
    fit_options: dict[str, dict[str, str]] | None = None,
    tag: str | None = None,
) -> dict[str, Any]:
    """Fit (or reuse) the reward of ``task`` with the quick preset's sizes (``episodes`` videos of
    ``expert``, default :data:`EPISODES`, made with ``env_options``; ``fit_options`` override the
    tokenizer's or video model's settings, a variant named ``tag``) and read its row."""
    from viper.core.pipeline import PipelineConfig, fit_reward, resolve
    from viper.core.workdir import Workdir

    episodes = episodes or EPISODES
    options: dict[str, dict[str, Any]] = {"reward": REWARD_OPTIONS}
    if env_options:
        options["env"] = dict(env_options)
    options.update({section: dict(values) for section, values in (fit_options or {}).items()})
    config = PipelineConfig(
        env=task, workdir=str(workdir), seed=seed, preset="quick", episodes=episodes, expert=expert, options=options
    )
    plan = resolve(config)
    fitted = fit_reward(plan)
    wd = Workdir(workdir)
    stages = {name: wd.latest_info(name) for name in STAGES}
    row = task_row(task, seed, fitted.scored.summary, stages)
    row["episodes"] = episodes
    if expert != "expert":
        row["expert"] = expert
    if env_options:
        row["env_options"] = dict(env_options)
    if tag:
        row["tag"], row["fit_options"] = tag, {k: dict(v) for k, v in (fit_options or {}).items()}
    return row


def masked_strip(frames: np.ndarray, mask: np.ndarray, count: int = 8) -> np.ndarray:
    """``count`` frames spread over the episode as recorded (top row) and with ``mask`` applied,
    as the tokenizer and the video model see them (bottom row), at twice the size."""
    from viper.core.dataset import apply_mask

    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    rows = [np.concatenate(list(f[picks]), axis=1) for f in (frames, apply_mask(frames, mask))]
    gap = np.full((2, rows[0].shape[1], 3), 255, np.uint8)
    strip = np.concatenate([rows[0], gap, rows[1]], axis=0)
    return np.repeat(np.repeat(strip, 2, axis=0), 2, axis=1)


def save_masked_strip(task: str, workdir: Path, path: Path) -> Path | None:
    """For a task whose suite hides part of the frame from the reward (Atari's score), the
    :func:`masked_strip` of the workdir's first expert video as a PNG; None without a mask."""
    from viper.core.components import resolve_env
    from viper.core.dataset import VideoDataset
    from viper.core.media import write_image
    from viper.core.workdir import Workdir

    dataset = VideoDataset(Workdir(workdir).latest("data") / "dataset")
    load = lambda: dataset.load(dataset.episodes[0])["frames"]  # noqa: E731
    # The manifest names the frame size, so a task without a mask reads no frames.
    height = dataset.image_size[0] if dataset.image_size else load().shape[1]
    name, suite = resolve_env(task)
    mask = suite.image_mask(name.task, height)
    return None if mask is None else write_image(path, masked_strip(load(), mask))


def merge(path: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows already in ``path`` with ``rows`` replacing those of the same (task, seed, expert
    episodes, tag; rows written before episodes were recorded had the quick preset's 60)."""

    def key(row: dict[str, Any]) -> tuple:
        return row["task"], row["seed"], row.get("episodes", 60), row.get("tag")

    old = json.loads(path.read_text())["rows"] if path.exists() else []
    keys = {key(r) for r in rows}
    return [r for r in old if key(r) not in keys] + rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=None, help="default: see default_tasks()")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=None, help=f"expert videos (default {EPISODES})")
    parser.add_argument("--root", type=Path, default=Path("runs/reward_quality"))
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/reward_quality.json"))
    parser.add_argument(
        "--expert", default="expert", metavar="expert|agent:WORKDIR", help="who plays the expert (default: scripted)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="an env, tokenizer or video_model option (the last two need --tag)",
    )
    parser.add_argument(
        "--tag", default=None, help="names a variant's workdir (ROOT/<task>-TAG) and its row; needed with fit options"
    )
    args = parser.parse_args()
    from viper.core.config import parse_assignments

    sections = parse_assignments(args.set)
    if set(sections) - set(SET_SECTIONS):
        parser.error(
            f"--set {min(set(sections) - set(SET_SECTIONS))}.*: expected one of {', '.join(SET_SECTIONS)} "
            f"(the reward's settings are the table's basis, REWARD_OPTIONS)"
        )
    env_options = sections.get("env", {})
    fit_options = {k: v for k, v in sections.items() if k != "env"}
    if fit_options and not args.tag:
        parser.error(
            "--set tokenizer.*/video_model.*: a variant of the table's basis; name it with --tag NAME "
            "(its workdir is ROOT/<task>-NAME and its row is kept beside the basis row)"
        )
    if args.tag is not None and not args.tag.replace("-", "").replace("_", "").isalnum():
        parser.error(f"--tag {args.tag!r}: expected letters, digits, '-' or '_'")

    rows = []
    for task in args.tasks or default_tasks():
        name = task.replace(":", "-") + ("" if args.episodes is None else f"-ep{args.episodes}")
        name += f"-{args.tag}" if args.tag else ""
        workdir = args.root / name / f"seed{args.seed}"
        started = time.time()
        print(f"=== {task} (seed {args.seed}, {workdir})", flush=True)
        try:
            row = run_task(task, args.seed, workdir, args.episodes, args.expert, env_options, fit_options, args.tag)
        except Exception as exc:  # one broken task must not stop the others
            traceback.print_exc()
            row = {"task": task, "seed": args.seed, "error": f"{type(exc).__name__}: {exc}"[:200]}
            if args.tag:
                row["tag"] = args.tag
            if args.episodes is not None:
                row["episodes"] = args.episodes
        row["workdir"] = str(workdir)
        if "error" not in row:
            strip = save_masked_strip(task, workdir, args.json.parent / f"reward_quality-{name}-expert-frames.png")
            if strip is not None:
                print(f"=== {task}: expert frames as recorded and as the reward sees them: {strip}", flush=True)
        print(f"=== {task}: {time.time() - started:.0f} s in this call", flush=True)
        rows.append(row)
        # Written after every task, so a killed run keeps what finished.
        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(args.json, {"preset": "quick", "rows": merge(args.json, [row])})
        print(format_table([row]), flush=True)
    print(format_table(rows))


if __name__ == "__main__":
    main()
