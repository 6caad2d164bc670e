"""The stages of the main pipeline, each cached in the workdir by its config.

    data -> tokenizer -> video_model -> score -> agent -> report

A stage whose config (including the folders of the stages it reads) is unchanged is skipped; a
killed stage resumes from its own checkpoints when the same command runs again. Every stage's
wall time is recorded in its ``stage.json`` and shown in the report.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from viper.core.collect import collect
from viper.core.config import to_dict
from viper.core.fitting import fit_tokenizer, fit_video_model
from viper.core.loop import train_stage
from viper.core.report import write_report
from viper.core.scoring import ScoreConfig, score
from viper.core.workdir import Workdir


def _banner(name: str) -> None:
    print(f"\n== {name} ==", flush=True)


def run_data(plan: Any, wd: Workdir) -> Path:
    """The scripted expert's videos (or ``--data``)."""
    if plan.config.data is not None:
        return Path(plan.config.data)
    episodes = plan.config.episodes or plan.config.sizes["episodes"]
    stage = wd.stage("data", {"env": str(plan.env), "episodes": episodes, "seed": plan.config.seed, "policy": "expert"})
    if stage.done:
        print(f"data: cached in {stage.directory}")
    else:
        stage.start()
        collect(plan.env, episodes, stage.directory / "dataset", seed=plan.config.seed, resume=True, host=plan.host)
        stage.finish({"episodes": episodes})
    return stage.directory / "dataset"


def run_stages(plan: Any) -> dict[str, Any]:
    """Run (or reuse) every stage; returns the report's numbers and its path."""
    cfg = plan.config
    wd = Workdir(cfg.workdir)
    wd.write_run_config(plan.resolved())
    started = time.time()
    progress = True

    _banner("1/6 collect expert videos")
    data = run_data(plan, wd)

    _banner("2/6 fit the tokenizer")
    tok_name, tok_config = plan.components["tokenizer"]
    fit_tokenizer(
        data, wd.path, name=tok_name, options=to_dict(tok_config), seed=cfg.seed, host=plan.host, progress=progress
    )

    _banner("3/6 fit the video model")
    model_name, model_config = plan.components["video_model"]
    fit_video_model(
        wd.path, data, name=model_name, options=to_dict(model_config), seed=cfg.seed, host=plan.host, progress=progress
    )

    _banner("4/6 check the reward against the true return")
    reward_name, reward_config = plan.components["reward"]
    scored = score(
        wd,
        ScoreConfig(
            env=str(plan.env),
            episodes=cfg.sizes["score_episodes"],
            rewards=(reward_name,),
            options={reward_name: to_dict(reward_config)},
            seed=cfg.seed,
            data=str(data),
        ),
        host=plan.host,
        progress=progress,
    )
    if scored.cached:
        print(f"score: cached in {scored.directory}")
    print(scored.table())

    _banner("5/6 train the agent on the chosen reward")
    agent_name, agent_config = plan.components["agent"]
    options = {"agent": to_dict(agent_config), "reward": to_dict(reward_config), "loop": dict(plan.loop)}
    if plan.explore is not None:
        options["explore"] = to_dict(plan.explore)
    trained = train_stage(
        wd,
        str(plan.env),
        agent_name,
        reward_name,
        steps=cfg.steps or cfg.sizes["steps"],
        seed=cfg.seed,
        options=options,
        progress=progress,
        host=plan.host,
        explore=cfg.explore,
        beta=cfg.beta,
    )

    _banner("6/6 report")
    report = write_report(wd, plan, scored, trained, run_seconds=time.time() - started)
    return {"report": str(report), "score": scored.summary, "agent": trained}
