"""Which observations an agent reads and which actions it can emit, with errors that say why."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from viper.core.errors import ConfigError, ContractError


@dataclasses.dataclass(frozen=True)
class ObsSpec:
    """The observation keys an agent reads: images ``uint8[H,W,C]`` and flat float vectors."""

    images: dict[str, tuple[int, int, int]]
    vectors: dict[str, int]

    @property
    def keys(self) -> tuple[str, ...]:
        return (*self.images, *self.vectors)

    @property
    def vector_size(self) -> int:
        return sum(self.vectors.values())

    def image_shape(self) -> tuple[int, int, int]:
        """All images stacked on channels (they must share height and width)."""
        shapes = list(self.images.values())
        return (shapes[0][0], shapes[0][1], sum(s[2] for s in shapes))

    def split(self, obs: dict[str, np.ndarray]) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Batched ``obs`` -> (images ``uint8[B,H,W,C]`` or None, vectors ``float32[B,n]`` or None)."""
        for key in self.keys:
            if key not in obs:
                raise ContractError(f"observation has no {key!r} (keys: {', '.join(obs)})")
        image = None
        if self.images:
            parts = [np.asarray(obs[k]) for k in self.images]
            image = parts[0] if len(parts) == 1 else np.concatenate(parts, -1)
        vector = None
        if self.vectors:
            lead = np.asarray(obs[next(iter(self.vectors))]).shape[0]
            vector = np.concatenate([np.asarray(obs[k], np.float32).reshape(lead, -1) for k in self.vectors], -1)
        return image, vector


def select_observations(obs_space: Any, keys: Sequence[str], agent: str) -> ObsSpec:
    """Check that the env observes every key in ``keys`` (``--set agent.obs_keys``)."""
    import gymnasium as gym

    if not isinstance(obs_space, gym.spaces.Dict):
        raise ConfigError(f"{agent}: expected a dict observation space, got {obs_space}")
    available = ", ".join(obs_space.spaces) or "nothing"
    if not keys:
        raise ConfigError(
            f"--set agent.obs_keys: {agent} needs at least one observation key (env observes {available})"
        )
    images: dict[str, tuple[int, int, int]] = {}
    vectors: dict[str, int] = {}
    for key in keys:
        if key not in obs_space.spaces:
            what = "pixels" if key == "image" else "it"
            raise ConfigError(
                f"--set agent.obs_keys: {agent} is configured to read {key!r} ({what}) but the env observes only "
                f"{available}; choose from those, e.g. --set agent.obs_keys={next(iter(obs_space.spaces), 'state')}"
            )
        space = obs_space[key]
        if not isinstance(space, gym.spaces.Box):
            raise ConfigError(f"{agent}: observation {key!r} is {space}; only Box observations are supported")
        if space.dtype == np.uint8 and len(space.shape) == 3:
            images[key] = tuple(int(s) for s in space.shape)  # type: ignore[assignment]
        elif len(space.shape) <= 1 or np.issubdtype(space.dtype, np.floating):
            vectors[key] = int(np.prod(space.shape))
        else:
            raise ConfigError(
                f"{agent}: observation {key!r} has shape {space.shape} {space.dtype}; expected uint8[H,W,C] or a vector"
            )
    if len({s[:2] for s in images.values()}) > 1:
        raise ConfigError(f"{agent}: image observations {sorted(images)} differ in height/width")
    return ObsSpec(images, vectors)


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    """Actions the agent emits: ``size`` dims in ``[-1, 1]`` (continuous) or one of ``size``
    choices (discrete); :meth:`to_env` maps them onto the env's space."""

    discrete: bool
    size: int
    low: np.ndarray | None = None
    high: np.ndarray | None = None

    def to_env(self, action: np.ndarray) -> np.ndarray:
        if self.discrete:
            return np.asarray(action).astype(np.int64)
        action = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
        return (self.low + (action + 1.0) * 0.5 * (self.high - self.low)).astype(np.float32)


def action_spec(act_space: Any, agent: str, *, discrete_ok: bool = True) -> ActionSpec:
    """Validate the env's action space; the error says what ``agent`` supports."""
    import gymnasium as gym

    supported = "continuous Box (1-D, finite bounds)" + (" and Discrete" if discrete_ok else "")
    if isinstance(act_space, gym.spaces.Discrete):
        if not discrete_ok:
            raise ConfigError(
                f"{agent} supports only continuous Box action spaces (1-D, finite bounds); this env has {act_space} "
                f"(discrete). Use --agent dqn (or dreamer) for discrete actions."
            )
        if int(act_space.start) != 0:
            raise ConfigError(f"{agent}: Discrete action spaces must start at 0, got start={act_space.start}")
        return ActionSpec(True, int(act_space.n))
    if isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1:
        low, high = np.asarray(act_space.low, np.float32), np.asarray(act_space.high, np.float32)
        if not (np.isfinite(low).all() and np.isfinite(high).all()) or (high <= low).any():
            raise ConfigError(f"{agent} needs finite action bounds with low < high; got {act_space}")
        return ActionSpec(False, int(act_space.shape[0]), low, high)
    raise ConfigError(f"{agent} supports {supported} action spaces; this env has {act_space}")
