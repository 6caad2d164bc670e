"""The controlled body of ``reach`` and ``push``: how it looks and how fast it moves.

Two bodies let the suite pose the paper's cross-embodiment question in miniature (train the
video model on body A doing tasks 1 and 2 and body B doing task 1; reward body B on task 2):
``disk``, the default orange disk, and ``square``, a violet square that moves at 0.6x the
speed, so both its frames and its dynamics differ (an expert takes longer to arrive).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from viper.envs.lite import render


@dataclasses.dataclass(frozen=True)
class Body:
    color: tuple[int, int, int]
    square: bool
    speed: float
    """Multiplier on the task's ``SPEED`` (arena units a step at full action)."""

    def draw(self, frame: np.ndarray, y: float, x: float, radius: float) -> None:
        """Draw the body centred at pixel ``(y, x)``; ``radius`` in pixels (a square of the same area)."""
        if self.square:
            half = radius * float(np.sqrt(np.pi)) / 2
            render.box(frame, y, x, half, half, self.color)
        else:
            render.disk(frame, y, x, radius, self.color)


BODIES = {
    "disk": Body(color=(245, 130, 40), square=False, speed=1.0),
    "square": Body(color=(175, 90, 235), square=True, speed=0.6),
}
