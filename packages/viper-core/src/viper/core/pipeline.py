"""The main job: collect -> fit tokenizer -> fit video model -> score -> train agent -> report.

:func:`resolve` checks every component before any work starts, so a missing plugin or a
misspelt option fails in the first second with a message naming it. Each stage is cached in the
workdir by its config (see :mod:`viper.core.workdir`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from viper.core.components import EnvName, load_suite, make_config, parse_env
from viper.core.config import to_dict
from viper.core.errors import ConfigError, ViperError
from viper.core.plugins import PluginHost, get_host

#: (option name, component kind) for each swappable part, in pipeline order.
PARTS = (("tokenizer", "tokenizer"), ("model", "video_model"), ("reward", "reward"), ("agent", "agent"))


@dataclasses.dataclass
class PipelineConfig:
    """Everything ``viper-run`` needs; the command line fills it."""

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
    workdir: str = "runs/default"
    """Working directory for every stage's output."""
    data: str | None = None
    """An existing expert dataset to use instead of collecting one."""
    episodes: int | None = None
    """Expert episodes to collect (None: the preset's)."""
    steps: int | None = None
    """Agent env steps (None: the preset's)."""
    preset: str = "quick"
    """Sizes: quick (2-core CPU) or paper (GPU)."""
    seed: int = 0
    """Random seed for every stage."""
    options: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    """Per-kind option overrides from --set KIND.FIELD=VALUE."""


@dataclasses.dataclass
class Plan:
    """A resolved pipeline: every component found, imported and configured."""

    config: PipelineConfig
    env: EnvName
    suite: Any
    components: dict[str, tuple[str, Any]]  # kind -> (name, Config instance or None)
    host: PluginHost

    def describe(self) -> str:
        lines = [f"env        {self.env} (suite {self.suite.name})"]
        for option, kind in PARTS:
            name, cfg = self.components[kind]
            record = self.host.get(kind, name)
            lines.append(
                f"{option:<10} {name} ({record.plugin.distribution} {record.plugin.version}, {record.spec.framework})"
            )
        lines.append(f"workdir    {self.config.workdir}")
        return "\n".join(lines)

    def resolved(self) -> dict[str, Any]:
        """JSON-compatible description (written to run.json)."""
        out = dataclasses.asdict(self.config)
        out["components"] = {kind: {"name": n, "config": to_dict(c)} for kind, (n, c) in self.components.items()}
        return out


def resolve(config: PipelineConfig, host: PluginHost | None = None) -> Plan:
    """Find, import and configure every component; raise one error listing all problems."""
    host = host or get_host()
    problems: list[str] = []
    env = parse_env(config.env)
    suite = None
    try:
        suite = load_suite(env.suite, host)
        if env.task not in suite.tasks():
            problems.append(
                f"--env {env}: unknown task {env.task!r}; tasks of {env.suite!r}: {', '.join(suite.tasks())}"
            )
    except ViperError as exc:
        problems.append(f"--env {env}: {exc}")
    known_kinds = {kind for _, kind in PARTS}
    for section in config.options:
        if section not in known_kinds:
            problems.append(
                f"--set {section}.*: unknown section {section!r}; expected one of {', '.join(sorted(known_kinds))}"
            )
    components: dict[str, tuple[str, Any]] = {}
    for option, kind in PARTS:
        name = getattr(config, option)
        try:
            components[kind] = (name, make_config(kind, name, config.options.get(kind), host, preset=config.preset))
        except ViperError as exc:
            problems.append(f"--{option} {name}: {exc}")
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        raise ConfigError("cannot run the pipeline:\n  " + "\n  ".join(problems))
    return Plan(config, env, suite, components, host)


def run_pipeline(plan: Plan) -> None:
    """Run every stage of a resolved plan (see :mod:`viper.core.stages`)."""
    from viper.core.stages import run_stages

    run_stages(plan)
