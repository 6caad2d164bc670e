"""The ``data`` stage: the scripted expert's videos (skipped when ``--data`` names a dataset)."""

from __future__ import annotations

from pathlib import Path

from viper.core.collect import collect
from viper.core.components import EnvName
from viper.core.errors import ConfigError, ViperError
from viper.core.plugins import PluginHost
from viper.core.stages.lifecycle import report_cached, run_stage
from viper.core.workdir import Workdir


def collect_stage(wd: Workdir, env: EnvName, episodes: int, *, seed: int = 0, host: PluginHost | None = None) -> Path:
    """Record ``episodes`` expert episodes of ``env`` (topping up a killed collection); returns
    the dataset folder."""
    stage = wd.stage("data", {"env": str(env), "episodes": episodes, "seed": seed, "policy": "expert"})
    dataset = stage.directory / "dataset"

    def work(_ctx: object) -> dict[str, int]:
        collect(env, episodes, dataset, seed=seed, resume=True, host=host)
        return {"episodes": episodes}

    if stage.done:
        report_cached("data", stage.directory)
    else:
        run_stage(stage, work, seed=seed)
    return dataset


def require_data(data: str | None, workdir: Workdir) -> Path:
    """``--data`` if given, else the dataset the workdir's collect stage wrote."""
    if data is not None:
        return Path(data)
    try:
        return workdir.latest("data") / "dataset"
    except ViperError:
        raise ConfigError(f"--data: required (the workdir {workdir.path} holds no collected dataset)") from None
