"""``viper``: the video-prediction likelihood reward of VIPER (Escontrela et al. 2023).

``r_t = log p(x_t | x_{t-k}, x_{t-2k}, ..., task)`` in nats, summed over frame ``t``'s codes, under
a frozen tokenizer and video model trained on expert videos (``k`` is the frame skip the model was
trained with; at most ``context`` previous frames). Reward ``t`` belongs to the transition that
produced frame ``t``; an episode's first frames are scored with the context they have (frame 0
with none), never dropped.

Both forms go through one :class:`_Scorer`: the online stream encodes the ``B`` newest frames per
step and feeds their codes to the scorer; :meth:`ViperReward.relabel` encodes whole sequences and
feeds them to a fresh scorer one time step at a time, so the two agree exactly.

Frame skip: a video model that declares ``frame_skip = m`` (as ``ar-transformer`` does) applies
it itself: its ``log_prob`` and ``stream`` take every env frame and condition frame ``t`` on
``t-m, t-2m, ...``. The reward's ``frame_skip`` ``k`` must then be ``m`` (the default) or a multiple
``c * m`` (the env steps ``c`` times faster than the training videos); the extra factor ``c`` is
applied here by feeding the model every ``c``-th frame of each env's history.

The scorer uses the video model's incremental ``stream`` (a rolling key/value cache: constant
work per step) for the paper's conditional reward when no extra skip is needed. Otherwise
(``mode=joint``, an extra skip, or ``incremental=false``) it keeps each env's trailing window of
codes and calls ``log_prob`` on it every step, which costs ``context * m + 1`` frames of work.

A video model without a likelihood (``likelihood = False``, e.g. ``latent-predictor``) is scored
by its ``score`` (same windows, "higher is more expert-like", in its ``score_units``) through the
same stream or windows; the reward is then that score, never called a log-likelihood (its metric
is ``viper/score``), and ``mode=joint``, which sums log-likelihoods, is refused.

Terminating tasks: a log-likelihood is negative, so on a task whose episode ends when the agent
fails (``RewardContext.terminates``: the pole falls) the summed reward is highest for the
shortest episode. ``offset`` moves the reward's zero point to a baseline per-step value (by
default a low quantile of held-out expert frames' rewards): an expert-like step then earns more
than ending the episode (0), a clearly un-expert-like one less. See :class:`Config`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Literal

import numpy as np

from viper.core.checks import check_codes
from viper.core.components import load_tokenizer, load_video_model
from viper.core.config import Options, option
from viper.core.dataset import VideoDataset
from viper.core.errors import ConfigError, ContractError, ViperError, WorkdirError
from viper.core.protocols import RewardContext, StepBatch, frame_scores, has_likelihood
from viper.core.workdir import Workdir
from viper.rewards.common import check_sequences, check_step, masked, raise_non_finite, stream_task_ids
from viper.rewards.normalize import Normalizer

#: Held-out expert episodes scored for ``offset=expert`` (a few hundred frames: seconds on a CPU).
EXPERT_EPISODES = 8


def _offset_valid(value: Any) -> bool:
    return isinstance(value, str) or math.isfinite(float(value))


@dataclasses.dataclass
class Config(Options):
    """Options of the ``viper`` reward (``--set reward.FIELD=VALUE``)."""

    SECTION: ClassVar[str] = "reward"

    mode: Literal["conditional", "joint"] = "conditional"
    """``conditional`` (the paper): log p(x_t | previous frames). ``joint``: log-likelihood of the
    whole trailing window of ``context + 1`` frames ending at x_t (the official code's default),
    rescaled by ``window / frames`` while an episode is younger than the window."""
    frame_skip: int | None = option(None, ge=1)
    """Env steps between the frames a frame is conditioned on. Unset: the model's own
    (``frame_skip`` it was trained with, else 1); otherwise a multiple of the model's."""
    task: str | None = None
    """Condition every env on this model task (a name the model was trained on, or its index)
    instead of matching the env's task names to the model's."""
    mask: bool = True
    """Hide the pixels of each task's image mask (e.g. a game score) before tokenizing, as the
    tokenizer and video model were trained."""
    normalize: Literal["none", "symlog", "running"] = "none"
    """Optional squashing: ``symlog`` or ``running`` (standardise by the running mean and std of
    the online rewards). ``none`` returns raw nats."""
    scale: float = 1.0
    """Multiplies the (normalised) reward."""
    incremental: bool = True
    """Use the video model's cached stream when the mode allows it; false recomputes ``log_prob``
    on each env's trailing window every step (slower; a cross-check)."""
    encode_batch: int = option(256, ge=1)
    """Frames per tokenizer call when relabelling long sequences."""
    offset: Literal["auto", "none", "expert"] | float = option(
        "auto", test=_offset_valid, expected="'auto', 'none', 'expert' or a finite number", keyed_default=False
    )
    """The reward's zero point, for tasks that end early when the agent fails (the pole falls):
    a raw per-step reward equal to the baseline maps to 0 whatever ``normalize`` does, one above
    it to more, one below to less, so an expert-like step is worth more than ending the episode.
    ``expert``: the baseline is the ``offset_quantile`` quantile of the per-step rewards of up to
    8 held-out expert episodes of the env's task (the video model's validation split of the
    workdir's collected data, or of ``RewardContext.expert_data``; frame 0 of each left out),
    scored once when the reward is built: deterministic, seconds on a CPU. ``auto``
    (the default): ``expert`` on tasks that declare they terminate (``Task.terminates``, e.g.
    ``lite:balance``, Atari), ``none`` elsewhere. ``none``: no offset. A number: that raw
    per-step value (nats, or the model's score units) is the baseline."""
    offset_quantile: float = option(0.05, gt=0, lt=1, keyed_default=False)
    """Quantile of the held-out expert per-step rewards used as the ``expert`` baseline: about
    this share of expert-like steps earns less than 0."""


class ViperReward:
    """The VIPER reward from a workdir's trained tokenizer and video model.

    ``ViperReward(config, context)`` loads both from ``context.workdir`` (the finished
    ``tokenizer`` and ``video_model`` stages); tests and benchmarks may pass ``tokenizer=`` and
    ``video_model=`` objects directly. The components are frozen: nothing here trains.
    """

    Config = Config
    needs: frozenset[str] = frozenset()

    def __init__(
        self,
        config: Config | None = None,
        context: RewardContext | None = None,
        *,
        tokenizer: Any = None,
        video_model: Any = None,
    ) -> None:
        self.config = config = config or Config()
        self.context = context = context or RewardContext()
        if tokenizer is None or video_model is None:
            if context.workdir is None:
                raise ConfigError(
                    "viper reward: needs a workdir holding a trained tokenizer and video model (--workdir); "
                    "run `viper-run fit-tokenizer` and `viper-run fit-model` first"
                )
            _check_pairing(context.workdir)
            tokenizer = tokenizer if tokenizer is not None else load_tokenizer(context.workdir, context.host)
            video_model = video_model if video_model is not None else load_video_model(context.workdir, context.host)
        self.tokenizer, self.model = tokenizer, video_model
        self.likelihood = has_likelihood(video_model)
        #: What the raw reward is called in messages and metrics.
        self.quantity = "log-likelihood" if self.likelihood else "score"
        self._check_components()
        self.model_skip = int(getattr(self.model, "frame_skip", None) or 1)
        self.frame_skip = self._frame_skip()
        self.extra_skip = self.frame_skip // self.model_skip
        self.task_map = self._task_map()
        # Raw frames (at the extra skip) the model needs to score a frame with its full context.
        self.window = int(self.model.context) * self.model_skip + 1
        self.grid = tuple(int(n) for n in self.model.code_grid)
        self.incremental = (
            config.incremental
            and config.mode == "conditional"
            and self.extra_skip == 1
            and hasattr(video_model, "stream")
        )
        #: The raw per-step reward that maps to 0 (``offset``), or None.
        self.baseline = self._baseline()
        self.normalizer = Normalizer(config.normalize, config.scale, "--set reward.normalize", self.baseline)

    # -- setup checks ---------------------------------------------------------------------

    def _where(self) -> str:
        return str(getattr(self.context.workdir, "path", self.context.workdir) or "viper reward")

    def _check_components(self) -> None:
        tok, model, where = self.tokenizer, self.model, self._where()
        size = tuple(int(n) for n in tok.image_size)
        env_size = tuple(int(n) for n in self.context.image_size)
        if size != env_size:
            raise WorkdirError(
                f"{where}: the tokenizer was trained on {size[0]}x{size[1]} frames but the env renders "
                f"{env_size[0]}x{env_size[1]}; train on videos at the env's resolution or make the env at {size[0]}x{size[1]}"
            )
        if int(model.vocab_size) != int(tok.vocab_size) or tuple(model.code_grid) != tuple(tok.code_grid):
            raise WorkdirError(
                f"{where}: the video model expects {model.vocab_size} codes on a {tuple(model.code_grid)} grid but the "
                f"tokenizer makes {tok.vocab_size} on {tuple(tok.code_grid)}; re-run fit-model on this tokenizer"
            )
        if int(model.context) < 0:
            raise WorkdirError(f"{where}: the video model reports a negative context ({model.context})")
        if not self.likelihood and self.config.mode == "joint":
            raise ConfigError(
                f"--set reward.mode=joint sums log-likelihoods, but the video model ({type(model).__name__}) has no "
                f"likelihood (its scores are {getattr(model, 'score_units', 'scores')}); use mode=conditional"
            )

    def _frame_skip(self) -> int:
        wanted, own = self.config.frame_skip, self.model_skip
        if wanted is None:
            return own
        if wanted % own:
            raise ConfigError(
                f"--set reward.frame_skip={wanted}: the video model was trained on every {own}th frame, so the "
                f"reward's frame skip must be {own} (leave it unset) or a multiple of it when the env steps faster "
                f"than the training videos"
            )
        return int(wanted)

    def _task_map(self) -> np.ndarray:
        """Model task id for each env task id (an index into ``context.tasks``)."""
        env_tasks = list(self.context.tasks)
        model_tasks = getattr(self.model, "tasks", None)
        model_tasks = list(model_tasks) if model_tasks else None
        num_model = int(getattr(self.model, "num_tasks", len(model_tasks or [])) or 1)
        n_env = max(1, len(env_tasks))
        where = self._where()
        chosen = self.config.task
        if chosen is not None:
            if model_tasks and chosen in model_tasks:
                index = model_tasks.index(chosen)
            elif chosen.isdigit() and int(chosen) < num_model:
                index = int(chosen)
            else:
                known = ", ".join(model_tasks) if model_tasks else f"ids 0..{num_model - 1}"
                raise ConfigError(f"--set reward.task={chosen}: the video model knows tasks {known}")
            return np.full(n_env, index, np.int32)
        if model_tasks:
            missing = [t for t in env_tasks if t not in model_tasks]
            if missing:
                raise WorkdirError(
                    f"{where}: the video model was trained on tasks {', '.join(model_tasks)} but the env runs "
                    f"{', '.join(missing)}; fit it on videos of that task or pick one with --set reward.task=NAME"
                )
            return np.asarray([model_tasks.index(t) for t in env_tasks] or [0], np.int32)
        if num_model == 1:
            return np.zeros(n_env, np.int32)  # unconditional (or single-task) model
        if n_env > num_model:
            raise WorkdirError(
                f"{where}: the video model was trained on {num_model} tasks but the env has {n_env} "
                f"({', '.join(env_tasks)}); pick one with --set reward.task=INDEX"
            )
        return np.arange(n_env, dtype=np.int32)

    def _baseline(self) -> float | None:
        offset = self.config.offset
        if offset == "none" or (offset == "auto" and not self.context.terminates):
            return None
        if not isinstance(offset, str):
            return float(offset)
        raw = [self._raw_rewards(frames, ids)[:, 1:].reshape(-1) for frames, ids in self._held_out_expert()]
        return float(np.quantile(np.concatenate(raw), self.config.offset_quantile))

    def _held_out_expert(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Up to :data:`EXPERT_EPISODES` held-out expert episodes of the env's tasks, grouped by
        length: ``[(frames uint8[B,T,H,W,3], env task ids int[B])]``."""
        option = f"--set reward.offset={self.config.offset}"
        if self.config.offset == "auto":
            option += f" (on because {', '.join(self.context.tasks) or 'the task'} can terminate)"
        dataset, val_fraction = self.context.expert_data, 0.1
        if self.context.workdir is not None:
            wd = self.context.workdir
            wd = wd if isinstance(wd, Workdir) else Workdir(wd, create=False)
            try:
                val_fraction = float(wd.latest_info("video_model").get("config", {}).get("val_fraction", 0.1))
                dataset = dataset or VideoDataset(wd.latest("data") / "dataset")
            except ViperError:
                pass
        if dataset is None:
            raise ConfigError(
                f"{option}: needs expert videos of the task (the workdir's collected data) to set the reward's "
                "baseline; collect them in the workdir or set reward.offset to 'none' or a number"
            )
        tasks = list(self.context.tasks) or dataset.tasks[:1]
        held_out = [e for e in dataset.split(val_fraction)[1] if e.task in tasks]
        # A dataset with one episode per task holds none out: the training episodes still show the expert.
        episodes = (held_out or [e for e in dataset.episodes if e.task in tasks])[:EXPERT_EPISODES]
        if not episodes:
            raise ConfigError(
                f"{option}: {dataset.root} holds no episode of {', '.join(tasks)} to set the reward's baseline "
                "from; set reward.offset to 'none' or a number"
            )
        groups: dict[int, list[tuple[np.ndarray, int]]] = {}
        for episode in episodes:
            task_id = tasks.index(episode.task) if self.context.tasks else 0
            groups.setdefault(episode.length, []).append((dataset.load(episode)["frames"], task_id))
        return [
            (np.stack([f for f, _ in group]), np.asarray([i for _, i in group], np.int32)) for group in groups.values()
        ]

    # -- shared implementation ------------------------------------------------------------

    def encode(self, frames: np.ndarray, task_ids: np.ndarray) -> np.ndarray:
        """``uint8[N,H,W,3]`` (env task ids ``int[N]``) -> validated ``int32[N,h,w]`` codes."""
        if self.config.mask:
            frames = masked(frames, task_ids, self.context)
        step = self.config.encode_batch
        parts = [np.asarray(self.tokenizer.encode(frames[i : i + step])) for i in range(0, len(frames), step)]
        codes = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if len(codes) != len(frames):
            raise ContractError(f"tokenizer.encode returned {len(codes)} code grids for {len(frames)} frames")
        return check_codes(codes, "tokenizer.encode output", vocab_size=int(self.tokenizer.vocab_size), grid=self.grid)

    def stream(self, num_envs: int, task_ids: np.ndarray | None = None) -> ViperStream:
        return ViperStream(self, num_envs, task_ids)

    def relabel(
        self, frames: np.ndarray, task_ids: np.ndarray | None = None, task_reward: np.ndarray | None = None
    ) -> np.ndarray:
        frames, ids = check_sequences(frames, task_ids, self.context, "viper reward")
        return self.normalizer(self._raw_rewards(frames, ids), update=False)

    def _raw_rewards(self, frames: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """``float32[B,T]`` log-likelihoods (or scores) of checked sequences, before normalising."""
        batch, steps = frames.shape[:2]
        codes = self.encode(frames.reshape(batch * steps, *frames.shape[2:]), np.repeat(ids, steps))
        codes = codes.reshape(batch, steps, *self.grid)
        scorer = _Scorer(self, batch, ids)
        out = np.empty((batch, steps), np.float32)
        first = np.ones(batch, bool)
        for t in range(steps):
            out[:, t] = raise_non_finite(scorer.step(codes[:, t], first), f"viper reward: {self.quantity}", t)
            first = np.zeros(batch, bool)
        return out


def _check_pairing(workdir: Any) -> None:
    """The newest video model must have been trained on the newest tokenizer's codes."""
    wd = workdir if isinstance(workdir, Workdir) else Workdir(workdir, create=False)
    tokenizer = wd.latest("tokenizer").name
    trained_on = wd.latest_info("video_model").get("config", {}).get("tokenizer")
    if trained_on is not None and trained_on != tokenizer:
        raise WorkdirError(
            f"{wd.path}: the video model was trained on the codes of {trained_on} but the newest tokenizer is "
            f"{tokenizer}; re-run `viper-run fit-model --workdir {wd.path}`"
        )


class ViperStream:
    """Online form: ``step(StepBatch) -> float32[num_envs]``, one frame per env per step."""

    def __init__(self, reward: ViperReward, num_envs: int, task_ids: np.ndarray | None = None) -> None:
        self.reward = reward
        self.task_ids = stream_task_ids(task_ids, num_envs, reward.context, "viper reward.stream")
        self.num_envs = int(num_envs)
        self.scorer = _Scorer(reward, self.num_envs, self.task_ids)
        self.steps = 0
        self.last_log_likelihood = np.zeros(self.num_envs, np.float32)

    def step(self, batch: StepBatch) -> np.ndarray:
        frames, is_first = check_step(
            batch, self.num_envs, self.task_ids, tuple(self.reward.context.image_size), "viper reward"
        )
        codes = self.reward.encode(frames, self.task_ids)
        raw = raise_non_finite(self.scorer.step(codes, is_first), f"viper reward: {self.reward.quantity}", self.steps)
        self.steps += 1
        self.last_log_likelihood = raw
        return self.reward.normalizer(raw, update=True)

    def metrics(self) -> dict[str, float]:
        # A model without a likelihood reports its score under another name (never a likelihood).
        name = "viper/log_likelihood" if self.reward.likelihood else "viper/score"
        out = {name: float(np.mean(self.last_log_likelihood))}
        if self.reward.baseline is not None:
            out["viper/baseline"] = self.reward.baseline
        return out


class _Scorer:
    """Per-env likelihood state for ``num_envs`` envs: the model's stream or trailing windows."""

    def __init__(self, reward: ViperReward, num_envs: int, env_task_ids: np.ndarray) -> None:
        self.reward = reward
        self.num_envs = num_envs
        self.model_tasks = reward.task_map[env_task_ids]
        self.started = np.zeros(num_envs, bool)
        if reward.incremental:
            self.inner = reward.model.stream(num_envs, self.model_tasks)
            inner_envs = getattr(self.inner, "num_envs", num_envs)
            if inner_envs != num_envs:
                raise ContractError(f"video model stream made for {inner_envs} envs, the reward has {num_envs}")
        else:
            # Newest code grid last; ``span`` env frames cover ``window`` frames ``extra_skip`` apart.
            self.span = (reward.window - 1) * reward.extra_skip + 1
            self.history = np.zeros((num_envs, self.span, *reward.grid), np.int32)
            self.count = np.zeros(num_envs, np.int64)

    def step(self, codes: np.ndarray, is_first: np.ndarray) -> np.ndarray:
        """Log-likelihood (or score) ``float[num_envs]`` of each env's newest ``codes`` given its own history.

        An env never stepped before starts an episode whatever ``is_first`` says.
        """
        first = np.asarray(is_first, bool) | ~self.started
        self.started[:] = True
        if self.reward.incremental:
            out = np.asarray(self.inner.step(codes, first), np.float32)
            if out.shape != (self.num_envs,):
                raise ContractError(
                    f"video model stream.step returned shape {list(out.shape)}, expected [{self.num_envs}]"
                )
            return out
        return self._window_step(codes, first)

    def _window_step(self, codes: np.ndarray, first: np.ndarray) -> np.ndarray:
        reward, extra, window = self.reward, self.reward.extra_skip, self.reward.window
        self.count[first] = 0
        self.history[:, :-1] = self.history[:, 1:]
        self.history[:, -1] = codes
        self.count = np.minimum(self.count + 1, self.span)
        frames = (self.count - 1) // extra + 1  # frames of each env's window, newest included
        windows = np.zeros((self.num_envs, window, *reward.grid), np.int32)
        for i in range(self.num_envs):
            n = int(frames[i])
            windows[i, :n] = self.history[i, self.span - 1 - extra * np.arange(n - 1, -1, -1)]
        # Causal model: the zero padding after each window cannot change the entries we read.
        log_p = np.asarray(frame_scores(reward.model, windows, self.model_tasks), np.float32)
        if log_p.shape != (self.num_envs, window):
            what = "log_prob" if reward.likelihood else "score"
            raise ContractError(
                f"video model {what} returned shape {list(log_p.shape)}, expected [{self.num_envs}, {window}]"
            )
        rows = np.arange(self.num_envs)
        if reward.config.mode == "conditional":
            return log_p[rows, frames - 1]
        # Joint: the newest frame's chain inside the window (the model skips ``model_skip`` itself).
        skip, full = reward.model_skip, int(reward.model.context) + 1
        position = np.arange(window)[None, :]
        in_chain = (position < frames[:, None]) & ((frames[:, None] - 1 - position) % skip == 0)
        joint = np.where(in_chain, log_p, 0.0).sum(axis=1)
        return (joint * full / in_chain.sum(axis=1)).astype(np.float32)
