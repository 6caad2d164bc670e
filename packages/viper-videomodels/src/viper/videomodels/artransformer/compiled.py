"""The network of one model shape and every jitted function built on it, compiled once.

:class:`~viper.videomodels.artransformer.model.ARTransformer` hands its
:class:`CompiledNetwork` to its stream and its trainer, which take what they run from it (never
from the model's insides). Compiled networks of recent shapes are kept in one cache, so fitting
or loading the same model again in one process (a resumed run, a sweep over seeds, the reward
loading the model its stage just trained) does not compile again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import jax

from viper.core.config import to_dict
from viper.videomodels.artransformer.config import Config
from viper.videomodels.artransformer.network import FrameTransformer, build_network

#: Config fields that change no compiled function (``frame_skip`` is an argument of the stream's).
BOOKKEEPING = {"steps", "log_every", "eval_every", "eval_batches", "checkpoint_every", "keep_checkpoints", "frame_skip"}
#: How many model shapes stay compiled.
CACHE_SIZE = 4

_CACHE: dict[str, CompiledNetwork] = {}


class CompiledNetwork:
    """The flax network for ``(config, vocab_size, code_grid, num_tasks)`` (weights are not part
    of it: they are an argument of every function) and its jitted functions, each built on first
    use and then reused."""

    def __init__(self, config: Config, vocab_size: int, code_grid: Sequence[int], num_tasks: int) -> None:
        self.config = config
        self.vocab_size = int(vocab_size)
        self.code_grid = (int(code_grid[0]), int(code_grid[1]))
        self.num_tasks = int(num_tasks)
        self.network: FrameTransformer = build_network(config, vocab_size, code_grid, num_tasks)
        self._functions: dict[Any, Any] = {}

    def function(self, key: Any, build: Callable[[], Any]) -> Any:
        """What ``build()`` returns, built once per ``key`` (e.g. ``("train", mesh)``)."""
        if key not in self._functions:
            self._functions[key] = build()
        return self._functions[key]

    @property
    def train_network(self) -> FrameTransformer:
        """The same network with dropout on."""
        return self.function(
            "train-network",
            lambda: build_network(self.config, self.vocab_size, self.code_grid, self.num_tasks, train=True),
        )

    def segment(self) -> Any:
        """Jitted ``(params, codes, task, memory, valid) -> (log p, memory, valid)`` over a chunk of
        frames, carrying the attention memory between chunks (what ``log_prob`` runs)."""

        def build() -> Any:
            network = self.network

            def segment(params, codes, task, memory, valid):
                return network.apply({"params": params}, codes, task, memory, valid)

            return jax.jit(segment)

        return self.function("segment", build)

    def stream_step(self, frame_skip: int) -> Any:
        """The stream's jitted one-frame step for ``frame_skip`` (see
        :func:`~viper.videomodels.artransformer.stream.make_step_fn`)."""
        from viper.videomodels.artransformer.stream import make_step_fn

        return self.function(("stream", frame_skip), lambda: make_step_fn(self.network, frame_skip))


def compiled_network(config: Config, vocab_size: int, code_grid: Sequence[int], num_tasks: int) -> CompiledNetwork:
    """The cached :class:`CompiledNetwork` of this shape (configs differing only in
    :data:`BOOKKEEPING` fields share one)."""
    options = {k: v for k, v in to_dict(config).items() if k not in BOOKKEEPING}
    shape = {"vocab_size": int(vocab_size), "code_grid": [int(g) for g in code_grid], "num_tasks": int(num_tasks)}
    key = json.dumps({"config": options, **shape}, sort_keys=True, default=str)
    if key not in _CACHE:
        while len(_CACHE) >= CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = CompiledNetwork(config, vocab_size, code_grid, num_tasks)
    return _CACHE[key]
