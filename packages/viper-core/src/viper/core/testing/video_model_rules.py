"""``check_video_model(model)``: what a trained video model promises (:class:`~viper.core.protocols.VideoModel`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.errors import ContractError
from viper.core.protocols import frame_scores, has_likelihood
from viper.core.testing.rules import Rulebook, expect, expect_array, expect_close, expect_finite, expect_raises

#: Float tolerance of ``stream`` against ``log_prob`` (nats per frame, summed over its codes).
RTOL, ATOL = 1e-3, 1e-2


def check_video_model(model: Any, codes: np.ndarray | None = None, *, name: str | None = None) -> list[str]:
    """Check a trained ``model`` on ``codes`` (``int32[B,T,h,w]``, default random codes of two
    episodes longer than the model's context). Returns the rules that held; raises
    ``RuleFailure`` at the first broken one. A model declaring ``likelihood = False`` is checked
    through its ``score`` (the rules are named ``score-...`` and ``stream-equals-score``) and
    must name its ``score_units``; only log-likelihoods must be ``<= 0``."""
    book = Rulebook(f"video model {name or type(model).__name__!r}")
    with book.rule("attributes"):
        vocab, context, tasks = int(model.vocab_size), int(model.context), int(model.num_tasks)
        grid = tuple(int(v) for v in model.code_grid)
        expect(
            vocab >= 1 and context >= 0 and tasks >= 1 and len(grid) == 2,
            f"vocab_size >= 1, context >= 0, num_tasks >= 1 and a 2-D code_grid expected, got "
            f"{vocab}, {context}, {tasks}, {grid}",
        )
    if codes is None:
        rng = np.random.default_rng(0)
        codes = rng.integers(0, vocab, (2, min(context + 3, 24), *grid)).astype(np.int32)
    b, t = codes.shape[:2]
    likelihood = has_likelihood(model)
    what = "log_prob" if likelihood else "score"
    if not likelihood:
        with book.rule("score-units"):
            units = getattr(model, "score_units", None)
            expect(
                isinstance(units, str) and bool(units.strip()),
                f"a model with likelihood = False names what its scores are in score_units, got {units!r}",
            )
    with book.rule("log-prob-float32" if likelihood else "score-float32"):
        nats = frame_scores(model, codes)
        expect_array(nats, f"{what}(int32[B,T,h,w])", np.float32, (b, t))
        expect_finite(nats, what)
        if likelihood:
            expect((nats <= 1e-3).all(), f"log_prob: log-likelihoods of discrete codes are <= 0, got max {nats.max()}")
    with book.rule("first-frame"):
        expect_close(
            frame_scores(model, codes[:, :1])[:, 0],
            nats[:, 0],
            f"{what} of a lone first frame vs in its episode",
            rtol=RTOL,
            atol=ATOL,
        )
    with book.rule("stream-equals-log-prob" if likelihood else "stream-equals-score"):
        stream = model.stream(b)
        is_first = np.zeros(b, bool)
        steps = [stream.step(codes[:, i], is_first | (i == 0)) for i in range(t)]
        for i, out in enumerate(steps):
            expect_array(out, f"stream.step at t={i}", np.float32, (b,))
        expect_close(np.stack(steps, 1), nats, f"stream vs {what}", rtol=RTOL, atol=ATOL)
    with book.rule("stream-is-first-resets"):
        restarted, went_on = _restart(model, codes)
        fresh = frame_scores(model, codes[1:2, : len(restarted)])[0]
        expect_close(restarted, fresh, f"an env restarted with is_first vs {what}", rtol=RTOL, atol=ATOL)
        expect_close(went_on, nats[0, t - len(went_on) :], f"the env that went on vs {what}", rtol=RTOL, atol=ATOL)
    with book.rule("task-ids"):
        expect_raises(ContractError, f"{what}(task={tasks}) (out of range)", frame_scores, model, codes, tasks)
    with book.rule("rejects-bad-codes"):
        expect_raises(ContractError, f"{what}(codes >= {vocab})", frame_scores, model, codes + vocab)
    with book.rule("save-load"):
        with tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp))
            loaded = type(model).load(Path(tmp))
        expect_close(frame_scores(loaded, codes), nats, f"{what} after save/load", rtol=RTOL, atol=ATOL)
    return book.passed


def _restart(model: Any, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two stream envs play episode 0 for k steps; then env 0 starts episode 1 (``is_first``)
    while env 1 goes on. Returns both envs' outputs after step k."""
    t = codes.shape[1]
    k = min(2, t - 1)
    stream = model.stream(2)
    for i in range(k):
        stream.step(codes[[0, 0], i], np.full(2, i == 0))
    outs = [stream.step(np.stack([codes[1, j], codes[0, k + j]]), np.array([j == 0, False])) for j in range(t - k)]
    return np.stack(outs, 1)[0], np.stack(outs, 1)[1]
