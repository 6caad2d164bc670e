"""Options of ``count-transitions`` (``--set video_model.FIELD=VALUE``) and its presets."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

from viper.core.config import Options, option

#: ``--preset NAME``. Fitting is one counting pass whatever the options, so both presets are the
#: defaults: ``paper`` names the recommended smoothing (interpolated Witten-Bell, as in n-gram
#: language models) and ``quick`` exists so every component answers the same preset names.
PRESETS: dict[str, dict[str, Any]] = {"paper": {}, "quick": {}}


@dataclasses.dataclass
class Config(Options):
    """How counts become probabilities. Every level of the model interpolates its own counts
    with the level below it, ``p = (count + beta * p_below) / (total + beta)``, down to a uniform
    distribution over the vocabulary, so every probability is > 0."""

    SECTION: ClassVar[str] = "video_model"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS

    smoothing: Literal["witten-bell", "additive"] = "witten-bell"
    """``witten-bell``: a context gives the level below ``strength`` times the number of distinct
    codes seen after it (contexts with varied continuations trust their counts less);
    ``additive``: it gives ``strength`` pseudo-counts per code of the vocabulary."""
    strength: float = option(1.0, gt=0)
    """Smoothing strength: the mass each level hands to the level below (see ``smoothing``)."""
    backoff_weight: float = option(0.5, ge=0, le=1)
    """Share of the position-independent transition table ``p(b | a)`` in what a position's
    transitions ``p(b | a, position)`` back off to; the rest is that position's unigram
    ``p(b | position)`` (1: codes move like everywhere else, 0: unseen transitions look like the
    position's usual codes)."""
