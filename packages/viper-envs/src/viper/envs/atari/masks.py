"""Where each Atari game draws its score, so the video model never sees it.

VIPER hides scores from the video model: a score changes with the return, not with what the
agent does in that frame, so a model that predicted it would reward whatever the expert data's
scores happened to be. Regions are given in the 210x160 pixels of the native ALE screen, placed
by looking at frames of each game, and scaled to any frame size by :func:`score_mask`, which
hides every output pixel that a hidden screen pixel contributes to.
"""

from __future__ import annotations

import numpy as np

SCREEN = (210, 160)

#: game -> hidden rectangles ``(row0, row1, col0, col1)`` on the 210x160 screen (end exclusive).
SCORE_REGIONS: dict[str, tuple[tuple[int, int, int, int], ...]] = {
    # The paper's games.
    "pong": ((0, 24, 0, 160),),  # both scores above the top wall
    "boxing": ((0, 25, 0, 160),),  # both scores and the clock above the ring
    "freeway": ((0, 15, 0, 160),),  # both chickens' scores on the top kerb
    "kangaroo": ((181, 210, 0, 160),),  # score, lives and bonus timer under the bottom floor
    "assault": ((0, 13, 0, 160),),  # score above the mothership
    "atlantis": ((184, 200, 0, 160),),  # score drawn over the ground strip
    "defender": ((174, 186, 0, 160),),  # score box in the ground strip
    "zaxxon": ((0, 20, 0, 160),),  # score at the top
    # Other common benchmark games.
    "breakout": ((0, 16, 0, 160),),
    "space_invaders": ((0, 22, 0, 160),),
    "seaquest": ((0, 19, 0, 160),),
    "ms_pacman": ((183, 200, 0, 160),),
    "qbert": ((0, 14, 0, 160),),
    "enduro": ((161, 191, 48, 112),),  # odometer and cars-to-pass panel
    "beam_rider": ((0, 30, 0, 160),),  # score and sector number
    "asterix": ((181, 196, 0, 160),),
    "riverraid": ((163, 175, 0, 160),),
    "demon_attack": ((0, 18, 0, 160),),
}


def score_mask(game: str, size: int | tuple[int, int] = 64) -> np.ndarray | None:
    """``bool[H, W]``, False where ``game`` shows its score (None for games without a region).

    Output pixel ``(i, j)`` covers screen rows ``[i*210/H, (i+1)*210/H)`` and the matching
    columns (the env resizes the whole screen without cropping); it is hidden when that footprint
    overlaps a score region, so no blended trace of a digit survives.
    """
    regions = SCORE_REGIONS.get(game)
    if regions is None:
        return None
    height, width = (size, size) if isinstance(size, int) else size
    rows = np.arange(height + 1) * SCREEN[0] / height
    cols = np.arange(width + 1) * SCREEN[1] / width
    mask = np.ones((height, width), bool)
    for r0, r1, c0, c1 in regions:
        hide_rows = (rows[1:] > r0) & (rows[:-1] < r1)
        hide_cols = (cols[1:] > c0) & (cols[:-1] < c1)
        mask[np.ix_(hide_rows, hide_cols)] = False
    return mask
