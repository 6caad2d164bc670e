"""The ``atari`` env suite object (see :class:`viper.core.protocols.EnvSuite`)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import ClassVar

import gymnasium as gym

from viper.core.config import Options, option
from viper.core.errors import MissingDependencyError
from viper.core.suites import TableSuite, Task, config_values
from viper.envs.atari.masks import score_mask


@dataclasses.dataclass
class AtariConfig(Options):
    """Options of every Atari game (``--set env.FIELD=VALUE``); the defaults are the official
    VIPER Atari config."""

    SECTION: ClassVar[str] = "env"

    action_repeat: int = option(4, ge=1)
    """Emulator frames per env step (the last two are max-pooled)."""
    sticky: float = option(0.25, ge=0, lt=1)
    """Probability that the emulator repeats the previous action (sticky actions)."""
    action_set: str = option("full", one_of=("full", "minimal"))
    """``full``: all 18 actions for every game; ``minimal``: the game's own action set."""
    episodic_life: bool = False
    """End an episode when a life is lost (the game continues in the next one)."""
    max_frames: int = option(108_000, ge=1)
    """Emulator frames per episode before it is truncated."""
    noops: int = option(0, ge=0)
    """Up to this many no-op steps after each reset (random starts)."""


@functools.lru_cache(maxsize=1)
def all_games() -> tuple[str, ...]:
    """Every game whose ROM ships with the installed ale-py, e.g. ``pong``, ``space_invaders``."""
    try:
        from ale_py import roms
    except ImportError as exc:
        raise MissingDependencyError(f"atari: needs ale-py ({exc}); pip install 'viper-envs[atari]'") from exc
    return tuple(sorted(roms.get_all_rom_ids()))


@functools.lru_cache(maxsize=1)
def game_table() -> dict[str, Task]:
    return {
        # Game over (or a lost life) ends an episode early.
        game: Task(functools.partial(_make, game), mask=functools.partial(score_mask, game), terminates=True)
        for game in all_games()
    }


def _make(game: str, config: AtariConfig, size: int, seed: int | None) -> gym.Env:
    from viper.envs.atari.env import AtariEnv

    return AtariEnv(game, size=size, seed=seed, **config_values(config))


class AtariSuite(TableSuite):
    """Every ALE game as ``atari:GAME`` (``pong``, ``boxing``, ``space_invaders``, ...).

    64x64 RGB, action repeat 4, sticky actions 0.25, the full 18-action set, lives ignored
    (:class:`AtariConfig`). There are no scripted experts (use ``--policy random`` or import
    videos); :meth:`image_mask` hides each game's score.
    """

    name = "atari"
    Config = AtariConfig

    def table(self) -> Mapping[str, Task]:
        return game_table()

    def unknown_task(self, task: str) -> str:
        games = all_games()
        close = [g for g in games if g.startswith(task[:3])] if len(task) >= 3 else []
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        return f"atari: unknown game {task!r}{hint}; games: {', '.join(games)}"
