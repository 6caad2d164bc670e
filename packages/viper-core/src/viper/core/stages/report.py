"""The run report: what a person looks at after ``viper-run`` (``WORKDIR/report/``).

``report.html`` and ``report.md`` (same content) with PNGs beside them, plus ``report.json``
holding every number: the agent's learning curve of TRUE return against the scripted expert's
and a random policy's, the reward-vs-true-return scatter with its correlation, the tokenizer's
reconstructions, a rollout GIF of the trained agent, the diagnostics of why the reward teaches
or not (:mod:`viper.core.stages.report_diagnostics`: the reward along an episode and by distance
to the goal, per-frame bits under the video model with the trained agent beside the scripted
policies, the tokenizer's PSNR on the foreground), and the config and timing of each stage.

Unlike the other stages the report is not cached: it is cheap and is rewritten on every run, so
it always shows the stages the run just used (their folders and timings come from the workdir).
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from viper.core.errors import ViperError
from viper.core.media import plot_learning_curve, read_mp4, write_gif
from viper.core.metrics import read_metrics
from viper.core.stages.report_diagnostics import report_diagnostics, unlearned
from viper.core.statistics import IDLE_ADVICE, IDLE_WARNING
from viper.core.workdir import Workdir

STAGES = ("data", "tokenizer", "video_model", "score", "agent")
#: Sections a run without an agent (``--steps 0``) leaves out.
AGENT_SECTIONS = ("Learning curve (true return)", "Trained agent (last evaluation episode)")


def _stage_info(wd: Workdir, stage: str) -> dict[str, Any]:
    try:
        return wd.latest_info(stage) | {"folder": wd.latest(stage).name}
    except (ViperError, OSError, ValueError):
        return {}


def _rollout_gif(agent_dir: Path, out: Path, scale: int = 2) -> Path | None:
    """The newest evaluation video of the agent as an upscaled looping GIF."""
    videos = sorted((agent_dir / "videos").glob("eval-*.mp4"))
    if not videos:
        return None
    try:
        frames = read_mp4(videos[-1])
    except Exception:  # a video we cannot read back only costs the report its GIF
        return None
    return write_gif(out, frames, scale=scale, frame_ms=50)


def _copy(source: Path | None, out: Path) -> Path | None:
    if source is None or not Path(source).exists():
        return None
    atomic_write_bytes(out, Path(source).read_bytes())
    return out


def write_report(wd: Workdir, plan: Any, scored: Any, trained: dict[str, Any] | None, run_seconds: float) -> Path:
    """Write ``report.html``, ``report.md`` and ``report.json`` into ``WORKDIR/report``; ``trained``
    None (a run with ``--steps 0``) reports the reward alone, its agent numbers None."""
    out = wd.path / "report"
    out.mkdir(parents=True, exist_ok=True)
    summary = scored.summary
    reward_name = plan.components["reward"][0]
    policies = summary["policies"]
    expert = policies.get("expert", {}).get("true_return_mean")
    random = policies.get("random", {}).get("true_return_mean")
    agent_dir = Path(trained["stage_dir"]) if trained else None
    evals = []
    if agent_dir is not None:
        evals = [r for r in read_metrics(wd.path / "metrics.jsonl", "agent", agent_dir.name) if "eval/return" in r]
    final = evals[-1] if evals else {}
    final_return = float(final.get("eval/return", np.nan)) if agent_dir is not None else None
    lines = {k: v for k, v in (("scripted expert", expert), ("random policy", random)) if v is not None}

    files: dict[str, str] = {}
    if agent_dir is not None and plot_learning_curve(
        wd.path / "metrics.jsonl", out / "learning_curve.png", "agent", agent_dir.name, lines
    ):
        files["learning_curve"] = "learning_curve.png"
    if _copy(scored.plot, out / "reward_scatter.png"):
        files["scatter"] = "reward_scatter.png"
    if _copy(scored.video, out / "reward_episodes.mp4"):
        files["reward_video"] = "reward_episodes.mp4"
    tokenizer = _stage_info(wd, "tokenizer")
    if tokenizer and _copy(wd.path / tokenizer["folder"] / "reconstructions.png", out / "reconstructions.png"):
        files["reconstructions"] = "reconstructions.png"
    if agent_dir is not None and _rollout_gif(agent_dir, out / "agent_rollout.gif"):
        files["rollout"] = "agent_rollout.gif"
    diagnostics = report_diagnostics(wd, plan, scored, agent_dir, out)
    files.update(diagnostics.pop("files"))
    lost = unlearned(
        [(int(r["step"]), float(r["eval/return"])) for r in evals],
        expert,
        random,
        (diagnostics["score"] or {}).get("agent_episodes"),
    )
    if lost:
        diagnostics["notes"].append(lost["note"])

    agent_json = agent_dir / "stage.json" if agent_dir is not None else None
    agent_config = read_json(agent_json).get("config", {}) if agent_json and agent_json.exists() else {}
    obs_keys = agent_config.get("agent_config", {}).get("obs_keys")
    stages = {s: _stage_info(wd, s) for s in STAGES}
    numbers = {
        "env": str(plan.env),
        "components": {kind: name for kind, (name, _) in plan.components.items()},
        "explore": plan.config.explore,
        "beta": plan.config.beta,
        "preset": plan.config.preset,
        "agent_eval_return": final_return,
        "agent_eval_return_std": final.get("eval/return_std"),
        # Success rates: only for envs with a success test (info["success"]; metaworld), else None.
        "agent_eval_success": final.get("eval/success"),
        "expert_success": policies.get("expert", {}).get("success_rate"),
        "random_success": policies.get("random", {}).get("success_rate"),
        # Share of the starting distance to the goal closed (envs with info["goal_distance"]).
        "agent_eval_goal_progress": final.get("eval/goal_progress"),
        "expert_goal_progress": policies.get("expert", {}).get("goal_progress"),
        "random_goal_progress": policies.get("random", {}).get("goal_progress"),
        "agent_eval_episodes": (int(plan.loop.get("eval_episodes", 0)) or None) if trained else None,
        "agent_env_steps": trained.get("env_steps") if trained else None,
        "expert_return": expert,
        "random_return": random,
        "fraction_of_expert": (final_return / expert) if expert and final_return is not None else None,
        "learning_curve": [[r["step"], r["eval/return"]] for r in evals],
        "agent_best_eval_return": max((r["eval/return"] for r in evals), default=None),
        "unlearned": {k: v for k, v in lost.items() if k != "note"} if lost else None,
        "reward": reward_name,
        "spearman": summary["spearman"].get(reward_name),
        "pearson": summary["pearson"].get(reward_name),
        "ordered": summary["ordered"].get(reward_name),
        "lengths_vary": summary.get("lengths_vary", False),
        "spearman_per_step": summary.get("spearman_per_step", {}).get(reward_name),
        "ordered_per_step": summary.get("ordered_per_step", {}).get(reward_name),
        "idle_position": (summary.get("idle_position") or {}).get(reward_name),
        "score_table": {
            p: {"true_return": v["true_return_mean"], "reward_return": v["reward_return_mean"][reward_name]}
            for p, v in policies.items()
        },
        "tokenizer_metrics": tokenizer.get("metrics", {}),
        "video_model_metrics": stages["video_model"].get("metrics", {}),
        "agent_observes": list(obs_keys) if obs_keys else None,
        "stage_seconds": {s: round(float(i.get("seconds", 0.0)), 1) for s, i in stages.items() if i},
        "stage_folders": {s: i.get("folder") for s, i in stages.items() if i},
        "run_seconds": round(run_seconds, 1),
        "diagnostics": _diagnostic_numbers(diagnostics),
        "files": files,
    }
    atomic_write_json(out / "report.json", numbers)
    atomic_write_text(out / "report.md", _markdown(numbers, plan))
    atomic_write_text(out / "report.html", _html(numbers, plan))
    agent = (diagnostics["score"] or {}).get("agent_episodes") or {}
    if lost:
        print(f"warning: {lost['note']}; see {out / 'report.html'}", file=sys.stderr)
    if agent.get("overrated_against"):  # the one finding a user must not have to dig for
        print(
            f"warning: the {agent['reward']} reward rates the trained agent (true return "
            f"{_fmt(agent['true_return_mean'])}) above {', '.join(agent['overrated_against'])}, which truly do "
            f"better: the reward overrates what the agent does; see {out / 'report.html'}",
            file=sys.stderr,
        )
    return out / "report.html"


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, (float, int)) else str(value)


def _shares(n: dict[str, Any], heading: str, agent: str, expert: str, random: str) -> str:
    """`` Heading: the agent A%, the scripted expert E%, a random policy R%.`` from the numbers'
    keys (those that are None are left out), or "" when the agent's is None (the env has none)."""
    if n.get(agent) is None:
        return ""
    shares = [(n[agent], "the agent"), (n.get(expert), "the scripted expert"), (n.get(random), "a random policy")]
    return f" {heading}: " + ", ".join(f"{who} {_fmt(100 * r, 0)}%" for r, who in shares if r is not None) + "."


def _sections(n: dict[str, Any], plan: Any) -> list[tuple[str, list[str], str | None]]:
    """(title, paragraphs, image file) triples shared by the HTML and Markdown renderings."""
    reward = n["reward"]
    pct = n["fraction_of_expert"]
    observes = n["agent_observes"]
    seeing = (
        f"The agent observes `{', '.join(observes)}`; the reward model sees the 64x64 frames."
        if observes and "image" not in observes
        else "The agent observes pixels, like the reward model."
    )
    if n["agent_env_steps"] is None:
        result = [
            f"No agent was trained (`--steps 0`): this report covers the **{reward}** reward alone. The scripted "
            f"expert's true return is {_fmt(n['expert_return'])}; a random policy gets {_fmt(n['random_return'])}."
        ]
    else:
        result = [
            f"After {n['agent_env_steps']} env steps trained on the **{reward}** reward only"
            + (f" (+ {n['beta']} x {n['explore']})" if n["explore"] else "")
            + f", the agent's true return over {n['agent_eval_episodes']} evaluation episodes is "
            f"**{_fmt(n['agent_eval_return'])}** (± {_fmt(n['agent_eval_return_std'])}), "
            f"{_fmt(100 * pct if pct is not None else None, 0)}% of the scripted expert's "
            f"{_fmt(n['expert_return'])}; a random policy gets {_fmt(n['random_return'])}.",
            "The environment's own reward was never used for training, only for this evaluation. " + seeing,
        ]
    result[0] += _shares(n, "Success rate", "agent_eval_success", "expert_success", "random_success")
    result[0] += _shares(
        n,
        "Share of the starting distance to the goal closed",
        "agent_eval_goal_progress",
        "expert_goal_progress",
        "random_goal_progress",
    )
    table = ["| policy | true return | " + reward + " return |", "|---|---|---|"]
    table += [f"| {p} | {_fmt(v['true_return'])} | {_fmt(v['reward_return'])} |" for p, v in n["score_table"].items()]
    scatter = [
        f"Before training the agent, the reward was checked on rollouts of the scripted expert, the expert "
        f"with action noise, and a random policy: Spearman rank correlation between summed {reward} reward and "
        f"true return **{_fmt(n['spearman'], 3)}** (Pearson {_fmt(n['pearson'], 3)}); mean reward ordered "
        f"expert > noisy > random: **{'yes' if n['ordered'] else 'no'}**.",
        "\n".join(table),
    ]
    if n.get("idle_position") is not None:
        scatter.insert(
            1,
            f"Doing nothing (`idle`, the zero action; scored, not ranked) earns **{_fmt(n['idle_position'], 2)}** of "
            "the way from random play (0) to the expert (1)"
            + (f": {IDLE_ADVICE}." if n["idle_position"] >= IDLE_WARNING else "."),
        )
    if n["lengths_vary"]:
        scatter.insert(
            1,
            "Episodes end at different lengths (the task terminates early), and a reward that is negative every "
            "step sums to less for short episodes: per-step mean reward vs true return, Spearman "
            f"**{_fmt(n['spearman_per_step'], 3)}**, ordered: **{'yes' if n['ordered_per_step'] else 'no'}**. "
            "An agent may learn to end such episodes early.",
        )
    tok, vm = n["tokenizer_metrics"], n["video_model_metrics"]
    models = [
        f"Tokenizer `{n['components']['tokenizer']}`: validation PSNR {_fmt(tok.get('val_psnr'))} dB, "
        f"codebook perplexity {_fmt(tok.get('perplexity'))}. Video model `{n['components']['video_model']}`: "
        f"bits per code train {_fmt(vm.get('train_bits_per_code'), 3)}, validation {_fmt(vm.get('val_bits_per_code'), 3)}. "
        "Top rows: held-out frames; bottom rows: their reconstructions."
    ]
    timing = ["| stage | seconds | folder |", "|---|---|---|"]
    timing += [f"| {s} | {n['stage_seconds'][s]} | {n['stage_folders'][s]} |" for s in n["stage_seconds"]]
    timing.append(f"| **whole run (this invocation)** | {n['run_seconds']} | |")
    config = json.dumps(plan.resolved(), indent=2, sort_keys=True, default=str)
    sections = [
        ("Result", result, None),
        (
            "Learning curve (true return)",
            ["Evaluation return of the agent during training, with the scripted expert and a random policy as lines."],
            n["files"].get("learning_curve"),
        ),
        ("Does the reward rank behaviour like the true return?", scatter, n["files"].get("scatter")),
        ("Tokenizer reconstructions", models, n["files"].get("reconstructions")),
        *_diagnostic_sections(n),
        ("Trained agent (last evaluation episode)", [], n["files"].get("rollout")),
        ("Stage timings", ["\n".join(timing)], None),
        ("Configuration", ["```\n" + config + "\n```"], None),
    ]
    if n["agent_env_steps"] is None:  # no agent stage: no curve, no rollout
        sections = [s for s in sections if s[0] not in AGENT_SECTIONS]
    return sections


def _diagnostic_numbers(diagnostics: dict[str, Any]) -> dict[str, Any]:
    """What report.json keeps of the diagnostics: curves and tables, per-frame values summarised."""
    score = diagnostics["score"] or {}
    frames = score.get("frame_scores")
    return {
        "along_episode": score.get("along_episode"),
        "by_distance": score.get("by_distance"),
        "by_direction": score.get("by_direction"),
        "frame_scores": None if not frames else {k: frames[k] for k in ("quantity", "likelihood", "summary")},
        "agent_episodes": score.get("agent_episodes"),
        "tokenizer_foreground": diagnostics["tokenizer"],
        "notes": diagnostics["notes"],
    }


def _direction_gaps(by_direction: dict[str, Any] | None) -> str:
    gaps = {r: t.get("gap") for r, t in (by_direction or {}).items() if t.get("gap") is not None}
    if not gaps:
        return ""
    far = {r: t.get("gap_far") for r, t in (by_direction or {}).items()}
    return (
        " Gaps: "
        + ", ".join(
            f"{r} {_fmt(g, 3)}" + ("" if far[r] is None else f" ({_fmt(far[r], 3)} far from the goal)")
            for r, g in gaps.items()
        )
        + "."
    )


def _diagnostic_sections(n: dict[str, Any]) -> list[tuple[str, list[str], str | None]]:
    """Why the reward teaches or not: one section per figure, each saying how to read it."""
    d, files = n["diagnostics"], n["files"]
    agent = d.get("agent_episodes")
    kept = (
        f" The agent's {agent['episodes']} kept episodes have a true return of {_fmt(agent['true_return_mean'])} "
        f"± {_fmt(agent['true_return_std'])}"
        + (
            f" and a {agent['reward']} return of {_fmt(agent['reward_return_mean'])} (the score table's reward)"
            if agent.get("reward_return_mean") is not None
            else ""
        )
        + "."
        + (
            f" **The reward rates them above {', '.join(agent['overrated_against'])}, which truly do better**: "
            "the agent found behaviour the reward overrates (see the notes)."
            if agent.get("overrated_against")
            else ""
        )
        if agent
        else ""
    )
    sections = [
        (
            "Reward along an episode",
            [
                "Mean reward at each step t (band: ± 1 std over episodes) for every policy, the trained agent's "
                "final evaluation episodes included when they were kept. A reward that teaches is higher for the "
                "expert than for worse policies at most steps and rises as the expert nears its goal; curves that "
                "overlap or cross give an agent little signal." + kept
            ],
            files.get("along_episode"),
        )
    ]
    if files.get("by_distance"):
        sections.append(
            (
                "Reward by distance to the goal",
                [
                    "Every scored step's reward (all policies together) averaged within 10 quantile bins of the "
                    'env\'s `info["goal_distance"]` (error bars: ± 1 std). It should fall steadily as the distance '
                    "grows: a flat stretch is a range of distances where the reward does not say which way to go. "
                    "The triangles split each bin's steps by direction: those that brought the agent closer (green) "
                    "and those that took it away (red). The gap (toward minus away, averaged over bins) is what an "
                    "agent far from the goal can learn from; near zero, moving toward the goal earns no more than "
                    "moving away." + _direction_gaps(d.get("by_direction"))
                ],
                files["by_distance"],
            )
        )
    frames = d.get("frame_scores")
    if frames:
        table = ["| policy | frames | median | mean |", "|---|---|---|---|"]
        table += [
            f"| {p} | {v['count']} | {_fmt(v.get('median'), 3)} | {_fmt(v.get('mean'), 3)} |"
            for p, v in frames["summary"].items()
        ]
        sections.append(
            (
                "Frames under the video model",
                [
                    f"Per-frame {frames['quantity']} of each policy's frames 1..T given their context (boxes: "
                    "quartiles, whiskers: 1.5 IQR). "
                    "The scored expert episodes use seeds the model never trained on, so the expert's box is the "
                    "held-out reference: the agent's frames near it look expert-like to the model, noisy and random "
                    "frames well away from it are what the reward can tell apart.",
                    "\n".join(table),
                ],
                files.get("frame_bits"),
            )
        )
    fg = d.get("tokenizer_foreground")
    if fg:
        sections.append(
            (
                "Tokenizer on the pixels that matter",
                [
                    f"On {fg['foreground_frames']} held-out frames: PSNR **{_fmt(fg['frame_psnr'])} dB** over the whole frame, "
                    f"**{_fmt(fg['foreground_psnr'])} dB** over the foreground ({_fmt(100 * fg['foreground_fraction'])}% "
                    f"of the pixels: those differing from the dataset's median frame by more than {fg['foreground_threshold']:g} "
                    f"levels, i.e. the body, the object and the target), {_fmt(fg['background_psnr'])} dB over the rest. "
                    "A foreground PSNR far below the whole-frame one means the codes lose what the reward should see. "
                    "Rows: originals, reconstructions, foreground mask."
                ],
                files.get("foreground"),
            )
        )
    if d.get("notes"):
        sections.append(("Diagnostics notes", ["; ".join(d["notes"]) + "."], None))
    return sections


def _markdown(n: dict[str, Any], plan: Any) -> str:
    parts = [f"# viper run: {n['env']} ({n['preset']} preset)\n"]
    for title, paragraphs, image in _sections(n, plan):
        parts.append(f"## {title}\n")
        parts += [p + "\n" for p in paragraphs]
        if image:
            parts.append(f"![{title}]({image})\n")
    return "\n".join(parts)


def _inline(text: str) -> str:
    """The little Markdown the sections use (**bold**, `code`), escaped for HTML."""
    import re

    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _html_block(text: str) -> str:
    if text.startswith("```"):
        return "<pre>" + html.escape(text.strip("`\n")) + "</pre>"
    if text.startswith("|"):
        rows = [r for r in text.splitlines() if not set(r) <= set("|-")]
        cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
        head = "".join(f"<th>{_inline(c)}</th>" for c in cells[0])
        body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in cells[1:])
        return f"<table><tr>{head}</tr>{body}</table>"
    return f"<p>{_inline(text)}</p>"


def _html(n: dict[str, Any], plan: Any) -> str:
    body = [f"<h1>viper run: {html.escape(n['env'])} <small>({html.escape(n['preset'])} preset)</small></h1>"]
    for title, paragraphs, image in _sections(n, plan):
        body.append(f"<h2>{html.escape(title)}</h2>")
        body += [_html_block(p) for p in paragraphs]
        if image:
            body.append(f'<img src="{html.escape(image)}" alt="{html.escape(title)}">')
    if n["files"].get("reward_video"):
        body.append(
            '<h2>Episodes with their per-frame reward</h2><video controls loop src="reward_episodes.mp4" width="512"></video>'
        )
    style = (
        "body{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;padding:0 1em;color:#222}"
        "img{max-width:100%;border:1px solid #ddd;image-rendering:pixelated}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}pre{background:#f6f6f6;padding:1em;"
        "overflow:auto;font-size:12px}h1 small{color:#777;font-weight:normal}"
    )
    return f"<!doctype html><html><head><meta charset='utf-8'><title>viper run {html.escape(n['env'])}</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n"


__all__ = ["write_report"]
