"""``check_reward(reward)``: what a reward promises (:class:`~viper.core.protocols.Reward`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from viper.core.errors import ContractError
from viper.core.protocols import StepBatch
from viper.core.testing.rules import Rulebook, expect, expect_array, expect_close, expect_finite, expect_raises

RTOL, ATOL = 1e-3, 1e-3
_FIELDS = frozenset(f.name for f in dataclasses.fields(StepBatch))


def check_reward(
    reward: Any, frames: np.ndarray | None = None, *, size: int = 16, name: str | None = None
) -> list[str]:
    """Check ``reward`` (built for ``size x size`` frames of the fake suite's tasks, e.g. with
    :func:`viper.core.testing.reward_context`) on ``frames`` (``uint8[2,T,H,W,3]``, each row an
    episode; default: two fake-suite expert episodes). Returns the rules that held; raises
    ``RuleFailure`` at the first broken one. A reward that declares ``online = True`` (it trains
    inside its stream) is not held to a stream equal to ``relabel``."""
    book = Rulebook(f"reward {name or type(reward).__name__!r}")
    with book.rule("needs"):
        needs = reward.needs
        expect(
            isinstance(needs, frozenset) and needs <= _FIELDS,
            f"needs must be a frozenset of StepBatch fields ({', '.join(sorted(_FIELDS))}), got {needs!r}",
        )
    if frames is None:
        from viper.core.testing.contract_data import expert_episodes

        episodes, _ = expert_episodes(size, episodes=2, tasks=("reach",), length=7)
        frames = np.stack(episodes)
    b, t = frames.shape[:2]
    task_reward = np.linspace(-1, 0, b * t, dtype=np.float32).reshape(b, t)
    task_reward[:, 0] = 0.0  # an episode's first frame has no reward
    with book.rule("relabel-float32"):
        relabelled = reward.relabel(frames, np.zeros(b, np.int32), task_reward)
        expect_array(relabelled, "relabel(uint8[B,T,H,W,3])", np.float32, (b, t))
        expect_finite(relabelled, "relabel")
    with book.rule("stream-float32"):
        stream = reward.stream(b, np.zeros(b, np.int32))
        expect(int(stream.num_envs) == b, f"stream({b}).num_envs is {stream.num_envs}")
        out = stream.step(_batch(frames[:, 0], np.ones(b, bool), task_reward[:, 0]))
        expect_array(out, "stream.step(StepBatch of 2 envs)", np.float32, (b,))
        expect_finite(out, "stream.step")
    if getattr(reward, "online", False):
        # Trained inside its stream (and normalised by running statistics): a stream cannot equal
        # relabel, but relabel must score with the current networks without changing them.
        with book.rule("relabel-does-not-train"):
            first = reward.relabel(frames, np.zeros(b, np.int32), task_reward)
            again = reward.relabel(frames, np.zeros(b, np.int32), task_reward)
            expect_close(again, first, "relabel called twice", rtol=RTOL, atol=ATOL)
    else:
        with book.rule("stream-equals-relabel"):
            stream = reward.stream(b, np.zeros(b, np.int32))
            outs = [stream.step(_batch(frames[:, i], np.full(b, i == 0), task_reward[:, i])) for i in range(t)]
            expect_close(np.stack(outs, 1), relabelled, "a fresh stream vs relabel", rtol=RTOL, atol=ATOL)
        with book.rule("stream-is-first-resets"):
            restarted = _restarted_env(reward, frames, task_reward)
            k = t - restarted.shape[0]
            expect_close(
                restarted, relabelled[1, : t - k], "an env restarted with is_first vs relabel", rtol=RTOL, atol=ATOL
            )
    with book.rule("batch-size"):
        stream = reward.stream(b, np.zeros(b, np.int32))
        wrong = np.concatenate([frames[:, 0], frames[:1, 0]])
        expect_raises(
            ContractError,
            f"stream({b}).step(a batch of {b + 1})",
            stream.step,
            _batch(wrong, np.ones(b + 1, bool), np.zeros(b + 1, np.float32)),
        )
    return book.passed


def _restarted_env(reward: Any, frames: np.ndarray, task_reward: np.ndarray) -> np.ndarray:
    """Two envs play episode 0 for k steps; then env 0 starts episode 1 (``is_first``) while env 1
    goes on. Returns env 0's rewards for episode 1."""
    t = frames.shape[1]
    k = min(2, t - 1)
    stream = reward.stream(2, np.zeros(2, np.int32))
    for i in range(k):
        stream.step(_batch(frames[[0, 0], i], np.full(2, i == 0), task_reward[[0, 0], i]))
    outs = []
    for j in range(t - k):
        pair = np.stack([frames[1, j], frames[0, k + j]])
        rewards = np.array([task_reward[1, j], task_reward[0, k + j]])
        outs.append(stream.step(_batch(pair, np.array([j == 0, False]), rewards))[0])
    return np.asarray(outs)


def _batch(frames: np.ndarray, is_first: np.ndarray, task_reward: np.ndarray) -> StepBatch:
    n = len(frames)
    return StepBatch(
        frames=np.ascontiguousarray(frames),
        is_first=np.asarray(is_first, bool),
        task_reward=np.where(is_first, 0.0, task_reward).astype(np.float32),
        task_ids=np.zeros(n, np.int32),
        state=np.zeros((n, 4), np.float32),
        action=np.zeros((n, 2), np.float32),
    )
