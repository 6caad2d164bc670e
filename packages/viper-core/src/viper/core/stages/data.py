"""The ``data`` stage: the scripted expert's videos, or a trained agent's (``--expert
agent:WORKDIR``; skipped when ``--data`` names a dataset); and
the ``random`` stage: random-policy episodes of the same env that only the tokenizer trains on.

The expert rarely shows some frames an agent will produce (an empty target, the body far from it);
a tokenizer that never saw them draws them as the expert's frames, so the reward cannot tell them
apart. The random policy exists for every env, also where the expert videos are the user's own
(``--data``). Its episodes live in their own stage (``random-<hash>``, its own ``latest.json``
entry), so ``latest("data")`` stays the expert data that the video model and rewards read."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from viper.core.collect import collect
from viper.core.components import EnvName
from viper.core.errors import ConfigError, ViperError
from viper.core.plugins import PluginHost
from viper.core.stages.lifecycle import report_cached, run_stage
from viper.core.workdir import Workdir


def collect_stage(
    wd: Workdir,
    env: EnvName,
    episodes: int,
    *,
    seed: int = 0,
    host: PluginHost | None = None,
    env_options: Mapping[str, Any] | None = None,
    expert: str = "expert",
) -> Path:
    """Record ``episodes`` episodes of ``expert`` (the suite's scripted expert or ``agent:WORKDIR``)
    on ``env`` made with ``env_options`` (topping up a killed collection); returns the dataset folder."""
    config: dict[str, Any] = {"env": str(env), "episodes": episodes, "seed": seed, "policy": expert}
    return _recorded(wd, "data", "data", config, env, episodes, seed, host, env_options, policy=expert)


#: Random episode ``i`` resets with seed ``seed + RANDOM_SEED_OFFSET + i``: apart from the expert's
#: ``seed + i`` (any episode count below it) and the score stage's ``seed + 10_000 + i``.
RANDOM_SEED_OFFSET = 1_000_000


def random_stage(
    wd: Workdir,
    env: EnvName,
    episodes: int,
    *,
    seed: int = 0,
    size: int = 64,
    host: PluginHost | None = None,
    env_options: Mapping[str, Any] | None = None,
) -> Path:
    """Record ``episodes`` random-policy episodes of ``env`` at ``size`` pixels into the
    ``random`` stage (topping up a killed collection); returns the dataset folder."""
    first = seed + RANDOM_SEED_OFFSET
    config: dict[str, Any] = {"env": str(env), "episodes": episodes, "seed": first, "policy": "random", "size": size}
    return _recorded(
        wd, "random", "random episodes", config, env, episodes, first, host, env_options, policy="random", size=size
    )


def _recorded(
    wd: Workdir,
    kind: str,
    label: str,
    config: dict[str, Any],
    env: EnvName,
    episodes: int,
    seed: int,
    host: PluginHost | None,
    env_options: Mapping[str, Any] | None,
    **collect_options: Any,
) -> Path:
    """The stage ``kind`` named by ``config`` that records ``episodes`` episodes from reset seed
    ``seed`` on (cached when done, topped up when killed); returns its dataset folder."""
    if env_options:  # only when given, so the folders of runs without env options keep their names
        config = {**config, "env_options": dict(env_options)}
    stage = wd.stage(kind, config)
    dataset = stage.directory / "dataset"

    def work(_ctx: object) -> dict[str, int]:
        collect(env, episodes, dataset, seed=seed, resume=True, host=host, env_options=env_options, **collect_options)
        return {"episodes": episodes}

    if stage.done:
        stage.reuse()
        report_cached(label, stage.directory)
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
