"""Any registered reward on any gymnasium env: :class:`RewardWrapper`, :class:`VectorRewardWrapper`
and :func:`relabel` for offline data.

The reward is built the way ``viper-run train`` builds it (:func:`viper.core.rewarding.build_training_reward`
through the plugin host: ``viper``, ``rnd``, ``amp``, ``task`` or a third-party one), and options
are checked like ``--set reward.X=...``. Frames come from the ``image`` observation key or, for
envs without one, from ``render()`` (``render_mode="rgb_array"``). What the agent gets follows
the loop's convention (:mod:`viper.core.loop.driver`): the reward of step ``t`` belongs to the
transition into frame ``t``, an episode's first frame is scored (so later frames are conditioned
on it) but its reward is never returned, and the env's own reward moves to ``info["task_reward"]``.

Autoreset (:class:`VectorRewardWrapper`): ``NEXT_STEP`` (gymnasium's default) feeds the stream one
frame per env per step, exactly as the loop does. ``SAME_STEP`` returns the new episode's first
frame in the same step as the old episode's last one (``info["final_obs"]``), so each env owns two
stream slots used in turn: the active slot scores the episode's frames, the spare one is primed
with each step's frame as a first frame and takes over when the episode ends. That doubles the
reward's work, and a reward with running statistics (``normalize=running``) also counts the
spare slots' first-frame rewards; prefer ``NEXT_STEP``. ``DISABLED`` is refused.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from viper.core.components import load_tokenizer, resolve_env
from viper.core.errors import ConfigError, WorkdirError
from viper.core.loop.driver import action_dtype, autoreset_mode, check_rewards
from viper.core.plugins import PluginHost, get_host
from viper.core.protocols import Reward, RewardContext, StepBatch
from viper.core.rewarding import build_training_reward, expert_dataset, reward_context
from viper.core.workdir import Workdir

FrameSource = Literal["auto", "image", "render"]


# --------------------------------------------------------------------------------------------
# Building the reward for frames of a given shape


@dataclasses.dataclass
class RewardSpec:
    """What to build: the reward (a registered name, or a built :class:`Reward`), its options and
    where its models live; :meth:`build` makes it for frames of a given shape."""

    reward: str | Reward = "viper"
    workdir: str | Path | Workdir | None = None
    task: str | None = None
    data: str | Path | None = None
    resize: bool = False
    explore: str | None = None
    beta: float | None = None
    explore_options: dict[str, Any] | None = None
    seed: int = 0
    host: PluginHost | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def build(self, frame_shape: tuple[int, ...], source: str) -> tuple[Reward, tuple[int, int] | None]:
        """The reward for frames of ``frame_shape`` (``H, W, 3``) and the size frames must be resized
        to first (None: used as they are). ``source`` names where the frames come from in errors."""
        check_frame_shape(frame_shape, source)
        if not isinstance(self.reward, str):
            if self.options or self.explore:
                raise ConfigError("options and explore apply to a reward given by name, not to a built Reward object")
            return self.reward, None
        host = self.host or get_host()
        workdir = self._workdir()
        size = tuple(int(n) for n in frame_shape[:2])
        resize_to = None
        if self.resize:
            trained = trained_size(workdir, host)
            if trained is None:
                raise ConfigError(f"resize=True: needs a workdir holding a trained tokenizer, got {self.workdir!r}")
            resize_to = trained if trained != size else None
            size = trained
        context = self._context(workdir, size, host)
        try:
            reward = build_training_reward(
                self.reward,
                context,
                options=self.options,
                explore=self.explore,
                beta=self.beta,
                explore_options=self.explore_options,
                host=host,
            )
        except WorkdirError as exc:
            trained = trained_size(workdir, host)
            if trained is not None and trained != size:
                raise WorkdirError(
                    f"{workdir.path if workdir else self.workdir}: the tokenizer was trained on "
                    f"{trained[0]}x{trained[1]}x3 frames but {source} gives {'x'.join(map(str, frame_shape))}; "
                    f"make the env render {trained[0]}x{trained[1]} frames or pass resize=True"
                ) from exc
            raise
        return reward, resize_to

    def _workdir(self) -> Workdir | None:
        if self.workdir is None or isinstance(self.workdir, Workdir):
            return self.workdir
        return Workdir(self.workdir, create=False)

    def _context(self, workdir: Workdir | None, size: tuple[int, ...], host: PluginHost) -> RewardContext:
        # The expert videos (AMP, the viper offset): ``data``, else the workdir's, as train_stage finds them.
        expert = expert_dataset(workdir.path if workdir else None, self.data) if workdir or self.data else None
        if self.task is not None and ":" in self.task:
            name, suite = resolve_env(self.task, host, option="task")
            if size[0] != size[1]:
                raise ConfigError(f"task={self.task}: viper suites render square frames, got {size[0]}x{size[1]}")
            size_ = int(size[0])
            return reward_context(workdir, suite, name.task, size=size_, seed=self.seed, host=host, expert_data=expert)
        tasks = (self.task,) if self.task else ()
        image_size = (int(size[0]), int(size[1]))
        return RewardContext(
            workdir=workdir, expert_data=expert, tasks=tasks, image_size=image_size, seed=self.seed, host=host
        )


def check_frame_shape(shape: tuple[int, ...], source: str) -> None:
    if len(shape) != 3 or shape[-1] != 3:
        raise ConfigError(
            f"{source}: rewards read RGB frames uint8[H,W,3], got shape {list(shape)}"
            + (" (drop the alpha channel first)" if len(shape) == 3 and shape[-1] == 4 else "")
        )


def trained_size(workdir: Workdir | None, host: PluginHost | None) -> tuple[int, int] | None:
    """The frame size of the workdir's newest tokenizer, or None when it has none."""
    if workdir is None:
        return None
    try:
        tokenizer = load_tokenizer(workdir, host)
    except WorkdirError:
        return None
    return tuple(int(n) for n in tokenizer.image_size)  # type: ignore[return-value]


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``uint8[..., H, W, 3]`` -> ``uint8[..., h, w, 3]``: block averages when ``h, w`` divide the
    frame (a smooth downscale), else the nearest pixel."""
    h, w = frames.shape[-3:-1]
    th, tw = size
    if (h, w) == (th, tw):
        return frames
    if h % th == 0 and w % tw == 0:
        blocks = frames.reshape(*frames.shape[:-3], th, h // th, tw, w // tw, 3).astype(np.float32)
        return np.round(blocks.mean(axis=(-4, -2))).astype(np.uint8)
    rows = np.arange(th) * h // th
    cols = np.arange(tw) * w // tw
    return np.ascontiguousarray(frames[..., rows, :, :][..., :, cols, :])


# --------------------------------------------------------------------------------------------
# Where frames come from


def frame_source(observation_space: Any, frames: FrameSource, render_mode: str | None, where: str) -> str:
    """``"image"`` or ``"render"``: the ``image`` key when the observation has one (``auto``)."""
    has_image = isinstance(observation_space, gym.spaces.Dict) and "image" in observation_space.spaces
    if frames not in ("auto", "image", "render"):
        raise ConfigError(f"{where}: frames={frames!r}; expected 'auto', 'image' or 'render'")
    if frames == "image" or (frames == "auto" and has_image):
        if not has_image:
            raise ConfigError(f"{where}: frames='image' but the observation has no 'image' key ({observation_space})")
        return "image"
    if render_mode != "rgb_array":
        raise ConfigError(
            f"{where}: the observation has no 'image' key, so frames come from render(), which needs the env "
            f"made with render_mode='rgb_array' (got {render_mode!r})"
        )
    return "render"


def image_shape(observation_space: Any, source: str) -> tuple[int, ...] | None:
    """Frame shape known before any step (from the observation space), or None for render()."""
    if source != "image":
        return None
    space = observation_space["image"]
    if space.dtype != np.uint8:
        raise ConfigError(f"observation 'image': rewards read uint8 frames, got {space.dtype}")
    return tuple(int(n) for n in space.shape)


def _state(obs: Any) -> np.ndarray | None:
    return np.asarray(obs["state"], np.float32) if isinstance(obs, dict) and "state" in obs else None


# --------------------------------------------------------------------------------------------
# One reward stream over a fixed number of slots


class Scorer:
    """A reward's online stream over ``slots`` envs: frames in, the agent's rewards out (0 where
    ``is_first``, as the loop hands them over)."""

    def __init__(self, spec: RewardSpec, frame_shape: tuple[int, ...], slots: int, source: str) -> None:
        self.reward, self.resize_to = spec.build(frame_shape, source)
        self.frame_shape, self.source = tuple(frame_shape), source
        self.slots = slots
        self.stream = self.reward.stream(slots, np.zeros(slots, np.int32))
        self.steps = 0

    def step(
        self,
        frames: np.ndarray,
        is_first: np.ndarray,
        task_reward: np.ndarray,
        state: np.ndarray | None,
        action: np.ndarray | None,
    ) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or tuple(frames.shape[1:]) != self.frame_shape:
            raise ConfigError(
                f"{self.source}: frames changed from uint8{list(self.frame_shape)} to {frames.dtype}{list(frames.shape[1:])}"
            )
        if self.resize_to is not None:
            frames = resize_frames(frames, self.resize_to)
        is_first = np.asarray(is_first, bool)
        batch = StepBatch(
            frames=frames,
            is_first=is_first.copy(),
            task_reward=np.where(is_first, 0.0, task_reward).astype(np.float32),
            task_ids=np.zeros(self.slots, np.int32),
            state=state,
            action=action,
        )
        rewards = check_rewards(self.stream.step(batch), self.slots, self.steps)
        self.steps += 1
        return np.where(is_first, np.float32(0), rewards).astype(np.float32)


def _spec(reward: str | Reward, workdir: Any, options: dict[str, Any], **fields: Any) -> RewardSpec:
    return RewardSpec(reward=reward, workdir=workdir, options=dict(options), **fields)


# --------------------------------------------------------------------------------------------
# The wrappers


class RewardWrapper(gym.Wrapper):
    """``env`` with its reward replaced by ``reward`` (``info["task_reward"]`` keeps the env's own).

    ``RewardWrapper(env, "viper", workdir="runs/reach", normalize="running")``; ``**options`` are
    the reward's ``--set reward.X=...`` options. ``task`` names the env's task for the reward
    (``"lite:reach"`` also applies that suite's image mask; None: the video model's only task);
    ``data`` is an expert dataset folder for rewards that read one (``amp``, the ``viper``
    offset; default: the workdir's collected videos); ``frames`` picks the ``image`` observation
    key or ``render()`` (``auto``: the key if present); ``resize=True`` resizes frames to the
    workdir tokenizer's size; ``explore``/``beta`` add a weighted bonus (``viper + beta * rnd``)
    as ``--explore``/``--beta`` do.
    """

    def __init__(
        self,
        env: gym.Env,
        reward: str | Reward = "viper",
        workdir: str | Path | Workdir | None = None,
        *,
        task: str | None = None,
        data: str | Path | None = None,
        frames: FrameSource = "auto",
        resize: bool = False,
        explore: str | None = None,
        beta: float | None = None,
        explore_options: dict[str, Any] | None = None,
        seed: int = 0,
        host: PluginHost | None = None,
        **options: Any,
    ) -> None:
        super().__init__(env)
        self.spec_ = _spec(
            reward,
            workdir,
            options,
            task=task,
            data=data,
            resize=resize,
            explore=explore,
            beta=beta,
            explore_options=explore_options,
            seed=seed,
            host=host,
        )
        where = f"RewardWrapper({type(env.unwrapped).__name__})"
        self.source = frame_source(env.observation_space, frames, env.render_mode, where)
        self.source_name = f"{where} {'observation image' if self.source == 'image' else 'render()'}"
        self.scorer: Scorer | None = None
        shape = image_shape(env.observation_space, self.source) or self._rendered_shape()
        if shape is not None:
            self.scorer = Scorer(self.spec_, shape, 1, self.source_name)
        self._no_action = np.zeros((1, *env.action_space.shape), action_dtype(env.action_space))

    @property
    def stream(self) -> Any:
        """The reward's online stream (e.g. ``stream.metrics()``, ``stream.last_parts``)."""
        return self.scorer.stream if self.scorer else None

    def _rendered_shape(self) -> tuple[int, ...] | None:
        # An env that renders before its first reset tells the frame size now; others at reset.
        try:
            frame = self.env.render()
        except Exception:  # noqa: BLE001 -- many envs cannot render before reset
            return None
        return tuple(np.shape(frame)) if isinstance(frame, np.ndarray) else None

    def _frame(self, obs: Any) -> np.ndarray:
        frame = obs["image"] if self.source == "image" else self.env.render()
        frame = np.asarray(frame)
        if self.scorer is None:
            self.scorer = Scorer(self.spec_, frame.shape, 1, self.source_name)
        return frame[None]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        frame = self._frame(obs)
        state = _state(obs)
        self.scorer.step(frame, np.ones(1, bool), np.zeros(1), None if state is None else state[None], self._no_action)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, task_reward, terminated, truncated, info = self.env.step(action)
        state = _state(obs)
        act = np.asarray(action, self._no_action.dtype).reshape(self._no_action.shape)
        reward = self.scorer.step(
            self._frame(obs), np.zeros(1, bool), np.full(1, task_reward), None if state is None else state[None], act
        )
        return obs, float(reward[0]), terminated, truncated, {**info, "task_reward": float(task_reward)}


class VectorRewardWrapper(gym.vector.VectorWrapper):
    """A gymnasium vector env with its rewards replaced by ``reward``, one batched stream step per
    vector step; the same arguments as :class:`RewardWrapper`. ``info["task_reward"]`` holds the
    envs' own rewards. See the module docstring for the autoreset modes."""

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        reward: str | Reward = "viper",
        workdir: str | Path | Workdir | None = None,
        *,
        task: str | None = None,
        data: str | Path | None = None,
        frames: FrameSource = "auto",
        resize: bool = False,
        explore: str | None = None,
        beta: float | None = None,
        explore_options: dict[str, Any] | None = None,
        seed: int = 0,
        host: PluginHost | None = None,
        **options: Any,
    ) -> None:
        super().__init__(env)
        where = f"VectorRewardWrapper({type(env).__name__})"
        self.mode = autoreset_mode(env)
        if self.mode not in ("NextStep", "SameStep"):
            raise ConfigError(
                f"{where}: autoreset mode {self.mode} is not supported; build the vector env with "
                f"autoreset_mode=gymnasium.vector.AutoresetMode.NEXT_STEP (or SAME_STEP)"
            )
        self.spec_ = _spec(
            reward,
            workdir,
            options,
            task=task,
            data=data,
            resize=resize,
            explore=explore,
            beta=beta,
            explore_options=explore_options,
            seed=seed,
            host=host,
        )
        self.source = frame_source(env.single_observation_space, frames, getattr(env, "render_mode", None), where)
        if self.source == "render" and self.mode == "SameStep":
            raise ConfigError(
                f"{where}: frames from render() under SAME_STEP autoreset lose each episode's last frame (the env "
                f"is already reset); use autoreset_mode=NEXT_STEP or an 'image' observation key"
            )
        self.source_name = f"{where} {'observation image' if self.source == 'image' else 'render()'}"
        self.n = int(env.num_envs)
        self.slots = 2 * self.n if self.mode == "SameStep" else self.n
        self.active = np.zeros(self.n, np.int64)  # SAME_STEP: which of an env's two slots runs its episode
        self.scorer: Scorer | None = None
        shape = image_shape(env.single_observation_space, self.source)
        if shape is not None:
            self.scorer = Scorer(self.spec_, shape, self.slots, self.source_name)
        space = env.single_action_space
        self._no_action = np.zeros((self.n, *space.shape), action_dtype(space))
        self._done = np.zeros(self.n, bool)

    @property
    def stream(self) -> Any:
        return self.scorer.stream if self.scorer else None

    def _frames(self, obs: Any) -> np.ndarray:
        frames = np.asarray(obs["image"] if self.source == "image" else np.stack(self.env.render()))
        if self.scorer is None:
            self.scorer = Scorer(self.spec_, frames.shape[1:], self.slots, self.source_name)
        return frames

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        frames, state = self._frames(obs), _state(obs)
        self._done[:] = False
        self.active[:] = 0
        first, zeros = np.ones(self.slots, bool), np.zeros(self.slots)
        self.scorer.step(self._tile(frames), first, zeros, self._tile(state), self._tile(self._no_action))
        return obs, info

    def _tile(self, x: np.ndarray | None) -> np.ndarray | None:
        """Each env's entry in all its slots (both of them under SAME_STEP)."""
        return None if x is None else np.concatenate([x] * (self.slots // self.n))

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, task_reward, terminated, truncated, info = self.env.step(actions)
        frames, state = self._frames(obs), _state(obs)
        actions = np.asarray(actions, self._no_action.dtype).reshape(self._no_action.shape)
        task_reward = np.asarray(task_reward, np.float64)
        if self.mode == "NextStep":
            first = self._done.copy()  # these envs were reset by this call; their action was ignored
            action = actions.copy()
            action[first] = 0
            rewards = self.scorer.step(frames, first, task_reward, state, action)
            self._done = np.asarray(terminated, bool) | np.asarray(truncated, bool)
        else:
            rewards = self._same_step(frames, state, actions, task_reward, terminated, truncated, info)
        info = {**info, "task_reward": task_reward, "_task_reward": np.ones(self.n, bool)}
        return obs, rewards, terminated, truncated, info

    def _same_step(
        self,
        frames: np.ndarray,
        state: np.ndarray | None,
        actions: np.ndarray,
        task_reward: np.ndarray,
        terminated: Any,
        truncated: Any,
        info: dict[str, Any],
    ) -> np.ndarray:
        """The active slots score the episodes' newest frames (the final one where an episode
        ended); the spare slots take this step's frames as first frames, and become active where
        an episode ended, so the new episode's first frame is in the stream's history."""
        n = self.n
        done = np.asarray(terminated, bool) | np.asarray(truncated, bool)
        last_frames, last_state = frames.copy(), None if state is None else state.copy()
        for i in np.flatnonzero(done):
            final = info["final_obs"][i]
            last_frames[i] = final["image"]
            if last_state is not None:
                last_state[i] = final["state"]
        envs = np.arange(n)
        active, spare = envs + n * self.active, envs + n * (1 - self.active)
        slot_frames = np.empty((self.slots, *frames.shape[1:]), frames.dtype)
        slot_frames[active], slot_frames[spare] = last_frames, frames
        slot_state = None
        if state is not None:
            slot_state = np.empty((self.slots, *state.shape[1:]), state.dtype)
            slot_state[active], slot_state[spare] = last_state, state
        first = np.zeros(self.slots, bool)
        first[spare] = True
        slot_reward = np.zeros(self.slots)
        slot_reward[active] = task_reward
        slot_action = self._tile(self._no_action).copy()
        slot_action[active] = actions
        scores = self.scorer.step(slot_frames, first, slot_reward, slot_state, slot_action)
        rewards = scores[active]
        self.active = np.where(done, 1 - self.active, self.active)
        return rewards


# --------------------------------------------------------------------------------------------
# Offline data


def relabel(
    frames: np.ndarray,
    reward: str | Reward = "viper",
    workdir: str | Path | Workdir | None = None,
    *,
    task: str | None = None,
    data: str | Path | None = None,
    task_reward: np.ndarray | None = None,
    resize: bool = False,
    explore: str | None = None,
    beta: float | None = None,
    explore_options: dict[str, Any] | None = None,
    seed: int = 0,
    host: PluginHost | None = None,
    **options: Any,
) -> np.ndarray:
    """Rewards of recorded episodes: ``uint8[T,H,W,3] -> float32[T]`` or ``uint8[N,T,H,W,3] ->
    float32[N,T]`` (each row one episode from its first frame), equal to what the wrappers hand an
    agent for those frames: entry ``t`` is the reward of the transition into frame ``t``, 0 at
    ``t = 0``. ``task_reward`` (same leading shape) is needed only by the ``task`` reward.

    A reward with running statistics (``normalize=running``) has none yet when built here, so
    its values are the raw ones; online rewards (``rnd``, ``amp``) score with fresh networks.
    """
    frames = np.asarray(frames)
    single = frames.ndim == 4
    if single:
        frames = frames[None]
        task_reward = None if task_reward is None else np.asarray(task_reward)[None]
    if frames.ndim != 5 or frames.dtype != np.uint8:
        raise ConfigError(
            f"relabel: frames must be uint8[T,H,W,3] or uint8[N,T,H,W,3], got {frames.dtype}{list(frames.shape)}"
        )
    spec = _spec(
        reward,
        workdir,
        options,
        task=task,
        data=data,
        resize=resize,
        explore=explore,
        beta=beta,
        explore_options=explore_options,
        seed=seed,
        host=host,
    )
    built, resize_to = spec.build(tuple(frames.shape[2:]), "relabel frames")
    if resize_to is not None:
        frames = resize_frames(frames, resize_to)
    if task_reward is not None:
        task_reward = np.asarray(task_reward, np.float32)
    out = np.asarray(built.relabel(frames, np.zeros(len(frames), np.int32), task_reward), np.float32).copy()
    out[:, 0] = 0.0  # no transition led to an episode's first frame
    return out[0] if single else out
