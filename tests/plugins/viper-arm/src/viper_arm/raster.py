"""Anti-aliased drawing of discs and thick segments onto ``float32[H,W,3]`` canvases (numpy)."""

from __future__ import annotations

import numpy as np


def pixel_centres(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Arena coordinates (x right, y up, both in [-1, 1]) of every pixel centre: ``(x, y)`` each ``[size, size]``."""
    centres = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    return centres[None, :].repeat(size, 0), -centres[:, None].repeat(size, 1)


def _paint(canvas: np.ndarray, distance: np.ndarray, radius: float, colour: tuple[int, int, int]) -> None:
    """Blend ``colour`` where ``distance`` (arena units) is within ``radius``, with a one-pixel soft edge."""
    pixel = 2.0 / canvas.shape[0]
    cover = np.clip((radius - distance) / pixel + 0.5, 0.0, 1.0)[..., None]
    canvas *= 1.0 - cover
    canvas += cover * np.asarray(colour, np.float32)


def disc(canvas: np.ndarray, grid: tuple[np.ndarray, np.ndarray], centre: np.ndarray, radius: float, colour) -> None:
    x, y = grid
    _paint(canvas, np.hypot(x - centre[0], y - centre[1]), radius, colour)


def segment(
    canvas: np.ndarray, grid: tuple[np.ndarray, np.ndarray], start: np.ndarray, end: np.ndarray, radius: float, colour
) -> None:
    """A segment with rounded ends, ``radius`` thick on each side."""
    x, y = grid
    direction = end - start
    t = np.clip(((x - start[0]) * direction[0] + (y - start[1]) * direction[1]) / (direction @ direction + 1e-12), 0, 1)
    _paint(canvas, np.hypot(x - start[0] - t * direction[0], y - start[1] - t * direction[1]), radius, colour)


def diamond(canvas: np.ndarray, grid: tuple[np.ndarray, np.ndarray], centre: np.ndarray, radius: float, colour) -> None:
    """A square standing on a corner: the L1 ball of ``radius``."""
    x, y = grid
    _paint(canvas, np.abs(x - centre[0]) + np.abs(y - centre[1]), radius, colour)
