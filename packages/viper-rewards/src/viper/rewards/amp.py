"""``amp``: an adversarial motion prior (Peng et al. 2021) on short frame sequences, the
adversarial baseline VIPER is compared against.

A discriminator ``D`` sees ``frames`` consecutive frames (downsampled to ``size``) and the task
id. It is trained as a least-squares GAN: ``D -> 1`` on clips of the expert videos, ``D -> -1`` on
the agent's clips, with a gradient penalty on expert inputs; the reward is
``max(0, 1 - 0.25 (D - 1)^2)``, in ``[0, 1]``.

Online training: every stream step scores the batch with the current discriminator *first*,
then stores each env's newest full clip (clips reaching back before the episode start are scored
with the first frame repeated but never stored, so the discriminator cannot learn "padding means
agent"); every ``update_every`` steps, once ``batch_size`` clips are stored, it takes ``updates``
Adam steps, each on ``batch_size`` agent clips from the newest ``buffer_size`` and as many expert
clips drawn uniformly from ``context.expert_data``. ``relabel`` scores with the current
discriminator and trains nothing.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax

from viper.core.config import Options, option
from viper.core.dataset import EpisodeStore, VideoDataset
from viper.core.errors import ConfigError, ViperError
from viper.core.progress import progress_bar
from viper.core.protocols import RewardContext, StepBatch
from viper.core.workdir import Workdir
from viper.rewards.common import (
    check_sequences,
    check_step,
    masked,
    raise_non_finite,
    resize,
    stream_task_ids,
)
from viper.rewards.nets import MLP, ConvTrunk
from viper.rewards.online import RecentBuffer, Schedule


@dataclasses.dataclass
class Config(Options):
    """Options of the ``amp`` adversarial reward (``--set reward.FIELD=VALUE``)."""

    SECTION: ClassVar[str] = "reward"

    frames: int = option(2, ge=1)
    """Consecutive frames per discriminator input (2 = transitions, as AMP's state pairs)."""
    size: int = option(32, ge=1)
    """Frames are downsampled to ``size x size`` (block average)."""
    channels: tuple[int, ...] = (16, 32, 32)
    """Conv widths of the discriminator."""
    hidden: int = option(256, ge=1)
    """Hidden width of the discriminator's head."""
    learning_rate: float = option(1e-4, gt=0)
    """Adam step size."""
    gradient_penalty: float = option(10.0, ge=0)
    """Weight ``w`` of ``w/2 * E_expert ||grad_x D||^2``."""
    update_every: int = 1
    """Stream steps between discriminator updates."""
    updates: int = 1
    """Minibatches per update."""
    batch_size: int = 64
    """Agent clips (and expert clips) per minibatch; training starts once this many are stored."""
    buffer_size: int = option(2048, ge=1)
    """The discriminator trains on the agent's newest this many clips."""
    mask: bool = True
    """Hide each task's image mask, as for the expert videos."""
    seed: int | None = None
    """Network init and sampling seed (None: the run's seed)."""


class _Discriminator:
    def __init__(self, config: Config, num_tasks: int, seed: int) -> None:
        self.trunk = ConvTrunk(channels=tuple(config.channels), features=config.hidden)
        self.head = MLP(config.hidden, 1, layers=1)
        self.num_tasks = num_tasks
        self.penalty = float(config.gradient_penalty)
        example = jnp.zeros((1, config.size, config.size, 3 * config.frames), jnp.float32)
        k_trunk, k_head = jax.random.split(jax.random.PRNGKey(seed))
        trunk_params = self.trunk.init(k_trunk, example)
        features = self.trunk.apply(trunk_params, example)
        head_params = self.head.init(k_head, jnp.concatenate([features, jnp.zeros((1, num_tasks))], -1))
        self.params = {"trunk": trunk_params, "head": head_params}
        self.optimizer = optax.adam(config.learning_rate)
        self.opt_state = self.optimizer.init(self.params)

    def logits(self, params: Any, x: jnp.ndarray, tasks: jnp.ndarray) -> jnp.ndarray:
        """``x float[N,S,S,3*frames]``, ``tasks int[N]`` -> ``D float[N]``."""
        features = nn_leaky(self.trunk.apply(params["trunk"], x))
        onehot = jax.nn.one_hot(tasks, self.num_tasks)
        return self.head.apply(params["head"], jnp.concatenate([features, onehot], -1))[:, 0]

    @partial(jax.jit, static_argnums=0)
    def score(self, params: Any, x: jnp.ndarray, tasks: jnp.ndarray) -> jnp.ndarray:
        return self.logits(params, x, tasks)

    def loss(
        self, params: Any, expert: jnp.ndarray, expert_tasks: jnp.ndarray, agent: jnp.ndarray, agent_tasks: jnp.ndarray
    ):
        d_expert = self.logits(params, expert, expert_tasks)
        d_agent = self.logits(params, agent, agent_tasks)
        grads = jax.grad(lambda x: self.logits(params, x, expert_tasks).sum())(expert)
        penalty = jnp.mean(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, -1))
        gan = jnp.mean((d_expert - 1.0) ** 2) + jnp.mean((d_agent + 1.0) ** 2)
        loss = gan + 0.5 * self.penalty * penalty
        return loss, {"loss": loss, "d_expert": d_expert.mean(), "d_agent": d_agent.mean(), "grad_penalty": penalty}

    @partial(jax.jit, static_argnums=0)
    def update(self, params: Any, opt_state: Any, expert, expert_tasks, agent, agent_tasks):
        grads, metrics = jax.grad(self.loss, has_aux=True)(params, expert, expert_tasks, agent, agent_tasks)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, metrics


def _collected_data(workdir: Any) -> VideoDataset | None:
    """The dataset a workdir's ``collect`` stage wrote, if it has one."""
    try:
        wd = workdir if isinstance(workdir, Workdir) else Workdir(workdir, create=False)
        return VideoDataset(wd.latest("data") / "dataset")
    except ViperError:
        return None


def nn_leaky(x: jnp.ndarray) -> jnp.ndarray:
    return jax.nn.leaky_relu(x, 0.2)


def amp_reward(d: np.ndarray) -> np.ndarray:
    """AMP's least-squares reward ``max(0, 1 - 0.25 (D - 1)^2)``."""
    return np.maximum(0.0, 1.0 - 0.25 * (np.asarray(d, np.float32) - 1.0) ** 2).astype(np.float32)


class AMPReward:
    """Adversarial reward from expert videos; ``float32[B]`` in ``[0, 1]`` per step."""

    Config = Config
    needs: frozenset[str] = frozenset()
    online = True  # trains inside its stream (see viper.core.protocols.Reward)

    def __init__(self, config: Config | None = None, context: RewardContext | None = None) -> None:
        self.config = config = config or Config()
        self.context = context = context or RewardContext()
        seed = int(context.seed if config.seed is None else config.seed)
        self.rng = np.random.default_rng(seed)
        self.tasks = tuple(context.tasks) or ("task",)
        self.expert, self.expert_tasks = self._load_expert()
        self.net = _Discriminator(config, len(self.tasks), seed)
        shape = (config.frames, config.size, config.size, 3)
        self.buffer = RecentBuffer(config.buffer_size, shape, np.uint8)
        self.schedule = Schedule(config.update_every, config.updates, config.batch_size, "--set reward")
        self.train_steps = 0
        self.last_metrics: dict[str, float] = {}

    def _load_expert(self) -> tuple[EpisodeStore, set[int]]:
        data = self.context.expert_data
        if data is None and self.context.workdir is not None:
            data = _collected_data(self.context.workdir)
        if data is None:
            raise ConfigError("amp reward: needs expert videos (--data, or a workdir whose collect stage made them)")
        wanted = {task: i for i, task in enumerate(self.tasks)}
        if not self.context.tasks and len(data.tasks) == 1:
            wanted = {data.tasks[0]: 0}  # one anonymous env task: use the dataset's only task
        episodes = [e for e in data.episodes if e.task in wanted]
        if not episodes:
            raise ConfigError(
                f"amp reward: the expert data {data.root} holds tasks {', '.join(data.tasks)}, none of the env's "
                f"({', '.join(self.tasks)})"
            )
        if data.image_size is not None and tuple(data.image_size) != tuple(self.context.image_size):
            raise ConfigError(
                f"amp reward: expert videos in {data.root} are {data.image_size[0]}x{data.image_size[1]} but the env "
                f"renders {self.context.image_size[0]}x{self.context.image_size[1]}"
            )
        arrays, ids = [], []
        for episode in progress_bar(episodes, desc="amp: loading expert clips", unit="ep", leave=False):
            frames = data.load(episode)["frames"]
            task_id = wanted[episode.task]
            frames = masked(frames[None], np.asarray([task_id]), self.context)[0] if self.config.mask else frames
            arrays.append(np.round(resize(frames, self.config.size) * 255.0).astype(np.uint8))
            ids.append(task_id)
        store = EpisodeStore(arrays, np.asarray(ids, np.int32), self.tasks)
        store.check_length(self.config.frames, what="amp discriminator clip")
        return store, set(ids)

    @staticmethod
    def _network_input(clips: np.ndarray) -> np.ndarray:
        """``uint8[N,frames,S,S,3]`` -> ``float32[N,S,S,3*frames]`` in [-1, 1]."""
        x = clips.astype(np.float32) / 127.5 - 1.0
        n, f, s1, s2, c = x.shape
        return x.transpose(0, 2, 3, 1, 4).reshape(n, s1, s2, f * c)

    def discriminate(self, clips: np.ndarray, task_ids: np.ndarray) -> np.ndarray:
        return np.asarray(self.net.score(self.net.params, self._network_input(clips), task_ids), np.float32)

    def train(self, updates: int) -> None:
        n = self.config.batch_size
        for _ in range(updates):
            agent, agent_tasks = self.buffer.sample(self.rng, n)
            expert, expert_tasks = self.expert.sample_clips(self.rng, n, self.config.frames)
            params, opt_state, metrics = self.net.update(
                self.net.params,
                self.net.opt_state,
                self._network_input(expert),
                expert_tasks,
                self._network_input(agent),
                agent_tasks,
            )
            self.net.params, self.net.opt_state = params, opt_state
            self.last_metrics = {f"amp/{k}": float(v) for k, v in metrics.items()}  # blocks on each update
            self.train_steps += 1

    def stream(self, num_envs: int, task_ids: np.ndarray | None = None) -> AMPStream:
        return AMPStream(self, num_envs, task_ids)

    def relabel(
        self, frames: np.ndarray, task_ids: np.ndarray | None = None, task_reward: np.ndarray | None = None
    ) -> np.ndarray:
        frames, ids = check_sequences(frames, task_ids, self.context, "amp reward")
        stream = AMPStream(self, frames.shape[0], ids, train=False)
        out = np.empty(frames.shape[:2], np.float32)
        for t in range(frames.shape[1]):
            first = np.full(frames.shape[0], t == 0)
            out[:, t] = stream.step(StepBatch(frames[:, t], first, np.zeros(len(ids), np.float32), ids))
        return out


class AMPStream:
    """Online form: keeps each env's last ``frames`` frames; scores, stores full clips, trains."""

    def __init__(self, reward: AMPReward, num_envs: int, task_ids: np.ndarray | None = None, train: bool = True):
        self.reward = reward
        self.task_ids = stream_task_ids(task_ids, num_envs, reward.context, "amp reward.stream")
        self.num_envs = int(num_envs)
        missing = sorted({reward.tasks[i] for i in self.task_ids} - {reward.tasks[i] for i in reward.expert_tasks})
        if missing:
            raise ConfigError(f"amp reward: no expert videos of task(s) {', '.join(missing)}")
        cfg = reward.config
        self.history = np.zeros((self.num_envs, cfg.frames, cfg.size, cfg.size, 3), np.uint8)
        self.seen = np.zeros(self.num_envs, np.int64)
        self.training = train
        self.steps = 0

    def step(self, batch: StepBatch) -> np.ndarray:
        reward = self.reward
        frames, is_first = check_step(
            batch, self.num_envs, self.task_ids, tuple(reward.context.image_size), "amp reward"
        )
        if reward.config.mask:
            frames = masked(frames, self.task_ids, reward.context)
        small = np.round(resize(frames, reward.config.size) * 255.0).astype(np.uint8)
        first = is_first | (self.seen == 0)
        self.seen[first] = 0
        # Roll each env's clip; a new episode's clip is its first frame repeated.
        self.history[:, :-1] = self.history[:, 1:]
        self.history[first] = small[first][:, None]
        self.history[:, -1] = small
        self.seen += 1
        d = raise_non_finite(reward.discriminate(self.history, self.task_ids), "amp reward: discriminator", self.steps)
        out = amp_reward(d)
        self.steps += 1
        if self.training:
            full = self.seen >= reward.config.frames
            reward.buffer.add(self.history[full], self.task_ids[full])
            reward.train(reward.schedule.due(self.steps, len(reward.buffer)))
        return out

    def metrics(self) -> dict[str, float]:
        return dict(self.reward.last_metrics, **{"amp/train_steps": float(self.reward.train_steps)})
