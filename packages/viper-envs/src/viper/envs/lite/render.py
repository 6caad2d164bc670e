"""Anti-aliased 2D drawing into uint8 RGB canvases with plain numpy.

Shapes are drawn on a small patch around them (not the whole frame), so a 64x64 frame with a few
shapes costs tens of microseconds.
"""

from __future__ import annotations

import numpy as np

Color = tuple[int, int, int]


def _blend(canvas: np.ndarray, y0: int, x0: int, alpha: np.ndarray, color: Color) -> None:
    h, w = alpha.shape
    H, W = canvas.shape[:2]
    ys, xs = max(0, y0), max(0, x0)
    ye, xe = min(H, y0 + h), min(W, x0 + w)
    if ys >= ye or xs >= xe:
        return
    a = alpha[ys - y0 : ye - y0, xs - x0 : xe - x0, None]
    region = canvas[ys:ye, xs:xe].astype(np.float32)
    region += a * (np.asarray(color, np.float32) - region)
    canvas[ys:ye, xs:xe] = (region + 0.5).astype(np.uint8)


def _grid(cy: float, cx: float, extent: float) -> tuple[int, int, np.ndarray, np.ndarray]:
    y0, x0 = int(np.floor(cy - extent)), int(np.floor(cx - extent))
    n = int(np.ceil(2 * extent)) + 2
    # pixel centres at integer + 0.5
    ys = np.arange(y0, y0 + n, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(x0, x0 + n, dtype=np.float32)[None, :] + 0.5
    return y0, x0, ys, xs


def disk(canvas: np.ndarray, cy: float, cx: float, radius: float, color: Color) -> None:
    """A filled circle centred at pixel coordinates ``(cy, cx)``."""
    y0, x0, ys, xs = _grid(cy, cx, radius + 1)
    dist = np.sqrt((ys - cy) ** 2 + (xs - cx) ** 2)
    _blend(canvas, y0, x0, np.clip(radius + 0.5 - dist, 0.0, 1.0), color)


def ring(canvas: np.ndarray, cy: float, cx: float, radius: float, width: float, color: Color) -> None:
    """A circle outline of the given line width."""
    y0, x0, ys, xs = _grid(cy, cx, radius + width)
    dist = np.sqrt((ys - cy) ** 2 + (xs - cx) ** 2)
    alpha = np.clip(width / 2 + 0.5 - np.abs(dist - radius), 0.0, 1.0)
    _blend(canvas, y0, x0, alpha, color)


def box(canvas: np.ndarray, cy: float, cx: float, half_h: float, half_w: float, color: Color) -> None:
    """An axis-aligned filled rectangle centred at ``(cy, cx)``."""
    y0, x0, ys, xs = _grid(cy, cx, max(half_h, half_w) + 1)
    ay = np.clip(half_h + 0.5 - np.abs(ys - cy), 0.0, 1.0)
    ax = np.clip(half_w + 0.5 - np.abs(xs - cx), 0.0, 1.0)
    _blend(canvas, y0, x0, ay * ax, color)


def segment(canvas: np.ndarray, y1: float, x1: float, y2: float, x2: float, width: float, color: Color) -> None:
    """A thick line from ``(y1, x1)`` to ``(y2, x2)`` with round caps."""
    cy, cx = (y1 + y2) / 2, (x1 + x2) / 2
    half = np.hypot(y2 - y1, x2 - x1) / 2 + width
    y0, x0, ys, xs = _grid(cy, cx, half)
    dy, dx = y2 - y1, x2 - x1
    length2 = max(dy * dy + dx * dx, 1e-9)
    t = np.clip(((ys - y1) * dy + (xs - x1) * dx) / length2, 0.0, 1.0)
    dist = np.sqrt((ys - (y1 + t * dy)) ** 2 + (xs - (x1 + t * dx)) ** 2)
    _blend(canvas, y0, x0, np.clip(width / 2 + 0.5 - dist, 0.0, 1.0), color)


def background(size: int, color: Color = (24, 26, 33), border: Color = (70, 74, 90)) -> np.ndarray:
    """An arena: a flat colour with a one-pixel frame."""
    canvas = np.empty((size, size, 3), np.uint8)
    canvas[:] = color
    canvas[0, :] = canvas[-1, :] = border
    canvas[:, 0] = canvas[:, -1] = border
    return canvas
