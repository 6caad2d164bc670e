"""``ar-transformer``: VIPER's autoregressive video model over tokenizer codes (JAX/flax).

The :class:`ARTransformer` factory implements :class:`viper.core.protocols.VideoModel`; numpy
arrays cross its boundary, JAX runs inside.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from viper.core.checks import check_codes, check_tasks
from viper.core.config import build_config, to_dict
from viper.core.errors import ConfigError, ContractError, ViperError, WorkdirError
from viper.videomodels.artransformer.config import PRESETS, Config

if TYPE_CHECKING:  # jax is imported on first use, so importing the factory stays cheap
    from viper.core.jaxtools import ArtifactFormat
    from viper.videomodels.artransformer.compiled import CompiledNetwork

FORMAT = "viper-ar-transformer"
VERSION = 1

#: log_prob scores long sequences this many frames at a time (carrying the memory between).
CHUNK_FRAMES = 16
#: ... and at most this many rows at a time.
ROW_BLOCK = 32


def artifact() -> ArtifactFormat:
    """The saved format: ``config.json`` (:meth:`ARTransformer.describe`) and ``weights/``."""
    from viper.core.jaxtools import ArtifactFormat

    return ArtifactFormat(FORMAT, VERSION, "an ar-transformer model", "model config", "; train one with fit-model")


class ARTransformer:
    """An autoregressive transformer over frames of codes; ``log p`` of a frame given its past.

    Build untrained with ``ARTransformer(config)`` and train with :meth:`fit` (or give it random
    weights with :meth:`initialize`); load a trained one with :meth:`load`. Contracts:

    * ``log_prob(codes int32[B,T,h,w], task) -> float32[B,T]``: entry ``[b, t]`` is
      ``log p(frame t | frames t-s, t-2s, ..., t-context*s that exist, task)`` in nats summed over
      the frame's codes, with ``s = frame_skip`` (``s = 1``: frames ``max(0, t-context)..t-1``);
      frame 0 is conditioned on nothing.
    * ``stream(num_envs, task)`` -> :class:`~viper.videomodels.artransformer.stream.ARStream`
      whose ``step(codes int32[num_envs,h,w], is_first bool[num_envs]) -> float32[num_envs]``
      returns the same numbers one frame per env per call, at constant cost per call.
    * ``task``: None (task 0), an int or ``int[B]``, ids into :attr:`tasks` (the trained set).

    Misuse (codes out of ``[0, vocab_size)``, another code grid, an unknown task id) raises
    :class:`~viper.core.errors.ContractError` naming the argument.
    """

    Config = Config
    PRESETS = PRESETS

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else Config()
        self.vocab_size: int | None = None
        self.code_grid: tuple[int, int] | None = None
        self.tasks: tuple[str, ...] = ()
        self.params: Any = None  # the EMA weights used for likelihoods (host numpy tree)
        self._device = None
        self._compiled: CompiledNetwork | None = None

    # -- shape of the problem --------------------------------------------------------------

    @property
    def context(self) -> int:
        """Previous frames (of the frame-skip chain) each frame is conditioned on."""
        return self.config.context

    @property
    def frame_skip(self) -> int:
        return self.config.frame_skip

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    def initialize(
        self, vocab_size: int, code_grid: tuple[int, int], tasks: tuple[str, ...] | int = 1, seed: int = 0
    ) -> ARTransformer:
        """Random weights for ``vocab_size`` codes on a ``code_grid`` and ``tasks`` (names or a
        count); used before training and by benchmarks."""
        from viper.videomodels.artransformer.network import init_params

        self._set_shape(vocab_size, code_grid, tasks)
        self._set_params(init_params(self.compiled.network, seed))
        return self

    def _set_shape(self, vocab_size: int, code_grid: Any, tasks: tuple[str, ...] | int) -> None:
        if int(vocab_size) < 2:
            raise ConfigError(f"vocab_size {vocab_size}: expected at least 2 codes")
        grid = tuple(int(g) for g in code_grid)
        if len(grid) != 2 or min(grid) < 1:
            raise ConfigError(f"code_grid {code_grid}: expected (h, w) with positive sizes")
        names = tuple(f"task{i}" for i in range(int(tasks))) if isinstance(tasks, int) else tuple(tasks)
        if not names:
            names = ("task0",)
        self.vocab_size, self.code_grid, self.tasks = int(vocab_size), grid, names
        self._compiled = None

    def _set_params(self, params: Any) -> None:
        import jax

        from viper.core.jaxtools import to_host

        self.params = jax.tree_util.tree_map(lambda x: x.astype(np.float32, copy=False), to_host(params))
        self._device = None

    def _require_weights(self) -> None:
        if self.params is None:
            raise ContractError(
                "ar-transformer: the model has no weights yet; train it with fit(), load one with "
                "ARTransformer.load(dir) or give it random weights with initialize()"
            )

    # -- the compiled network --------------------------------------------------------------

    @property
    def compiled(self) -> CompiledNetwork:
        """The network of this model's shape and its jitted functions, shared by :meth:`log_prob`,
        the stream and :meth:`fit` (and by other models of the same shape)."""
        if self.vocab_size is None or self.code_grid is None:
            raise ContractError(
                "ar-transformer: the model has no vocabulary and code grid yet; train it with fit(), "
                "load one with ARTransformer.load(dir) or call initialize()"
            )
        if self._compiled is None:
            from viper.videomodels.artransformer.compiled import compiled_network

            self._compiled = compiled_network(self.config, self.vocab_size, self.code_grid, self.num_tasks)
        return self._compiled

    def device_params(self) -> Any:
        """The weights on the default device (placed once, reused by every call)."""
        import jax

        self._require_weights()
        if self._device is None:
            self._device = jax.device_put(self.params)
        return self._device

    # -- scoring ---------------------------------------------------------------------------

    def _check_codes(self, codes: Any, name: str, ndim: int) -> np.ndarray:
        return check_codes(codes, name, ndim=ndim, vocab_size=self.vocab_size, grid=self.code_grid)

    def log_prob(self, codes: np.ndarray, task: np.ndarray | int | None = None) -> np.ndarray:
        """``codes int32[B,T,h,w] -> float32[B,T]`` nats; see the class docstring."""
        self._require_weights()
        codes = self._check_codes(codes, "codes", 4)
        batch, frames = codes.shape[:2]
        tasks = check_tasks(task, batch, self.num_tasks)
        out = np.zeros((batch, frames), np.float32)
        if batch == 0 or frames == 0:
            return out
        skip = self.frame_skip
        flat = codes.reshape(batch, frames, -1)
        # Frame-skip chains become rows of their own: chain j holds frames j, j+s, j+2s, ...
        length = -(-frames // skip)
        rows = np.zeros((batch, skip, length, flat.shape[-1]), np.int32)
        for j in range(min(skip, frames)):
            rows[:, j, : len(range(j, frames, skip))] = flat[:, j::skip]
        scores = self._score_rows(rows.reshape(batch * skip, length, -1), np.repeat(tasks, skip))
        scores = scores.reshape(batch, skip, length)
        for j in range(min(skip, frames)):
            out[:, j::skip] = scores[:, j, : len(range(j, frames, skip))]
        return out

    def _score_rows(self, rows: np.ndarray, tasks: np.ndarray) -> np.ndarray:
        """Independent sequences ``int32[R, L, n]`` (each from its first frame) -> ``float32[R, L]``."""
        import jax.numpy as jnp

        num_rows, length, _ = rows.shape
        # Pad to few distinct shapes (powers of two up to a block) so jit compiles rarely;
        # padding only appends frames and rows, which nothing before them can see.
        chunk = CHUNK_FRAMES if length >= CHUNK_FRAMES else 1 << (length - 1).bit_length()
        block = ROW_BLOCK if num_rows >= ROW_BLOCK else 1 << (num_rows - 1).bit_length()
        padded_len = -(-length // chunk) * chunk
        padded_rows = -(-num_rows // block) * block
        rows = np.pad(rows, ((0, padded_rows - num_rows), (0, padded_len - length), (0, 0)))
        tasks = np.pad(tasks, (0, padded_rows - num_rows))
        segment = self.compiled.segment()
        params = self.device_params()
        network = self.compiled.network
        out = np.zeros((padded_rows, padded_len), np.float32)
        for r in range(0, padded_rows, block):
            memory, valid = network.empty_memory(block)
            task = jnp.asarray(tasks[r : r + block])
            for t in range(0, padded_len, chunk):
                log_p, memory, valid = segment(
                    params, jnp.asarray(rows[r : r + block, t : t + chunk]), task, memory, valid
                )
                out[r : r + block, t : t + chunk] = np.asarray(log_p)
        return out[:num_rows, :length]

    def stream(self, num_envs: int, task: np.ndarray | int | None = None) -> Any:
        """An :class:`~viper.videomodels.artransformer.stream.ARStream` for ``num_envs`` envs whose
        task ids (None: 0) stay fixed; its outputs equal :meth:`log_prob`'s."""
        from viper.videomodels.artransformer.stream import ARStream

        self._require_weights()
        if int(num_envs) < 1:
            raise ContractError(f"num_envs: expected a positive number of envs, got {num_envs}")
        tasks = check_tasks(task, int(num_envs), self.num_tasks)
        return ARStream(self.compiled, self.device_params(), self.frame_skip, int(num_envs), tasks)

    # -- training --------------------------------------------------------------------------

    def fit(self, train: Any, val: Any, ctx: Any) -> dict[str, float]:
        """Train on episodes of codes ``int32[T,h,w]`` (see :mod:`.train`); returns final metrics
        (``train_bits_per_code``, ``val_bits_per_code`` when ``val`` has clips)."""
        from viper.videomodels.artransformer.train import fit

        options = dict(ctx.options)
        missing = [k for k in ("vocab_size", "code_grid") if k not in options]
        if missing:
            raise ConfigError(f"ar-transformer fit: the stage options lack {', '.join(missing)} (from the tokenizer)")
        tasks = tuple(options.get("tasks") or train.tasks or ())
        self._set_shape(int(options["vocab_size"]), tuple(options["code_grid"]), tasks or 1)
        params, metrics = fit(self, train, val, ctx)
        self._set_params(params)
        return metrics

    # -- persistence -----------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """``config.json`` (options, vocabulary, grid, tasks) and ``weights/`` (msgpack EMA weights),
        see :mod:`viper.core.jaxtools.artifact`."""
        self._require_weights()
        artifact().save(directory, self.describe(), self.params, {"architecture": self.config.architecture()})

    def describe(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "config": to_dict(self.config),
            "vocab_size": self.vocab_size,
            "code_grid": list(self.code_grid or ()),
            "tasks": list(self.tasks),
        }

    @classmethod
    def load(cls, directory: str | Path) -> ARTransformer:
        """A trained model from a folder written by :meth:`save`; a folder whose weights do not
        match its config raises :class:`~viper.core.errors.WorkdirError` naming the parameter."""
        import jax

        from viper.videomodels.artransformer.network import init_params

        directory = Path(directory)
        saved_format = artifact()
        path = saved_format.config_path(directory)
        info = saved_format.read_header(directory)
        try:
            config = build_config(Config, info.get("config", {}), where=str(path))
            model = cls(config)
            model._set_shape(info["vocab_size"], info["code_grid"], tuple(info["tasks"]))
        except (ViperError, KeyError, TypeError, ValueError) as exc:
            raise WorkdirError(f"{path}: invalid model description ({exc})") from exc
        template = jax.eval_shape(lambda: init_params(model.compiled.network, 0))
        template = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), template)
        params, meta = saved_format.load_weights(directory, template)
        saved = meta.get("architecture")
        if saved is not None and saved != config.architecture():
            raise WorkdirError(
                f"{saved_format.weights_path(directory)}: weights of architecture {saved} but {path.name} describes "
                f"{config.architecture()}"
            )
        model._set_params(params)
        return model


def bits_per_code(nats_per_frame: float, codes_per_frame: int) -> float:
    return float(nats_per_frame) / codes_per_frame / math.log(2)
