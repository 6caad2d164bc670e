"""What each kind of component promises (DESIGN.md: numpy at the boundary).

Frames are ``uint8[..., H, W, 3]``, codes ``int32[..., h, w]``, log-likelihoods and rewards
``float32``. Inside a component any framework may be used; across components only numpy arrays
travel. Implementations validate their inputs with :mod:`viper.core.checks`, so misuse fails
with a :class:`~viper.core.errors.ContractError` that names the argument and the expectation.

How the runner builds each kind from the factory a :class:`~viper.core.spec.ComponentSpec`
points at (``Config`` is an optional dataclass attribute of the factory, filled from
``--set KIND.FIELD=VALUE`` options, see :mod:`viper.core.config`):

==============  ==========================================================================
env suite       ``factory() -> EnvSuite``
tokenizer       ``factory(config) -> Tokenizer`` (untrained); ``factory.load(dir)`` (trained)
video model     ``factory(config) -> VideoModel`` (untrained); ``factory.load(dir)`` (trained)
reward          ``factory(config, context: RewardContext) -> Reward``
agent           ``factory(config, obs_space, act_space, seed) -> Agent``
==============  ==========================================================================
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # keep gymnasium out of import time for listing
    import gymnasium

    from viper.core.dataset import EpisodeStore, VideoDataset  # noqa: F401
    from viper.core.workdir import StageContext, Workdir


# --------------------------------------------------------------------------------------------
# Environments


@runtime_checkable
class Policy(Protocol):
    """A per-episode controller, e.g. a suite's scripted expert.

    ``reset`` is called after every ``env.reset``; ``act`` maps one (unbatched) observation dict
    to an action inside ``env.action_space``. Scripted experts may read privileged simulator
    state from the env they were made for.
    """

    def reset(self) -> None: ...

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray | int: ...


@runtime_checkable
class EnvSuite(Protocol):
    """A family of tasks, each a ``gymnasium.Env`` with a dict observation space holding
    ``image`` (``uint8[H,W,3]``) and, where available, ``state`` (``float32[n]``).

    Every ``step`` puts the environment's own reward in ``info["task_reward"]`` (the returned
    reward equals it; the runner replaces it with the user's chosen reward before any agent
    sees it). A ``reset`` info may lack it, as gymnasium allows (``{}`` is fine).

    :class:`viper.core.suites.TableSuite` writes all four methods from a table of tasks and a
    typed ``Config`` of the suite's options (``--set env.FIELD=VALUE``).

    Optional: ``terminates(task) -> bool``, True when the task's episodes can end early because
    the agent failed (TableSuite reads it from the table's ``Task.terminates``); a suite without
    it is taken to run every episode to its time limit (see :attr:`RewardContext.terminates`).
    """

    name: str

    def tasks(self) -> list[str]:
        """Every task name this suite accepts in :meth:`make`."""
        ...

    def make(self, task: str, *, seed: int | None = None, size: int = 64, **options: Any) -> gymnasium.Env:
        """A new environment for ``task`` rendering ``size x size`` frames; unknown task names
        raise :class:`~viper.core.errors.ConfigError` listing :meth:`tasks`."""
        ...

    def expert(self, task: str, env: gymnasium.Env) -> Policy | None:
        """A scripted expert driving ``env`` (made by :meth:`make`), or ``None`` if the task has none."""
        ...

    def image_mask(self, task: str, size: int = 64) -> np.ndarray | None:
        """``bool[size, size]``, ``False`` where pixels must be hidden from the video model
        (e.g. an Atari score), or ``None`` when the whole frame is informative."""
        ...


# --------------------------------------------------------------------------------------------
# Tokenizer and video model


@runtime_checkable
class Tokenizer(Protocol):
    """Compresses frames into a small grid of discrete codes and back."""

    vocab_size: int
    image_size: tuple[int, int]
    code_grid: tuple[int, int]

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """``uint8[N,H,W,3] -> int32[N,h,w]`` with values in ``[0, vocab_size)``."""
        ...

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """``int32[N,h,w] -> uint8[N,H,W,3]``."""
        ...

    def fit(self, train: EpisodeStore, val: EpisodeStore, ctx: StageContext) -> dict[str, float]:
        """Train on episodes of frames (masks already applied; ``val`` may be empty); return
        final metrics (e.g. ``val_psnr``). ``ctx.options`` holds ``tasks`` and ``image_size``;
        checkpoints written under ``ctx.directory`` let a killed run resume."""
        ...

    def save(self, directory: Path) -> None:
        """Write weights and config into ``directory`` (safe formats only)."""
        ...


@runtime_checkable
class LikelihoodStream(Protocol):
    """Incremental log-likelihoods for ``num_envs`` parallel episodes.

    Each :meth:`step` takes the newest frame's codes of every env and returns
    ``log p(frame | up to `context` previous frames of that env, task)``. The work per call does
    not grow with episode length (a rolling key/value cache).
    """

    num_envs: int

    def step(self, codes: np.ndarray, is_first: np.ndarray) -> np.ndarray:
        """``codes int32[num_envs,h,w]``, ``is_first bool[num_envs]`` (True forgets that env's
        history first, so the frame is scored with no context) -> ``float32[num_envs]`` nats."""
        ...


@runtime_checkable
class VideoModel(Protocol):
    """A frozen likelihood model over code sequences.

    A model without a likelihood (e.g. a deterministic predictor of the next frame's embedding)
    declares it with class attributes ``likelihood = False`` and ``score_units`` (what its numbers
    are, e.g. ``"2*cos - 2 of unit embeddings"``), and implements
    ``score(codes int32[B,T,h,w], task) -> float32[B,T]`` with the same windows as
    :meth:`log_prob` (entry ``[b, t]`` rates frame ``t`` given frames ``max(0, t-context)..t-1``),
    finite and "higher is more expert-like", but no probability. Its ``stream`` returns the same
    numbers as ``score``; its ``log_prob`` (if any) raises. An absent ``likelihood`` means ``True``
    (``score_units`` then is ``"nats"``). The ``viper`` reward and the contract kit call ``score``
    for such a model and never call its numbers log-likelihoods (:func:`scores_likelihood`).
    """

    vocab_size: int
    code_grid: tuple[int, int]
    context: int
    num_tasks: int

    def log_prob(self, codes: np.ndarray, task: np.ndarray | int | None = None) -> np.ndarray:
        """``codes int32[B,T,h,w] -> float32[B,T]``: entry ``[b, t]`` is
        ``log p(frame t | frames max(0, t-context)..t-1, task)`` in nats summed over the frame's codes."""
        ...

    def stream(self, num_envs: int, task: np.ndarray | int | None = None) -> LikelihoodStream:
        """An incremental scorer for ``num_envs`` envs whose outputs equal :meth:`log_prob`'s."""
        ...

    def fit(self, train: EpisodeStore, val: EpisodeStore, ctx: StageContext) -> dict[str, float]:
        """Train on episodes of codes (the tokenizer's output, ``int32[T,h,w]`` each); return
        final metrics. ``ctx.options`` holds ``tasks``, ``vocab_size``, ``code_grid`` and
        ``image_size``; checkpoints under ``ctx.directory`` let a killed run resume."""
        ...

    def save(self, directory: Path) -> None: ...


def has_likelihood(model: Any) -> bool:
    """Whether a video model's numbers are log-likelihoods (its ``likelihood``; absent: True)."""
    return bool(getattr(model, "likelihood", True))


def score_units(model: Any) -> str:
    """What a video model's numbers are: ``"nats"`` for a likelihood model, else its ``score_units``."""
    return "nats" if has_likelihood(model) else str(getattr(model, "score_units", "score (higher is more expert-like)"))


def frame_scores(model: Any, codes: np.ndarray, task: np.ndarray | int | None = None) -> np.ndarray:
    """``float32[B,T]`` per-frame numbers of a video model: ``log_prob`` for a likelihood model,
    ``score`` for one that declares ``likelihood = False``."""
    return model.log_prob(codes, task) if has_likelihood(model) else model.score(codes, task)


# --------------------------------------------------------------------------------------------
# Rewards


@dataclasses.dataclass
class StepBatch:
    """One env step across ``B`` envs, as the reward sees it.

    ``frames[i]`` is the frame env ``i`` reached by its last action (or its first frame when
    ``is_first[i]``); the reward returned for it belongs to that transition. A reward declares in
    :attr:`Reward.needs` which fields beyond ``frames``/``is_first``/``task_ids`` it reads
    (``"task_reward"``, ``"state"``, ``"action"``), so a runner knows what it must fill in.
    """

    frames: np.ndarray  # uint8[B,H,W,3]
    is_first: np.ndarray  # bool[B]
    task_reward: np.ndarray  # float32[B], the env's own reward (only the `task` reward may use it)
    task_ids: np.ndarray  # int32[B], indices into RewardContext.tasks; fixed per env for a stream
    state: np.ndarray | None = None  # float32[B,n] where the env provides it
    action: np.ndarray | None = None  # the action that produced this frame (zeros when is_first)


@dataclasses.dataclass
class RewardContext:
    """What a reward factory may need besides its config."""

    workdir: Workdir | str | Path | None = None  # where the trained tokenizer/video model live
    expert_data: VideoDataset | None = None  # the expert videos (AMP, diagnostics)
    tasks: tuple[str, ...] = ()  # the env's task names; a task id is an index into this
    image_size: tuple[int, int] = (64, 64)  # (H, W) of the env's frames
    image_masks: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # task -> bool[H,W]
    seed: int = 0
    host: Any = None  # the PluginHost to load the workdir's components with (None: installed plugins)
    # True when an episode of these tasks can end early on failure (EnvSuite.terminates): a reward
    # summed over steps must then not make ending the episode attractive.
    terminates: bool = False


@runtime_checkable
class RewardStream(Protocol):
    """The online form of a reward: one frame per env per step.

    A stream keeps per-env state (the video model's cache, frame histories); ``is_first[i]``
    resets env ``i``'s. Rewards trained online (``rnd``, ``amp``) update their networks inside
    :meth:`step`, after scoring the batch, on a schedule their config states. Optional extras a
    runner may use when present: ``metrics() -> dict[str, float]`` (scalars to log, e.g. a
    discriminator loss) and, on combined rewards, ``last_parts`` (each part's unweighted reward
    of the latest step, see :class:`viper.core.rewarding.WeightedSum`).
    """

    num_envs: int

    def step(self, batch: StepBatch) -> np.ndarray:
        """-> ``float32[num_envs]``, finite (a non-finite value raises
        :class:`~viper.core.errors.NonFiniteError` naming the step and env); a batch whose size
        differs from ``num_envs`` raises :class:`~viper.core.errors.ContractError`."""
        ...


@runtime_checkable
class Reward(Protocol):
    """Maps frames (and what else it declares in ``needs``) to rewards.

    ``needs`` holds the :class:`StepBatch` fields it reads besides frames, is_first and task ids
    (e.g. ``{"task_reward"}`` for the oracle), so runners and agents can refuse a reward that
    would leak the environment's reward. A reward that trains inside its stream (``rnd``,
    ``amp``) sets the optional class attribute ``online = True``: its stream is then not expected
    to equal :meth:`relabel` (:func:`viper.core.testing.check_reward` reads it).
    """

    needs: frozenset[str]

    def stream(self, num_envs: int, task_ids: np.ndarray | None = None) -> RewardStream:
        """A new online scorer for ``num_envs`` envs whose task ids (into
        ``RewardContext.tasks``; None: all 0) stay fixed for the stream's life."""
        ...

    def relabel(
        self,
        frames: np.ndarray,
        task_ids: np.ndarray | None = None,
        task_reward: np.ndarray | None = None,
    ) -> np.ndarray:
        """Batch form: ``frames uint8[B,T,H,W,3] -> float32[B,T]`` where frame 0 of each row
        starts an episode; equal to feeding the rows through a fresh :meth:`stream` (rewards
        trained online score with their current networks and do not train here)."""
        ...


# --------------------------------------------------------------------------------------------
# Agents


@dataclasses.dataclass
class EnvStep:
    """What ``B`` envs returned at one step, with the reward the user chose.

    Follows DreamerV3's convention: ``reward[i]`` belongs to the transition into ``obs[i]``,
    ``is_first[i]`` marks an episode's first observation (its reward is 0), ``is_last`` the final
    one, ``is_terminal`` a true termination (not a time limit). The action an agent returns for
    a step whose ``is_last`` is set is never executed: the env starts a new episode instead, and
    the next step of that env has ``is_first`` set.

    ``obs`` holds every key the env observes (``image`` and, where available, ``state``),
    batched; an agent reads the keys its config names. The env's own reward is not in it: the
    runner keeps ``info["task_reward"]`` for evaluation and hands agents only ``reward``.
    """

    obs: dict[str, np.ndarray]
    reward: np.ndarray  # float32[B]
    is_first: np.ndarray  # bool[B]
    is_last: np.ndarray  # bool[B]
    is_terminal: np.ndarray  # bool[B]


@runtime_checkable
class Agent(Protocol):
    """An RL agent driven by the runner (:mod:`viper.core.loop`); it never sees ``task_reward``
    unless the user picks the ``task`` reward.

    Built by ``factory(config, obs_space, act_space, seed)`` where the spaces are the single-env
    ``gymnasium`` spaces; an agent that cannot handle them raises
    :class:`~viper.core.errors.ConfigError` saying what it supports. The agent owns its replay
    buffer, optimisers and random generators, and :meth:`save` writes all of them (safe formats
    only: safetensors, npz, json), so a run resumed from :meth:`load` continues where it was.
    Optionally ``load_policy(directory)`` restores only what ``act(..., mode="eval")`` needs
    (weights, no replay or optimiser); a trained agent replayed as a policy (``--policy
    agent:WORKDIR``, ``--expert agent:WORKDIR``) uses it when present and :meth:`load` otherwise.
    """

    updates_per_step: float
    """Calls of :meth:`train` per env step once :attr:`train_start` steps were collected (the
    replay ratio; DreamerV3's ``train_ratio / (batch * length)``)."""
    train_start: int
    """Env steps (summed over envs) to collect before the first :meth:`train`."""

    def act(self, step: EnvStep, mode: str = "train") -> np.ndarray:
        """Actions ``[B, ...]`` for every env given the newest step.

        ``mode="train"`` explores and records the step (with the action chosen for it) for
        learning; ``mode="eval"`` acts as evaluated and records nothing. Each mode keeps its own
        recurrent state per env, reset where ``step.is_first``."""
        ...

    def train(self) -> dict[str, float]:
        """One gradient update; returns finite scalar metrics (a non-finite loss raises
        :class:`~viper.core.errors.NonFiniteError` before any parameter changes)."""
        ...

    def save(self, directory: Path) -> None:
        """Write weights, optimiser, replay and RNG state into the (new, empty) ``directory``."""
        ...

    def load(self, directory: Path) -> None:
        """Restore what :meth:`save` wrote; a missing, corrupt or mismatched file raises
        :class:`~viper.core.errors.WorkdirError` naming it (and changes nothing on disk)."""
        ...
