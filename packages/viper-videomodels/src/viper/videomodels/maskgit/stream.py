"""The online scorer: each env's last ``context`` code frames, scored with the newest frame.

A bidirectional model has no key/value cache to carry forward (the context frames' tokens attend
to the next frame's), so the stream keeps codes, not activations: each call costs what
:meth:`MaskGIT.log_prob` costs for one frame (``score_steps`` passes), whatever the step number,
and returns the same numbers. Unlike the reward's generic windowed form it scores only the newest
frame of each window, not all ``context + 1``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from viper.core.checks import check_batch, check_codes
from viper.core.errors import ContractError

if TYPE_CHECKING:
    from viper.videomodels.maskgit.model import MaskGIT


class MaskGITStream:
    """Incremental ``log p(frame | up to context previous frames of that env, task)``.

    ``step(codes int32[num_envs,h,w], is_first bool[num_envs]) -> float32[num_envs]`` (nats).
    ``is_first[i]`` forgets env ``i``'s history before scoring, so that frame is scored with no
    context. Outputs equal :meth:`MaskGIT.log_prob` of each env's frames since its last reset.
    """

    def __init__(self, model: MaskGIT, num_envs: int, task: np.ndarray) -> None:
        self.model = model
        self.num_envs = int(num_envs)
        self.task = np.asarray(task, np.int32)
        self.reset()

    def reset(self) -> None:
        """Forget every env's history."""
        h, w = self.model.code_grid
        self._past = np.zeros((self.num_envs, self.model.context, h * w), np.int32)
        self._seen = np.zeros(self.num_envs, np.int64)  # frames since reset, at most context

    def step(self, codes: np.ndarray, is_first: np.ndarray) -> np.ndarray:
        model = self.model
        codes = check_codes(codes, "codes", ndim=3, vocab_size=model.vocab_size, grid=model.code_grid)
        check_batch(codes.shape[0], self.num_envs, "codes")
        is_first = np.asarray(is_first)
        if is_first.dtype != bool or is_first.shape != (self.num_envs,):
            raise ContractError(f"is_first: expected bool[{self.num_envs}], got {is_first.dtype}{list(is_first.shape)}")
        context = model.context
        self._seen[is_first] = 0
        flat = codes.reshape(self.num_envs, -1)
        valid = np.arange(context)[None, :] >= context - self._seen[:, None]
        out = model.score_frames(self._past, valid, flat, self.task)
        if context:
            self._past[:, :-1] = self._past[:, 1:]
            self._past[:, -1] = flat
        self._seen = np.minimum(self._seen + 1, context)
        return out
