"""The ``agent`` stage (``viper-run train``): an agent trained on an env with the chosen reward.

The stage is keyed by everything but ``loop.steps`` and where the envs step (``loop.backend``,
``num_workers``, ``ray_address``): a finished stage with at least ``steps``
steps is reused, one with fewer (or a killed one) continues from its checkpoint. Rewards that
read a trained model also key the stage by the workdir's data / tokenizer / video model folders.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from viper.core.components import literal_options, make_config, make_env, resolve_env
from viper.core.config import build_config, to_dict
from viper.core.errors import ConfigError
from viper.core.frameworks import configure_frameworks
from viper.core.loop import LoopConfig, train_agent
from viper.core.loop.checkpoint import json_safe
from viper.core.media import plot_learning_curve
from viper.core.plugins import PluginHost, get_host
from viper.core.protocols import Agent, Reward
from viper.core.rewarding import build_training_reward, expert_dataset, reward_context
from viper.core.stages.lifecycle import report_cached, run_stage, upstream_folders
from viper.core.workdir import StageContext, Workdir

SECTIONS = ("agent", "reward", "explore", "loop", "env")
#: Loop options that say how far or where a run goes, not what it computes: a longer run
#: continues the stage, and a Ray run (same seeds, same numbers) shares the local run's folder.
UNKEYED_LOOP = ("steps", "backend", "num_workers", "ray_address")


def train_stage(
    workdir: str | Path | Workdir,
    env: str,
    agent: str,
    reward: str,
    *,
    steps: int | None = None,
    seed: int = 0,
    options: dict[str, dict[str, Any]] | None = None,
    size: int = 64,
    progress: bool = True,
    host: PluginHost | None = None,
    reward_obj: Reward | None = None,
    explore: str | None = None,
    beta: float | None = None,
    data: str | Path | None = None,
) -> dict[str, Any]:
    """Train ``agent`` on ``env`` with ``reward`` (plus ``beta`` times the ``explore`` bonus, if
    given) inside the workdir stage ``agent``.

    ``options`` maps ``agent``/``reward``/``explore``/``loop``/``env`` to ``--set`` values.
    ``reward_obj`` (optional) is a reward the caller already built. ``data`` is the expert
    dataset a reward may read (AMP, the ``viper`` offset) when the workdir has no data stage
    (``--data DIR``). Returns the final metrics,
    including ``stage_dir`` and ``cached``.
    """
    configure_frameworks()
    host = host or get_host()
    options = {k: dict(v) for k, v in (options or {}).items()}
    unknown = sorted(set(options) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"--set {unknown[0]}.*: unknown section; expected agent, reward, explore, loop or env")
    name, suite = resolve_env(env, host)
    loop_options = {**options.get("loop", {}), "seed": seed}
    if steps is not None:
        loop_options["steps"] = steps
    loop_config = build_config(LoopConfig, loop_options, where="--set loop")
    if loop_config.backend == "ray":
        from viper.core.loop.ray_backend import import_ray

        import_ray()  # a missing Ray is named before the reward's models load
    agent_config = make_config("agent", agent, options.get("agent"), host)
    reward_config = make_config("reward", reward, options.get("reward"), host) if reward_obj is None else None
    explore_config = make_config("reward", explore, options.get("explore"), host) if explore is not None else None
    wd = workdir if isinstance(workdir, Workdir) else Workdir(workdir)
    identity = {
        "env": str(name),
        "size": size,
        "env_options": options.get("env", {}),
        "agent": agent,
        "agent_config": to_dict(agent_config),
        "reward": reward,
        "reward_config": to_dict(reward_config),
    }
    if explore is not None:
        identity.update(explore=explore, beta=beta, explore_config=to_dict(explore_config))
    stage_config = {
        **identity,
        "loop": {k: v for k, v in to_dict(loop_config).items() if k not in UNKEYED_LOOP},
        "depends": upstream_folders(wd) if reward != "task" else {},
    }
    stage = wd.stage("agent", stage_config, component=agent)
    info = stage.info
    if stage.done and info.get("metrics", {}).get("env_steps", 0) >= loop_config.steps:
        stage.reuse()
        report_cached("agent", stage.directory)
        return {**info["metrics"], "stage_dir": str(stage.directory), "cached": True}

    env_fn = functools.partial(make_env, str(name), size=size, **literal_options(options.get("env", {})))
    if reward_obj is None:
        expert = expert_dataset(wd, data)
        context = reward_context(wd, suite, name.task, size=size, seed=seed, host=host, expert_data=expert)
        reward_obj = build_training_reward(
            reward,
            context,
            options=options.get("reward"),
            explore=explore,
            beta=beta,
            explore_options=options.get("explore"),
            host=host,
        )
    factory = host.load("agent", agent)

    def agent_fn(obs_space: Any, act_space: Any, agent_seed: int) -> Agent:
        return factory(agent_config, obs_space, act_space, agent_seed)

    def work(ctx: StageContext) -> dict[str, Any]:
        metrics = train_agent(
            loop_config, ctx, env_fn=env_fn, agent_fn=agent_fn, reward=reward_obj, identity=json_safe(identity)
        )
        plot_learning_curve(
            wd.path / "metrics.jsonl", stage.directory / "learning_curve.png", stage="agent", run=stage.directory.name
        )
        return metrics

    metrics = run_stage(stage, work, seed=seed, progress=progress)
    return {**metrics, "stage_dir": str(stage.directory), "cached": False}
