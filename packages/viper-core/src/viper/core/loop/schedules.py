"""When the loop logs, evaluates, checkpoints and trains (after DreamerV3's ``when``).

Each schedule reads and advances one counter of :class:`~viper.core.loop.checkpoint.LoopState`
(``next_log``, ``next_eval``, ``next_checkpoint``), so a resumed run keeps its schedule.
"""

from __future__ import annotations

import dataclasses
import time

from viper.core.loop.checkpoint import LoopState


@dataclasses.dataclass
class Every:
    """Due once ``state.env_steps`` reaches ``state.<field>``, which then moves ``every`` steps on
    (``catch_up``: past the current step, so a late call is due once, not once per period
    missed). ``every == 0`` is never due."""

    field: str
    every: int
    catch_up: bool = False

    def __call__(self, state: LoopState) -> bool:
        due_at = getattr(state, self.field)
        if not self.every or state.env_steps < due_at:
            return False
        due_at += self.every
        while self.catch_up and due_at <= state.env_steps:
            due_at += self.every
        setattr(state, self.field, due_at)
        return True


@dataclasses.dataclass
class Clock:
    """Due when ``seconds`` passed since it was last reset (``seconds == 0``: never)."""

    seconds: float
    last: float = dataclasses.field(default_factory=time.time)

    def __call__(self) -> bool:
        return bool(self.seconds) and time.time() - self.last > self.seconds

    def reset(self) -> None:
        self.last = time.time()


@dataclasses.dataclass
class Ratio:
    """Gradient updates owed after ``env_steps``: ``ratio`` per env step past ``start``."""

    ratio: float
    start: int

    def owed(self, state: LoopState) -> int:
        return max(0, int(self.ratio * max(0, state.env_steps - self.start)) - state.updates)
