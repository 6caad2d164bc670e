"""The main job: collect -> fit tokenizer -> fit video model -> score -> train agent -> report.

:func:`resolve` checks every component before any work starts, so a missing plugin or a
misspelt option fails in the first second with a message naming it. Each stage is cached in the
workdir by its config (see :mod:`viper.core.workdir` and :mod:`viper.core.stages`).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, ClassVar

from viper.core.components import EnvName, check_env_options, check_task, load_suite, make_config, parse_env
from viper.core.config import apply_preset, build_config, config_class, to_dict, validate
from viper.core.config import option as config_option
from viper.core.errors import ConfigError, ContractError, ViperError
from viper.core.plugins import PluginHost, get_host
from viper.core.trained_agent import check_expert, is_expert_name

#: (option name, component kind) for each swappable part, in pipeline order.
PARTS = (("tokenizer", "tokenizer"), ("model", "video_model"), ("reward", "reward"), ("agent", "agent"))

#: What each ``--preset`` sets besides the components' own presets: episode and step budgets and
#: default options per section (applied only where the component's Config has that field, so a
#: third-party component is never handed an option it does not know; ``--set`` wins over all).
#: A section ``agent.NAME`` holds options for the agent NAME alone, over those of ``agent``.
PIPELINE_PRESETS: dict[str, dict[str, Any]] = {
    # Sized for a 2-core CPU: the agent reads the low-dimensional `state` (pixels are too slow to
    # learn from on a CPU in minutes) while the reward model still sees the 64x64 frames.
    "quick": {
        # 120 expert videos and the symlog-scaled reward: on lite:reach the agent reaches 101, 99,
        # 99% of the expert over 3 seeds where 60 videos with running scaling gave 75, 53, 64%
        # (benchmarks/README.md, "symlog"); the fits cost the same steps, only collecting doubles.
        "episodes": 120,
        "random_episodes": 0,
        "steps": 20_000,
        "score_episodes": 10,
        "options": {
            "agent": {"obs_keys": "state", "threads": 1},
            # The drq agent as SAC with Stable-Baselines3's settings on the state vector (plain
            # 256x256 MLPs, 1-step targets, one update per env step, target rate 0.005, initial
            # temperature 1): on lite:reach it reaches 100-104% of the expert on the task reward
            # and 53-75% on the VIPER reward (3 seeds) where DrQ-v2 gave 0-101% and 14-83%
            # (benchmarks/README.md). std_schedule is DrQ-v2's, used with algorithm=drqv2 only.
            "agent.drq": {
                "algorithm": "drq",
                "lr": 3e-4,
                "state_hidden": 0,
                "feature_dim": 0,
                "nstep": 1,
                "update_every": 1,
                "critic_tau": 0.005,
                "init_temperature": 1.0,
                "std_schedule": "linear(1.0,0.1,8000)",
            },
            # symlog squashes the far-off states' large negative log-likelihoods (-100 nats -> -4.6)
            # more than the few-nat differences near the expert, which is where the agent must choose.
            "reward": {"normalize": "symlog"},
            "loop": {"eval_every": 2_500, "eval_episodes": 10, "checkpoint_every": 5_000},
        },
    },
    # The paper's DMC sizes, for a GPU: pixels in, the components' `paper` presets.
    "paper": {
        "episodes": 200,
        "random_episodes": 0,
        "steps": 1_000_000,
        "score_episodes": 10,
        "options": {
            "agent": {"obs_keys": "image"},
            "loop": {"eval_every": 10_000, "eval_episodes": 10, "num_envs": 4},
        },
    },
}
SECTIONS = ("env", "tokenizer", "video_model", "reward", "explore", "agent", "loop")


@dataclasses.dataclass
class PipelineConfig:
    """Everything ``viper-run`` needs; the command line fills it. Its constraints are checked by
    :func:`resolve` (worded as flags: ``--steps -5: expected an integer >= 1``)."""

    SECTION: ClassVar[str] = "--"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PIPELINE_PRESETS

    env: str = "lite:reach"
    """Environment as SUITE:TASK."""
    tokenizer: str = "vqgan"
    """Tokenizer component name."""
    model: str = "ar-transformer"
    """Video model component name."""
    reward: str = "viper"
    """Reward component the agent maximises."""
    agent: str = "drq"
    """Agent component name."""
    explore: str | None = None
    """Optional exploration bonus added to the reward (e.g. rnd), weighted by ``beta``."""
    beta: float | None = config_option(None, gt=0)
    """Weight of the exploration bonus."""
    workdir: str = "runs/default"
    """Working directory for every stage's output."""
    data: str | None = None
    """An existing expert dataset to use instead of collecting one."""
    expert: str = config_option("expert", test=is_expert_name, expected="'expert' or agent:WORKDIR")
    """Who records the expert videos and plays the expert in the score: ``expert`` (the suite's
    scripted expert) or ``agent:WORKDIR``, an agent ``viper-run train`` trained (the paper's way
    for tasks without a scripted expert: train on the task reward, record the agent)."""
    episodes: int | None = config_option(None, ge=1)
    """Expert episodes to collect (None: the preset's)."""
    random_episodes: int | None = config_option(None, ge=0)
    """Random-policy episodes of the env to record for the tokenizer's training split only, so it
    also draws frames the expert never shows (None: the preset's; 0: none). The video model and
    rewards still read the expert data alone."""
    steps: int | None = config_option(None, ge=0)
    """Agent env steps (None: the preset's; 0: no agent, the run ends with the reward's score and a
    report of the reward alone, for grids that compare rewards by Spearman)."""
    preset: str = config_option("quick", one_of=tuple(PIPELINE_PRESETS))
    """Sizes: quick (2-core CPU) or paper (GPU)."""
    seed: int = config_option(0, ge=0)
    """Random seed for every stage."""
    options: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    """Per-section option overrides from --set SECTION.FIELD=VALUE."""

    @property
    def sizes(self) -> dict[str, Any]:
        """The preset's budgets (``episodes``, ``random_episodes``, ``steps``, ``score_episodes``)
        and section ``options``."""
        return apply_preset(type(self), self.preset)

    @property
    def agent_steps(self) -> int:
        """Agent env steps this run trains for (0: no agent stage)."""
        return self.sizes["steps"] if self.steps is None else self.steps


@dataclasses.dataclass
class Plan:
    """A resolved pipeline: every component found, imported and configured."""

    config: PipelineConfig
    env: EnvName
    suite: Any
    components: dict[str, tuple[str, Any]]  # kind -> (name, Config instance or None)
    host: PluginHost
    loop: dict[str, Any] = dataclasses.field(default_factory=dict)  # loop options
    explore: Any = None  # Config of the exploration reward

    def describe(self) -> str:
        lines = [f"env        {self.env} (suite {self.suite.name})"]
        for option, kind in PARTS:
            name, _ = self.components[kind]
            record = self.host.get(kind, name)
            lines.append(
                f"{option:<10} {name} ({record.plugin.distribution} {record.plugin.version}, {record.spec.framework})"
            )
        if self.config.explore:
            lines.append(f"explore    {self.config.explore} (beta {self.config.beta})")
        lines.append(f"preset     {self.config.preset}")
        lines.append(f"workdir    {self.config.workdir}")
        return "\n".join(lines)

    def resolved(self) -> dict[str, Any]:
        """JSON-compatible description (written to run.json)."""
        out = dataclasses.asdict(self.config)
        out["components"] = {kind: {"name": n, "config": to_dict(c)} for kind, (n, c) in self.components.items()}
        out["loop"] = self.loop
        return out


def _preset_options(config: PipelineConfig, section: str, factory: Any | None) -> dict[str, Any]:
    """The preset's defaults for ``section`` that the component's Config accepts, then --set."""
    table = config.sizes["options"]
    defaults = dict(table.get(section, {}))
    if section == "agent":
        defaults.update(table.get(f"agent.{config.agent}", {}))
    cls = config_class(factory) if factory is not None else None
    if cls is not None:
        fields = {f.name for f in dataclasses.fields(cls)}
        defaults = {k: v for k, v in defaults.items() if k in fields}
    elif section != "loop":
        defaults = {}
    return {**defaults, **config.options.get(section, {})}


def resolve(config: PipelineConfig, host: PluginHost | None = None) -> Plan:
    """Find, import and configure every component; raise one error listing all problems."""
    host = host or get_host()
    problems: list[str] = []
    validate(config, "--")
    env = parse_env(config.env)
    suite = None
    try:
        suite = load_suite(env.suite, host)
    except ViperError as exc:
        problems.append(f"--env {env}: {exc}")
    else:
        try:
            check_task(env, suite)
            check_env_options(env, suite, config.options.get("env", {}))
            # What the loop requires of the env (uint8 frames, info["task_reward"] on each step),
            # checked here so `--check` and the pipeline fail before any stage trains.
            from viper.core.testing.env_rules import preflight_env

            preflight_env(suite, env.task)
        except ConfigError as exc:
            problems.append(str(exc))
        except ContractError as exc:
            problems.append(f"--env {env}: {exc}")
    if config.expert != "expert":
        try:
            check_expert(config.expert, env, 64, config.options.get("env", {}))
        except ViperError as exc:
            problems.append(str(exc))
    for section in config.options:
        if section not in SECTIONS:
            problems.append(f"--set {section}.*: unknown section {section!r}; expected one of {', '.join(SECTIONS)}")
    if (config.explore is None) != (config.beta is None):
        problems.append("--explore and --beta go together, e.g. --explore rnd --beta 0.5")
    components: dict[str, tuple[str, Any]] = {}
    for option, kind in PARTS:
        name = getattr(config, option)
        try:
            factory = host.load(kind, name)
            options = _preset_options(config, kind, factory)
            components[kind] = (name, make_config(kind, name, options, host, preset=config.preset))
        except ViperError as exc:
            problems.append(f"--{option} {name}: {exc}")
    explore = None
    if config.explore is not None:
        try:
            factory = host.load("reward", config.explore)
            explore = make_config("reward", config.explore, _preset_options(config, "explore", factory), host)
        except ViperError as exc:
            problems.append(f"--explore {config.explore}: {exc}")
    loop: dict[str, Any] = {}
    try:
        from viper.core.loop import LoopConfig

        loop = _preset_options(config, "loop", LoopConfig)
        build_config(LoopConfig, {**loop, "seed": config.seed}, where="--set loop")
    except ViperError as exc:
        problems.append(str(exc))
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        raise ConfigError("cannot run the pipeline:\n  " + "\n  ".join(problems))
    return Plan(config, env, suite, components, host, loop, explore)


def _square_size(data: Path) -> int:
    """The side of the expert dataset's square frames, which the random episodes are rendered at."""
    from viper.core.dataset import VideoDataset

    size = VideoDataset(data).image_size or (64, 64)
    if size[0] != size[1]:
        raise ConfigError(
            f"--random-episodes: envs render square frames but the expert data {data} has {size[0]}x{size[1]}; "
            "use --random-episodes 0"
        )
    return int(size[0])


@dataclasses.dataclass
class FittedReward:
    """What the first four stages leave: the expert data and the score of the trained reward."""

    workdir: Any  # viper.core.workdir.Workdir
    data: Path
    scored: Any  # viper.core.stages.ScoreResult


def fit_reward(plan: Plan) -> FittedReward:
    """Run (or reuse) stages 1-4 of a resolved plan: collect, tokenizer, video model, score.

    The pipeline's own first half, so a benchmark of the reward alone trains exactly what
    ``viper-run`` would (same folders: a later full run reuses them)."""
    from viper.core.stages import collect_stage, fit_tokenizer, fit_video_model, random_stage, score
    from viper.core.stages.lifecycle import banner, report_cached
    from viper.core.stages.score import ScoreConfig
    from viper.core.workdir import Workdir

    cfg = plan.config
    wd = Workdir(cfg.workdir)
    wd.write_run_config(plan.resolved())
    options = {kind: to_dict(config) for kind, (_, config) in plan.components.items()}
    names = {kind: name for kind, (name, _) in plan.components.items()}

    env_options = dict(cfg.options.get("env", {}))

    banner("1/6 collect expert videos")
    episodes = cfg.episodes or cfg.sizes["episodes"]
    data = (
        Path(cfg.data)
        if cfg.data is not None
        else collect_stage(
            wd, plan.env, episodes, seed=cfg.seed, host=plan.host, env_options=env_options, expert=cfg.expert
        )
    )

    extra_data = []
    random_episodes = cfg.random_episodes if cfg.random_episodes is not None else cfg.sizes.get("random_episodes", 0)
    if random_episodes:
        banner("1/6 collect random-policy videos (for the tokenizer only)")
        size = _square_size(data)
        extra_data.append(
            random_stage(
                wd, plan.env, random_episodes, seed=cfg.seed, size=size, host=plan.host, env_options=env_options
            )
        )

    banner("2/6 fit the tokenizer")
    fit_tokenizer(
        data,
        wd.path,
        name=names["tokenizer"],
        options=options["tokenizer"],
        seed=cfg.seed,
        host=plan.host,
        extra_data=extra_data,
    )

    banner("3/6 fit the video model")
    fit_video_model(
        wd.path, data, name=names["video_model"], options=options["video_model"], seed=cfg.seed, host=plan.host
    )

    banner("4/6 check the reward against the true return")
    reward = names["reward"]
    scored = score(
        wd,
        ScoreConfig(
            env=str(plan.env),
            episodes=cfg.sizes["score_episodes"],
            rewards=(reward,),
            options={reward: options["reward"]},
            seed=cfg.seed,
            data=str(data),
            env_options=env_options,
            expert=cfg.expert,
        ),
        host=plan.host,
    )
    if scored.cached:
        report_cached("score", scored.directory)
    print(scored.table())
    return FittedReward(wd, data, scored)


def run_pipeline(plan: Plan) -> dict[str, Any]:
    """Run (or reuse) every stage of a resolved plan (see :mod:`viper.core.stages`); returns the
    report's path, the score summary and the agent's metrics."""
    from viper.core.stages import train_stage, write_report
    from viper.core.stages.lifecycle import banner

    cfg = plan.config
    started = time.time()
    fitted = fit_reward(plan)
    wd, data, scored = fitted.workdir, fitted.data, fitted.scored
    options = {kind: to_dict(config) for kind, (_, config) in plan.components.items()}
    names = {kind: name for kind, (name, _) in plan.components.items()}
    env_options = dict(cfg.options.get("env", {}))
    reward = names["reward"]

    steps = cfg.agent_steps
    trained = None
    if steps:
        banner("5/6 train the agent on the chosen reward")
        agent_options = {"agent": options["agent"], "reward": options["reward"], "loop": dict(plan.loop)}
        if env_options:
            agent_options["env"] = env_options
        if plan.explore is not None:
            agent_options["explore"] = to_dict(plan.explore)
        trained = train_stage(
            wd,
            str(plan.env),
            names["agent"],
            reward,
            steps=steps,
            seed=cfg.seed,
            options=agent_options,
            host=plan.host,
            explore=cfg.explore,
            beta=cfg.beta,
            data=data,
        )
    else:
        banner("5/6 no agent (--steps 0): the report covers the reward alone")

    banner("6/6 report")
    report = write_report(wd, plan, scored, trained, run_seconds=time.time() - started)
    return {"report": str(report), "score": scored.summary, "agent": trained}
