"""The ``atari`` env suite object (see :class:`viper.core.protocols.EnvSuite`)."""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
import numpy as np

from viper.core.errors import ConfigError, MissingDependencyError
from viper.envs.atari.masks import score_mask

OPTIONS = ("action_repeat", "sticky", "action_set", "episodic_life", "max_frames", "noops")


@functools.lru_cache(maxsize=1)
def all_games() -> tuple[str, ...]:
    """Every game whose ROM ships with the installed ale-py, e.g. ``pong``, ``space_invaders``."""
    try:
        from ale_py import roms
    except ImportError as exc:
        raise MissingDependencyError(f"atari: needs ale-py ({exc}); pip install 'viper-envs[atari]'") from exc
    return tuple(sorted(roms.get_all_rom_ids()))


def check_game(game: str) -> str:
    games = all_games()
    if game not in games:
        close = [g for g in games if g.startswith(game[:3])] if len(game) >= 3 else []
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"atari: unknown game {game!r}{hint}; games: {', '.join(games)}")
    return game


class AtariSuite:
    """Every ALE game as ``atari:GAME`` (``pong``, ``boxing``, ``space_invaders``, ...).

    Settings follow the official VIPER Atari config: 64x64 RGB, action repeat 4, sticky actions
    0.25, the full 18-action set, lives ignored. Options of :meth:`make`: ``action_repeat``,
    ``sticky``, ``action_set`` (``full``/``minimal``), ``episodic_life``, ``max_frames``,
    ``noops``. There are no scripted experts (use ``--policy random`` or import videos);
    :meth:`image_mask` hides each game's score.
    """

    name = "atari"

    def tasks(self) -> list[str]:
        return list(all_games())

    def make(self, task: str, *, seed: int | None = None, size: int = 64, **options: Any) -> gym.Env:
        from viper.envs.atari.env import AtariEnv

        check_game(task)
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ConfigError(f"atari:{task}: unknown option {unknown[0]!r}; options: size, {', '.join(OPTIONS)}")
        try:
            env = AtariEnv(task, size=size, seed=seed, **options)
        except ValueError as exc:
            raise ConfigError(f"atari:{task}: {exc}") from exc
        if seed is not None:
            env.reset(seed=seed)
        return env

    def expert(self, task: str, env: gym.Env) -> Any:
        check_game(task)
        return None

    def image_mask(self, task: str, size: int = 64) -> np.ndarray | None:
        check_game(task)
        return score_mask(task, size)
