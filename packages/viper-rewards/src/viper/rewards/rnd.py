"""``rnd``: random network distillation (Burda et al. 2018) as an agent-agnostic exploration bonus.

A fixed, randomly initialised target network embeds each frame (or its code grid); a predictor
network is trained online to match it. The bonus for reaching frame ``x_t`` is the predictor's
squared error on it, large on frames unlike those seen so far.

Online training: every stream step scores the batch with the current predictor *first*, then
stores the inputs in a buffer of the newest ``buffer_size`` frames; every ``update_every`` steps
(once ``batch_size`` frames are stored) the predictor takes ``updates`` Adam steps on minibatches
drawn from that buffer. Inputs are standardised per pixel with running statistics and clipped to
``[-5, 5]``; the bonus is divided by the running standard deviation of the bonuses (both as in
the RND paper, which uses the intrinsic return's std). ``relabel`` scores with the current
networks and statistics and trains nothing.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, ClassVar, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from viper.core.components import load_tokenizer
from viper.core.config import Options, option
from viper.core.errors import ConfigError, WorkdirError
from viper.core.protocols import RewardContext, StepBatch
from viper.rewards.common import (
    check_sequences,
    check_step,
    masked,
    raise_non_finite,
    resize,
    stream_task_ids,
)
from viper.rewards.nets import MLP, ConvTrunk
from viper.rewards.normalize import RunningMeanStd
from viper.rewards.online import RecentBuffer, Schedule


@dataclasses.dataclass
class Config(Options):
    """Options of the ``rnd`` exploration bonus (``--set reward.FIELD=VALUE``)."""

    SECTION: ClassVar[str] = "reward"

    input: Literal["frames", "codes"] = "frames"
    """What the networks see: downsampled frames, or the workdir tokenizer's code grids."""
    size: int = option(32, ge=1)
    """Frames are downsampled to ``size x size`` (block average) before the networks."""
    channels: tuple[int, ...] = (16, 32, 32)
    """Conv widths of both networks' trunks."""
    features: int = option(64, ge=1)
    """Width of the target embedding the predictor must match."""
    hidden: int = option(128, ge=1)
    """Hidden width of the predictor's head."""
    learning_rate: float = option(1e-4, gt=0)
    """Adam step size of the predictor."""
    update_every: int = 1
    """Stream steps between predictor updates."""
    updates: int = 1
    """Minibatches per update."""
    batch_size: int = 64
    """Frames per minibatch (training starts once this many are stored)."""
    buffer_size: int = option(4096, ge=1)
    """The predictor trains on the newest this many frames."""
    normalize_obs: bool = True
    """Standardise each pixel by running mean/std (frames only)."""
    normalize_reward: bool = True
    """Divide the bonus by the running std of bonuses."""
    mask: bool = True
    """Hide each task's image mask before the networks."""
    seed: int | None = None
    """Network init and minibatch seed (None: the run's seed)."""


class _Predictor:
    """Target and predictor networks with the predictor's optimizer (pure functions, jitted)."""

    def __init__(self, config: Config, example: np.ndarray, vocab_size: int, seed: int) -> None:
        trunk = dict(channels=tuple(config.channels), features=config.features, vocab_size=vocab_size)
        self.target = ConvTrunk(**trunk)
        self.trunk = ConvTrunk(**trunk)
        self.head = MLP(config.hidden, config.features)
        k_target, k_trunk, k_head = jax.random.split(jax.random.PRNGKey(seed), 3)
        x = jnp.asarray(example)
        self.target_params = self.target.init(k_target, x)
        trunk_params = self.trunk.init(k_trunk, x)
        head_params = self.head.init(k_head, self.trunk.apply(trunk_params, x))
        self.params = {"trunk": trunk_params, "head": head_params}
        self.optimizer = optax.adam(config.learning_rate)
        self.opt_state = self.optimizer.init(self.params)

    @partial(jax.jit, static_argnums=0)
    def errors(self, params: Any, target_params: Any, x: jnp.ndarray) -> jnp.ndarray:
        target = jax.lax.stop_gradient(self.target.apply(target_params, x))
        prediction = self.head.apply(params["head"], self.trunk.apply(params["trunk"], x))
        return jnp.mean((prediction - target) ** 2, axis=-1)

    @partial(jax.jit, static_argnums=0)
    def update(self, params: Any, opt_state: Any, target_params: Any, x: jnp.ndarray) -> tuple[Any, Any, jnp.ndarray]:
        loss, grads = jax.value_and_grad(lambda p: self.errors(p, target_params, x).mean())(params)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss


class RNDReward:
    """Random network distillation bonus; ``float32[B]`` per step, larger on novel frames."""

    Config = Config
    needs: frozenset[str] = frozenset()
    online = True  # trains inside its stream (see viper.core.protocols.Reward)

    def __init__(self, config: Config | None = None, context: RewardContext | None = None) -> None:
        self.config = config = config or Config()
        self.context = context = context or RewardContext()
        self.tokenizer = None
        vocab = 0
        if config.input == "codes":
            if context.workdir is None:
                raise ConfigError("rnd with input=codes: needs a workdir holding a trained tokenizer (--workdir)")
            self.tokenizer = load_tokenizer(context.workdir, context.host)
            if tuple(self.tokenizer.image_size) != tuple(context.image_size):
                raise WorkdirError(
                    f"rnd with input=codes: the tokenizer was trained on {tuple(self.tokenizer.image_size)} frames "
                    f"but the env renders {tuple(context.image_size)}"
                )
            vocab = int(self.tokenizer.vocab_size)
            shape, dtype = tuple(self.tokenizer.code_grid), np.int32
        else:
            shape, dtype = (config.size, config.size, 3), np.uint8
        self.rng = np.random.default_rng(context.seed if config.seed is None else config.seed)
        seed = int(context.seed if config.seed is None else config.seed)
        self.net = _Predictor(config, np.zeros((1, *shape), np.float32 if not vocab else np.int32), vocab, seed)
        self.buffer = RecentBuffer(config.buffer_size, shape, dtype)
        self.schedule = Schedule(config.update_every, config.updates, config.batch_size, "--set reward")
        self.obs_stats = RunningMeanStd(shape)
        self.bonus_stats = RunningMeanStd()
        self.train_steps = 0
        self.last_loss = float("nan")

    # -- inputs ---------------------------------------------------------------------------

    def inputs(self, frames: np.ndarray, task_ids: np.ndarray) -> np.ndarray:
        """``uint8[N,H,W,3]`` -> what is stored: ``uint8[N,size,size,3]`` or ``int32[N,h,w]`` codes."""
        if self.config.mask:
            frames = masked(frames, task_ids, self.context)
        if self.tokenizer is not None:
            return np.asarray(self.tokenizer.encode(frames), np.int32)
        return np.round(resize(frames, self.config.size) * 255.0).astype(np.uint8)

    def _network_input(self, stored: np.ndarray) -> np.ndarray:
        if self.tokenizer is not None:
            return stored
        x = stored.astype(np.float32) / 255.0
        if self.config.normalize_obs:
            x = np.clip((x - self.obs_stats.mean) / np.sqrt(self.obs_stats.var + 1e-4), -5.0, 5.0)
        return x.astype(np.float32)

    def bonus(self, stored: np.ndarray) -> np.ndarray:
        """Unnormalised prediction error ``float32[N]``."""
        x = self._network_input(stored)
        return np.asarray(self.net.errors(self.net.params, self.net.target_params, x), np.float32)

    def _scale(self, raw: np.ndarray) -> np.ndarray:
        if not self.config.normalize_reward:
            return raw.astype(np.float32)
        return (raw / (self.bonus_stats.std + 1e-8)).astype(np.float32)

    def train(self, updates: int) -> None:
        for _ in range(updates):
            stored, _ = self.buffer.sample(self.rng, self.config.batch_size)
            params, opt_state, loss = self.net.update(
                self.net.params, self.net.opt_state, self.net.target_params, self._network_input(stored)
            )
            self.net.params, self.net.opt_state = params, opt_state
            self.last_loss = float(loss)  # blocking here keeps XLA from queueing many steps
            self.train_steps += 1

    # -- the two forms --------------------------------------------------------------------

    def stream(self, num_envs: int, task_ids: np.ndarray | None = None) -> RNDStream:
        return RNDStream(self, num_envs, task_ids)

    def relabel(
        self, frames: np.ndarray, task_ids: np.ndarray | None = None, task_reward: np.ndarray | None = None
    ) -> np.ndarray:
        frames, ids = check_sequences(frames, task_ids, self.context, "rnd reward")
        batch, steps = frames.shape[:2]
        stored = self.inputs(frames.reshape(batch * steps, *frames.shape[2:]), np.repeat(ids, steps))
        raw = self.bonus(stored).reshape(batch, steps)
        for t in range(steps):
            raise_non_finite(raw[:, t], "rnd reward: prediction error", t)
        return self._scale(raw)


class RNDStream:
    """Online form: scores the batch, stores it, then trains the predictor when the schedule says."""

    def __init__(self, reward: RNDReward, num_envs: int, task_ids: np.ndarray | None = None) -> None:
        self.reward = reward
        self.task_ids = stream_task_ids(task_ids, num_envs, reward.context, "rnd reward.stream")
        self.num_envs = int(num_envs)
        self.steps = 0

    def step(self, batch: StepBatch) -> np.ndarray:
        reward = self.reward
        frames, _ = check_step(batch, self.num_envs, self.task_ids, tuple(reward.context.image_size), "rnd reward")
        stored = reward.inputs(frames, self.task_ids)
        if reward.tokenizer is None and reward.config.normalize_obs:
            reward.obs_stats.update(stored.astype(np.float32) / 255.0)
        raw = raise_non_finite(reward.bonus(stored), "rnd reward: prediction error", self.steps)
        reward.bonus_stats.update(raw)
        out = reward._scale(raw)
        reward.buffer.add(stored, self.task_ids)
        self.steps += 1
        reward.train(reward.schedule.due(self.steps, len(reward.buffer)))
        return out

    def metrics(self) -> dict[str, float]:
        return {"rnd/loss": self.reward.last_loss, "rnd/train_steps": float(self.reward.train_steps)}
