"""What the loop logs every ``log_every`` steps: throughput, time shares, training returns, the
chosen reward's mean, the agent's and the reward stream's own metrics."""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from viper.core.loop.checkpoint import LoopState
from viper.core.loop.driver import Episode
from viper.core.workdir import StageContext


class LogWindow:
    """What happened since the last log line: finished episodes, chosen rewards, agent metrics,
    throughput; :meth:`log` writes it and starts a new window."""

    def __init__(self, state: LoopState, timer: Timer) -> None:
        self.state, self.timer = state, timer
        self._restart(time.time())

    def _restart(self, now: float) -> None:
        self.finished: list[Episode] = []
        self.agent: dict[str, list[float]] = collections.defaultdict(list)
        self.reward_sum, self.reward_count = 0.0, 0  # chosen rewards of non-first steps
        self.started = (now, self.state.env_steps, self.state.updates)

    def add(self, step: Any, finished: list[Episode]) -> None:
        self.reward_sum += float(step.reward[~step.is_first].sum())
        self.reward_count += int((~step.is_first).sum())
        for episode in finished:
            self.finished.append(episode)
            self.state.recent.append(episode.true_return)
            self.state.episodes += 1
        self.state.recent = self.state.recent[-20:]

    def add_agent(self, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.agent[key].append(value)

    def log(self, ctx: StageContext, stream: Any, bar: Any) -> None:
        state, now = self.state, time.time()
        seconds = max(now - self.started[0], 1e-9)
        scalars: dict[str, Any] = {
            "train/sps": (state.env_steps - self.started[1]) / seconds,
            "train/ups": (state.updates - self.started[2]) / seconds,
            "train/updates": state.updates,
            "train/episodes": state.episodes,
            "train/reward_mean": self.reward_sum / max(self.reward_count, 1),
            **{f"time/{k}": v for k, v in self.timer.shares().items()},
            **{f"agent/{k}": float(np.mean(v)) for k, v in self.agent.items()},
            **{f"reward/{k}": v for k, v in stream_metrics(stream).items()},
        }
        if self.finished:
            scalars["train/return"] = float(np.mean([e.true_return for e in self.finished]))
            scalars["train/reward_return"] = float(np.mean([e.reward_return for e in self.finished]))
            scalars["train/length"] = float(np.mean([e.length for e in self.finished]))
        ctx.metrics.log(state.env_steps, scalars)
        self._restart(now)
        bar.set_postfix(
            sps=f"{scalars['train/sps']:.0f}",
            ret=f"{np.mean(state.recent):.1f}" if state.recent else "-",
            eval=f"{state.last_eval:.1f}" if state.evals else "-",
            refresh=False,
        )


class Timer:
    """Seconds spent per phase (reward, act, env, train), reported as shares."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = collections.defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.totals[name] += time.perf_counter() - t0

    def shares(self) -> dict[str, float]:
        total = sum(self.totals.values()) or 1.0
        out = {f"{k}_share": v / total for k, v in self.totals.items()}
        out.update({f"{k}_seconds": v for k, v in self.totals.items()})
        self.totals.clear()
        return out


def stream_metrics(stream: Any) -> dict[str, float]:
    fn = getattr(stream, "metrics", None)
    return {k: float(v) for k, v in (fn() or {}).items()} if callable(fn) else {}
