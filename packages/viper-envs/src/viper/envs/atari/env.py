"""An Atari 2600 game (ALE, through ale-py) as a gymnasium env with 64x64 RGB frames."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from viper.core.errors import ContractError, MissingDependencyError
from viper.core.importers import resize_frames


def make_ale(game: str, *, sticky: float, full_action_space: bool, max_frames: int) -> Any:
    try:
        from ale_py.env import AtariEnv
    except ImportError as exc:
        raise MissingDependencyError(f"atari: needs ale-py ({exc}); pip install 'viper-envs[atari]'") from exc
    return AtariEnv(
        game=game,
        obs_type="ram",  # screens are read from the emulator only when needed
        frameskip=1,
        repeat_action_probability=sticky,
        full_action_space=full_action_space,
        max_num_frames_per_episode=max_frames,
    )


class AtariEnv(gym.Env):
    """An ALE game with the settings of the official VIPER / DreamerV3 Atari wrapper.

    * observation: ``{"image": uint8[size,size,3]}``, the RGB screen (210x160) resized without
      cropping by area averaging, taken as the pixel-wise max of the last two emulator frames of
      the step (removes the sprite flicker of many games);
    * action: ``Discrete(18)`` (``action_set="full"``, the default, as in the paper) or the game's
      minimal set (``"minimal"``);
    * each step repeats the action ``action_repeat`` (4) emulator frames; with sticky actions
      (``sticky=0.25``) the emulator repeats the previous action instead with that probability
      each frame; the reward and ``info["task_reward"]`` are the summed game score;
    * the episode ends at game over (``terminated``) or after ``max_frames`` emulator frames
      (``truncated``, 108000 = 30 minutes); with ``episodic_life=True`` losing a life also ends
      it (the next ``reset`` then continues the same game unless it was over);
    * ``noops``: up to this many random no-op steps after each reset (0 by default).

    The options are checked by :class:`viper.envs.atari.suite.AtariConfig` (make envs through
    the suite).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(
        self,
        game: str,
        *,
        size: int = 64,
        action_repeat: int = 4,
        sticky: float = 0.25,
        action_set: str = "full",
        episodic_life: bool = False,
        max_frames: int = 108_000,
        noops: int = 0,
        seed: int | None = None,
    ) -> None:
        if size < 8:
            raise ValueError(f"size {size}: expected at least 8 pixels")
        self.game = game
        self.size = int(size)
        self.action_repeat = int(action_repeat)
        self.episodic_life = bool(episodic_life)
        self.noops = int(noops)
        self.render_mode = "rgb_array"
        self._env = make_ale(game, sticky=float(sticky), full_action_space=action_set == "full", max_frames=max_frames)
        self._ale = self._env.unwrapped.ale
        self.action_space = gym.spaces.Discrete(int(self._env.action_space.n))
        self.observation_space = gym.spaces.Dict({"image": gym.spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)})
        height, width = self._ale.getScreenDims()
        self._screens = [np.zeros((height, width, 3), np.uint8) for _ in range(2)]
        self._frame: np.ndarray | None = None
        self._lives = 0
        self._game_over = True
        self._done = True
        if seed is not None:
            self.action_space.seed(seed)

    @property
    def ale(self) -> Any:
        """The emulator (``ale_py.ALEInterface``)."""
        return self._ale

    def action_meanings(self) -> list[str]:
        return list(self._env.unwrapped.get_action_meanings())

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        if self._game_over or seed is not None or not self.episodic_life:
            # ALE draws sticky-action randomness from its own generator: seed it from ours.
            self._env.reset(seed=int(self.np_random.integers(2**31 - 1)))
            self._game_over = False
        else:
            self._env.step(0)  # a life was lost: continue the same game
        for _ in range(int(self.np_random.integers(0, self.noops + 1)) if self.noops else 0):
            self._env.step(0)
            if self._ale.game_over():
                self._env.reset(seed=int(self.np_random.integers(2**31 - 1)))
        self._lives = self._ale.lives()
        self._done = False
        self._ale.getScreenRGB(self._screens[0])
        self._screens[1][:] = self._screens[0]
        return self._observe(), {"task_reward": 0.0, "lives": self._lives}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        if self._done:
            raise ContractError(f"atari:{self.game}: step() after the episode ended; call reset() first")
        try:
            index = int(np.asarray(action).reshape(()))
        except (TypeError, ValueError) as exc:
            raise ContractError(f"atari:{self.game}: action must be one integer, got {action!r}") from exc
        if not 0 <= index < self.action_space.n:
            raise ContractError(f"atari:{self.game}: action {index} outside Discrete({self.action_space.n})")
        total, terminated, truncated, life_lost = 0.0, False, False, False
        for repeat in range(self.action_repeat):
            _, reward, terminated, truncated, _ = self._env.step(index)
            total += float(reward)
            if repeat >= self.action_repeat - 2 or terminated or truncated:
                # the last two frames of the step, for max-pooling
                self._screens[1][:] = self._screens[0]
                self._ale.getScreenRGB(self._screens[0])
            if terminated or truncated:
                break
            if self.episodic_life and self._ale.lives() < self._lives:
                life_lost = True
                break
        self._lives = self._ale.lives()
        self._game_over = terminated or truncated
        terminated = terminated or life_lost
        self._done = terminated or truncated
        return self._observe(), total, terminated, truncated, {"task_reward": total, "lives": self._lives}

    def render(self) -> np.ndarray:
        return self._frame if self._frame is not None else self._observe()["image"]

    def close(self) -> None:
        env = getattr(self, "_env", None)
        if env is not None:
            env.close()

    def _observe(self) -> dict[str, np.ndarray]:
        pooled = np.maximum(self._screens[0], self._screens[1])
        self._frame = resize_frames(pooled, self.size)
        return {"image": self._frame}
