"""The report's diagnostics (:mod:`viper.core.diagnostics`): the score stage's figures with the
trained agent added (its final evaluation episodes, relabelled with the reward and scored by the
video model) and the tokenizer's foreground PSNR on held-out frames. Anything missing (an old
stage, a model without an artifact) costs its figure and leaves a one-line note."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_write_bytes
from viper.core.config import to_dict
from viper.core.dataset import VideoDataset
from viper.core.diagnostics import (
    EVAL_EPISODES_FILE,
    FOREGROUND_FILE,
    FOREGROUND_KEYS,
    FrameScorer,
    evaluate_tokenizer_foreground,
    frame_scores_by_policy,
    load_episodes,
)
from viper.core.errors import ViperError
from viper.core.rewarding import build_reward, reward_context
from viper.core.statistics import spread, step_curve
from viper.core.workdir import Workdir


def report_diagnostics(wd: Workdir, plan: Any, scored: Any, agent_dir: Path | None, out: Path) -> dict[str, Any]:
    """``{"score": diagnostics with the agent, "tokenizer": foreground metrics, "notes", "files"}``;
    writes the figures into ``out``."""
    from viper.core.stages.score import write_diagnostic_plots

    notes: list[str] = []
    diag = copy.deepcopy(scored.summary.get("diagnostics"))
    files: dict[str, str] = {}
    if diag is None:
        notes.append("reward diagnostics: the score stage that was passed in has none")
    else:
        notes += diag.get("notes", [])
        if agent_dir is not None:  # None: a run without an agent (--steps 0)
            notes += _add_agent(wd, plan, agent_dir, diag, scored.summary)
        files.update(write_diagnostic_plots(out, diag, str(plan.env)))
    tokenizer, note = _tokenizer_foreground(wd, plan, out)
    if note:
        notes.append(note)
    else:
        files["foreground"] = FOREGROUND_FILE
    return {"score": diag, "tokenizer": tokenizer, "notes": notes, "files": files}


def _add_agent(wd: Workdir, plan: Any, agent_dir: Path, diag: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    """Put the agent's final evaluation episodes into ``diag`` as policy ``agent``; returns notes."""
    path = agent_dir / EVAL_EPISODES_FILE
    if not path.exists():
        return [f"trained agent: no {EVAL_EPISODES_FILE} in {agent_dir.name} (trained before it was kept); not shown"]
    episodes = load_episodes(path)
    returns = [float(e["task_reward"][1:].sum()) for e in episodes]
    diag["agent_episodes"] = {
        "episodes": len(episodes),
        "true_return_mean": float(np.mean(returns)),
        "true_return_std": float(np.std(returns)),
    }
    from viper.core.stages.score import score_episodes

    name, config = plan.components["reward"]
    notes = []
    try:
        context = reward_context(
            wd, plan.suite, plan.env.task, size=episodes[0]["frames"].shape[1], seed=0, host=plan.host
        )
        options = to_dict(config)
        reward = build_reward(name, context, options, plan.host)
        values = score_episodes({name: reward}, episodes, 16, progress=False)[name]
        diag["along_episode"].setdefault(name, {})["agent"] = step_curve([v[1:] for v in values])
        notes += _overrated(name, episodes, (options, values), context, summary, diag["agent_episodes"], plan.host)
    except ViperError as exc:
        notes.append(f"trained agent: could not relabel its episodes with {name} ({exc})")
        context = None
    frames = diag.get("frame_scores")
    if frames:
        mask = context.image_masks.get(plan.env.task) if context is not None and context.image_masks else None
        scorer, note = FrameScorer.from_workdir(wd, plan.env.task, mask, plan.host)
        if scorer is None:
            return [*notes, str(note)]
        agent = frame_scores_by_policy(episodes, scorer)["agent"]
        frames["values"]["agent"] = agent
        frames["summary"]["agent"] = spread(agent)
    return notes


#: How much truly better (share of the expert-to-random span of true returns) a scored policy must
#: be than the agent before the reward rating the agent above it counts as overrating.
OVERRATED_MARGIN = 0.1


def _overrated(
    name: str,
    episodes: list[dict[str, Any]],
    relabelled: tuple[dict[str, Any] | None, list[np.ndarray]],
    context: Any,
    summary: dict[str, Any],
    agent: dict[str, Any],
    host: Any,
) -> list[str]:
    """Score the agent's episodes with the score stage's own ``name`` reward (its options, so the
    numbers sit beside the score table's) into ``agent["reward_return_mean"]``; a note when the
    reward rates the agent above a scored policy whose true return is clearly higher: the agent
    found behaviour the reward overrates (e.g. holding still where the expert's videos start).
    ``relabelled``: the options the episodes were already relabelled with and the values, reused
    when they are the score stage's (the pipeline's usual case)."""
    from viper.core.stages.score import score_episodes

    policies = {p: row for p, row in summary.get("policies", {}).items() if name in row.get("reward_return_mean", {})}
    if "expert" not in policies or "random" not in policies:
        return []
    options = (summary.get("options") or {}).get(name)
    values = relabelled[1]
    if (options or {}) != (relabelled[0] or {}):
        reward = build_reward(name, context, options, host)
        values = score_episodes({name: reward}, episodes, 16, progress=False)[name]
    agent["reward"] = name
    agent["reward_return_mean"] = float(np.mean([v[1:].sum() for v in values]))
    agent["expert_reward_return"] = float(policies["expert"]["reward_return_mean"][name])
    span = policies["expert"]["true_return_mean"] - policies["random"]["true_return_mean"]
    margin = OVERRATED_MARGIN * abs(span)
    beaten = [
        (p, row)
        for p, row in policies.items()
        if row["true_return_mean"] > agent["true_return_mean"] + margin
        and agent["reward_return_mean"] > row["reward_return_mean"][name]
    ]
    agent["overrated_against"] = [p for p, _ in beaten]
    if not beaten:
        return []
    shown = ", ".join(
        f"{p} ({row['reward_return_mean'][name]:.4g} at true {row['true_return_mean']:.4g})" for p, row in beaten
    )
    return [
        f"the {name} reward rates the trained agent's episodes ({agent['reward_return_mean']:.4g} at true return "
        f"{agent['true_return_mean']:.4g}) above policies that truly do better: {shown}; the agent may exploit "
        "behaviour the reward overrates (watch its rollout); benchmarks/stillness.py compares the discounted returns: "
        "a longer discount (agent.discount), --set reward.normalize=symlog, an exploration bonus (--explore rnd "
        "--beta B) or more expert videos may get it past"
    ]


#: How far (share of the expert-to-random span of true returns) the final evaluation must fall below
#: the best one before the report says the agent lost what it had learned.
UNLEARNED_DROP = 0.25


def unlearned(
    curve: list[tuple[int, float]], expert: float | None, random: float | None, agent: dict[str, Any] | None
) -> dict[str, Any] | None:
    """``{"best_return", "best_step", "final_return", "reward_prefers_expert", "note"}`` when the
    final evaluation in ``curve`` ((step, true return) pairs) fell more than :data:`UNLEARNED_DROP`
    of the expert-to-random span below the best one; else None. ``agent``: the report's
    ``agent_episodes`` (with ``reward_return_mean`` and ``expert_reward_return`` when scored), which
    says whose fault it is: a reward that still rates the expert above the final agent did not
    lead it away (the optimiser lost the policy); one that rates it at or above the expert did."""
    if len(curve) < 2 or expert is None or random is None or expert == random:
        return None
    best_step, best = max(curve, key=lambda point: point[1])
    final = curve[-1][1]
    span = abs(expert - random)
    if best - final <= UNLEARNED_DROP * span:
        return None
    found = {"best_return": best, "best_step": best_step, "final_return": final, "reward_prefers_expert": None}
    note = (
        f"the agent's final evaluation ({final:.4g}) is far below its best ({best:.4g} at {best_step} env steps): "
        "it lost what it had learned"
    )
    theirs, experts = (agent or {}).get("reward_return_mean"), (agent or {}).get("expert_reward_return")
    if theirs is not None and experts is not None:
        found["reward_prefers_expert"] = bool(experts > theirs)
        if experts > theirs:
            note += (
                f"; the reward still rates the expert ({experts:.4g}) above the final agent ({theirs:.4g}), so it "
                "was no exploit: the learner lost it (small reward margins make that easier; the task-reward "
                "oracle tells): keep the best agent (--set loop.keep_best=true, then agent:WORKDIR@best) or "
                "steady the learner (a lower learning rate, agent.* of its config)"
            )
        else:
            note += (
                f"; the reward rates the final agent ({theirs:.4g}) at or above the expert ({experts:.4g}): it was led "
                "away by behaviour the reward overrates (benchmarks/stillness.py)"
            )
    found["note"] = note
    return found


def _tokenizer_foreground(wd: Workdir, plan: Any, out: Path) -> tuple[dict[str, Any] | None, str | None]:
    """Foreground and whole-frame PSNR of the tokenizer on held-out frames, and the figure."""
    try:
        info = wd.latest_info("tokenizer")
        stored = wd.latest("tokenizer") / FOREGROUND_FILE
        if "foreground_psnr" in info.get("metrics", {}) and stored.exists():  # measured when it was fitted
            atomic_write_bytes(out / FOREGROUND_FILE, stored.read_bytes())
            return {k: info["metrics"][k] for k in FOREGROUND_KEYS}, None
        data = Path(plan.config.data) if plan.config.data else wd.latest("data") / "dataset"
        val_fraction = float(info.get("config", {}).get("val_fraction", 0.1))
        metrics = evaluate_tokenizer_foreground(
            wd, VideoDataset(data), out / FOREGROUND_FILE, val_fraction=val_fraction, host=plan.host
        )
    except (ViperError, OSError, ValueError) as exc:
        return None, f"tokenizer foreground PSNR: skipped ({exc})"
    return {k: metrics[k] for k in FOREGROUND_KEYS}, None
