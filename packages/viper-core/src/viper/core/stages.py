"""The stages of the main pipeline, each cached in the workdir by its config.

    data -> tokenizer -> video_model -> score -> agent -> report

A stage whose config (including the folders of the stages it reads) is unchanged is skipped; a
killed stage resumes from its own checkpoints when the same command runs again.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from viper.core.collect import collect
from viper.core.config import to_dict
from viper.core.fitting import fit_tokenizer, fit_video_model
from viper.core.workdir import Workdir

#: Expert episodes and agent steps per preset (``--episodes`` / ``--steps`` override them).
PRESET_SIZES = {
    "quick": {"episodes": 40, "steps": 20_000},
    "paper": {"episodes": 200, "steps": 1_000_000},
}


@dataclasses.dataclass
class StageTiming:
    name: str
    seconds: float
    cached: bool


def run_data(plan: Any, wd: Workdir, timings: list[StageTiming]) -> Path:
    """Collect the scripted expert's videos (or use ``--data``)."""
    if plan.config.data is not None:
        return Path(plan.config.data)
    episodes = plan.config.episodes or PRESET_SIZES[plan.config.preset]["episodes"]
    stage = wd.stage("data", {"env": str(plan.env), "episodes": episodes, "seed": plan.config.seed, "policy": "expert"})
    t0 = time.time()
    if not stage.done:
        stage.start()
        collect(plan.env, episodes, stage.directory / "dataset", seed=plan.config.seed, resume=True, host=plan.host)
        stage.finish({"episodes": episodes})
    timings.append(StageTiming("collect", time.time() - t0, cached=stage.info.get("attempts", 1) == 0))
    return stage.directory / "dataset"


def run_stages(plan: Any) -> dict[str, Any]:
    wd = Workdir(plan.config.workdir)
    wd.write_run_config(plan.resolved())
    timings: list[StageTiming] = []
    data = run_data(plan, wd, timings)
    (tok_name, tok_config), (model_name, model_config) = plan.components["tokenizer"], plan.components["video_model"]
    t0 = time.time()
    fit_tokenizer(data, wd.path, name=tok_name, options=to_dict(tok_config), seed=plan.config.seed, host=plan.host)
    timings.append(StageTiming("tokenizer", time.time() - t0, cached=False))
    t0 = time.time()
    fit_video_model(wd.path, data, name=model_name, options=to_dict(model_config), seed=plan.config.seed, host=plan.host)
    timings.append(StageTiming("video_model", time.time() - t0, cached=False))
    return {"timings": timings}
