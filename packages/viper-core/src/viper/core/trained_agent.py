"""A trained agent as a recording policy (``viper-run collect --policy agent:WORKDIR``).

The agent stage that ``viper-run train`` finished in WORKDIR names everything needed to rebuild
its agent: the env it trained on (task, frame size, env options), the agent's name and full
config (``stage.json``), and the checkpoint (``checkpoint/loop.json`` + ``checkpoint/agent/``,
safe formats only). The rebuilt agent acts in evaluation mode (its policy's mean, no exploration
noise), so it records expert videos for any task an agent can learn, on the task reward or any
other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import read_header, read_json
from viper.core.components import EnvName, make_config
from viper.core.errors import ConfigError, WorkdirError
from viper.core.frameworks import configure_frameworks
from viper.core.loop.checkpoint import (
    BEST_CHECKPOINT,
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    describe_space,
    json_safe,
)
from viper.core.plugins import PluginHost, get_host
from viper.core.protocols import EnvStep
from viper.core.workdir import Workdir

PREFIX = "agent:"
#: ``agent:WORKDIR@best``: the agent of the best evaluation (``loop.keep_best``), not the last one.
BEST = "@best"


def is_agent_policy(policy: str) -> bool:
    """Whether ``--policy`` names a trained agent (``agent:WORKDIR``)."""
    return policy.startswith(PREFIX)


def is_expert_name(expert: str) -> bool:
    """Whether ``expert`` can play the expert: ``expert`` (the suite's scripted one) or ``agent:WORKDIR``."""
    return expert == "expert" or is_agent_policy(expert)


def check_expert(
    expert: str, env: EnvName | str, size: int, env_options: Mapping[str, Any] | None, flag: str = "--expert"
) -> None:
    """Before any work: a ConfigError (or WorkdirError) unless ``expert`` is ``expert`` or names
    a finished agent trained on ``env`` at ``size`` pixels with exactly ``env_options``."""
    if expert == "expert":
        return
    if not is_agent_policy(expert):
        raise ConfigError(
            f"{flag} {expert!r}: expected 'expert' (the suite's scripted expert) or agent:WORKDIR (the agent "
            "`viper-run train --workdir WORKDIR` trained)"
        )
    TrainedAgent.find(expert, flag).env_options_for(env, size, env_options, flag, inherit=False)


@dataclasses.dataclass(frozen=True)
class TrainedAgent:
    """The finished agent stage of a workdir: where its checkpoint is and what it was trained on."""

    stage_dir: Path
    checkpoint: Path
    """``checkpoint/`` (the last agent) or ``checkpoint-best/`` (``agent:WORKDIR@best``)."""
    env: str
    size: int
    env_options: dict[str, Any]
    agent: str
    agent_config: dict[str, Any]

    @classmethod
    def find(cls, policy: str, flag: str = "--policy") -> TrainedAgent:
        """The newest finished agent stage of the workdir in ``agent:WORKDIR``; a ConfigError or
        WorkdirError naming what is missing (and ``flag``, the option that named it)."""
        where = policy[len(PREFIX) :]
        best = where.endswith(BEST)
        where = where[: -len(BEST)] if best else where
        option = f"{flag} {policy}"
        if not where:
            raise ConfigError(f"{option}: expected agent:WORKDIR[@best], the --workdir of a `viper-run train` run")
        path = Path(where).expanduser()
        if not path.is_dir():
            raise ConfigError(f"{option}: no such workdir {path}")
        stage_dir = Workdir(path, create=False).latest("agent")
        info = read_json(stage_dir / "stage.json")
        if info.get("status") != "done":
            raise WorkdirError(f"{stage_dir}: the agent stage did not finish; run `viper-run train --workdir {path}`")
        checkpoint = stage_dir / (BEST_CHECKPOINT if best else "checkpoint")
        if best and not checkpoint.is_dir():
            raise ConfigError(
                f"{option}: {stage_dir.name} kept no best agent; train with --set loop.keep_best=true (it keeps "
                f"from the next evaluation of a new or continued run) or use agent:{path}, the last one"
            )
        read_header(
            checkpoint / "loop.json",
            CHECKPOINT_FORMAT,
            CHECKPOINT_VERSION,
            what="an agent checkpoint",
            kind="checkpoint",
            hint=f"; re-run `viper-run train --workdir {path}`",
        )
        config = info.get("config", {})
        try:
            return cls(
                stage_dir=stage_dir,
                checkpoint=checkpoint,
                env=str(config["env"]),
                size=int(config["size"]),
                env_options=dict(config.get("env_options") or {}),
                agent=str(config["agent"]),
                agent_config=dict(config["agent_config"] or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WorkdirError(f"{stage_dir / 'stage.json'}: not an agent stage's record ({exc})") from exc

    def env_options_for(
        self,
        env: EnvName | str,
        size: int,
        options: Mapping[str, Any] | None,
        flag: str = "--policy",
        inherit: bool = True,
    ) -> dict[str, Any]:
        """The env options to run the agent with: its own. A ConfigError naming ``flag`` when
        ``env`` or ``size`` differ from what it was trained on, or ``options`` differ from its
        env options; with ``inherit`` no options at all means "the agent's" (``collect``),
        without it they must be given (a pipeline or score whose env the options also make)."""
        kept = BEST if self.checkpoint.name == BEST_CHECKPOINT else ""
        where = f"{flag} {PREFIX}{self.stage_dir.parent}{kept}"
        if str(env) != self.env:
            raise ConfigError(f"{where}: the agent was trained on {self.env}, not {env}; use --env {self.env}")
        if size != self.size:
            raise ConfigError(
                f"{where}: the agent was trained on {self.size}x{self.size} frames, this run renders "
                f"{size}x{size}; use --size {self.size} or train it at {size}x{size} (viper-run train --size {size})"
            )
        given = dict(options or {})
        if (given or not inherit) and json_safe(given) != json_safe(self.env_options):
            wanted = " ".join(f"--set env.{k}={v}" for k, v in self.env_options.items()) or "no --set env.*"
            raise ConfigError(
                f"{where}: the agent was trained with env options {self.env_options}, this run has {given}; "
                f"use {wanted}"
            )
        return dict(self.env_options)

    def policy(self, env: Any, seed: int = 0, host: PluginHost | None = None) -> AgentPolicy:
        """The agent rebuilt for ``env``'s spaces with its checkpoint loaded."""
        configure_frameworks()
        host = host or get_host()
        checkpoint = self.checkpoint
        record = read_json(checkpoint / "loop.json")
        trained_on = record.get("identity", {}).get("obs_space")
        if trained_on is not None and json_safe(trained_on) != json_safe(describe_space(env.observation_space)):
            raise ConfigError(
                f"--env {self.env}: the agent in {self.stage_dir} was trained on observations {trained_on}, "
                f"the env now gives {describe_space(env.observation_space)}"
            )
        config = make_config("agent", self.agent, self.agent_config, host)
        agent = host.load("agent", self.agent)(config, env.observation_space, env.action_space, seed)
        try:
            # Weights only where the agent can (a DQN's replay alone is over a GB on Atari).
            getattr(agent, "load_policy", agent.load)(checkpoint / "agent")
        except (ConfigError, WorkdirError):
            raise
        except Exception as exc:  # noqa: BLE001 -- any failure to read means the files are bad
            raise WorkdirError(f"{checkpoint / 'agent'}: cannot load the agent ({type(exc).__name__}: {exc})") from exc
        return AgentPolicy(agent)


class AgentPolicy:
    """A trained agent driving one env through the recording loop, in evaluation mode."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.first = True

    def reset(self) -> None:
        self.first = True

    def act(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        step = EnvStep(
            obs={key: np.asarray(value)[None] for key, value in obs.items()},
            reward=np.zeros(1, np.float32),
            is_first=np.array([self.first]),
            is_last=np.zeros(1, bool),
            is_terminal=np.zeros(1, bool),
        )
        self.first = False
        return np.asarray(self.agent.act(step, mode="eval"))[0]
