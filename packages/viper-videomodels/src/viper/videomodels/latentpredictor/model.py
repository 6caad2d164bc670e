"""``latent-predictor``: a deterministic, BYOL-style video model without a likelihood (JAX/flax).

The :class:`LatentPredictor` factory implements :class:`viper.core.protocols.VideoModel` for a
model with ``likelihood = False``: it offers ``score`` (and a stream of the same numbers)
instead of ``log_prob``. Numpy arrays cross its boundary, JAX runs inside.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from viper.core.checks import check_codes, check_tasks
from viper.core.config import build_config, to_dict
from viper.core.errors import ConfigError, ContractError, ViperError, WorkdirError
from viper.videomodels.latentpredictor.config import PRESETS, Config

if TYPE_CHECKING:  # jax is imported on first use, so importing the factory stays cheap
    from viper.core.jaxtools import ArtifactFormat
    from viper.videomodels.latentpredictor.network import Network

FORMAT = "viper-latent-predictor"
VERSION = 1
NAME = "latent-predictor"

#: ``score`` runs at most this many rows and frames per call (padded to powers of two below it,
#: so jit compiles for few shapes).
ROW_BLOCK = 32
FRAME_BLOCK = 256


def artifact() -> ArtifactFormat:
    """The saved format: ``config.json`` (:meth:`LatentPredictor.describe`) and ``weights/``."""
    from viper.core.jaxtools import ArtifactFormat

    return ArtifactFormat(FORMAT, VERSION, "a latent-predictor model", "model config", "; train one with fit-model")


def _bucket(n: int, cap: int) -> int:
    return cap if n >= cap else 1 << max(0, (n - 1).bit_length())


class LatentPredictor:
    """Predicts each frame's embedding from its ``context`` previous frames' embeddings.

    Build untrained with ``LatentPredictor(config)`` and train with :meth:`fit` (or give it random
    weights with :meth:`initialize`); load a trained one with :meth:`load`. Contracts:

    * ``score(codes int32[B,T,h,w], task) -> float32[B,T]``: entry ``[b, t]`` is
      ``2 cos(predict(frames max(0, t-context)..t-1, task), target_embed(frame t)) - 2`` (see
      :data:`score_units`): 0 when frame ``t`` is what the model expected, down to -4. Frame 0
      is predicted from the learned start context. Higher is more expert-like; not a probability.
    * ``stream(num_envs, task)`` -> :class:`~viper.videomodels.latentpredictor.stream.LatentStream`
      returning the same numbers one frame per env per call.
    * ``log_prob`` raises: a deterministic model has no likelihood (``likelihood = False``).
    * ``task``: None (task 0), an int or ``int[B]``, ids into :attr:`tasks`.

    Misuse (codes out of ``[0, vocab_size)``, another code grid, an unknown task id) raises
    :class:`~viper.core.errors.ContractError` naming the argument.
    """

    Config = Config
    PRESETS = PRESETS
    likelihood = False
    score_units = "2*cos - 2 of the predicted and the target embedding (negative squared unit distance, in [-4, 0])"

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else Config()
        self.vocab_size: int | None = None
        self.code_grid: tuple[int, int] | None = None
        self.tasks: tuple[str, ...] = ()
        self.params: Any = None  # {"online", "target"} host numpy tree
        self._device = None
        self._network: Network | None = None
        self._functions: dict[str, Any] = {}

    @property
    def context(self) -> int:
        """Previous frames each frame is predicted from."""
        return self.config.context

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    def initialize(
        self, vocab_size: int, code_grid: tuple[int, int], tasks: tuple[str, ...] | int = 1, seed: int = 0
    ) -> LatentPredictor:
        """Random weights for ``vocab_size`` codes on a ``code_grid`` and ``tasks`` (names or a count)."""
        self._set_shape(vocab_size, code_grid, tasks)
        self._set_params(self.network.init(seed))
        return self

    def _set_shape(self, vocab_size: int, code_grid: Any, tasks: tuple[str, ...] | int) -> None:
        if int(vocab_size) < 2:
            raise ConfigError(f"vocab_size {vocab_size}: expected at least 2 codes")
        grid = tuple(int(g) for g in code_grid)
        if len(grid) != 2 or min(grid) < 1:
            raise ConfigError(f"code_grid {code_grid}: expected (h, w) with positive sizes")
        names = tuple(f"task{i}" for i in range(int(tasks))) if isinstance(tasks, int) else tuple(tasks)
        self.vocab_size, self.code_grid, self.tasks = int(vocab_size), grid, names or ("task0",)
        self._network, self._functions = None, {}

    def _set_params(self, params: Any) -> None:
        import jax

        from viper.core.jaxtools import to_host

        self.params = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float32), to_host(params))
        self._device = None

    def _require_weights(self) -> None:
        if self.params is None:
            raise ContractError(
                f"{NAME}: the model has no weights yet; train it with fit(), load one with "
                "LatentPredictor.load(dir) or give it random weights with initialize()"
            )

    @property
    def network(self) -> Network:
        """The modules of this model's shape (see :mod:`.network`)."""
        if self.vocab_size is None or self.code_grid is None:
            raise ContractError(
                f"{NAME}: the model has no vocabulary and code grid yet; train it with fit(), "
                "load one with LatentPredictor.load(dir) or call initialize()"
            )
        if self._network is None:
            from viper.videomodels.latentpredictor.network import Network

            self._network = Network(self.config, self.vocab_size, self.code_grid, self.num_tasks)
        return self._network

    def function(self, key: str, build: Any) -> Any:
        """What ``build()`` returns (a jitted function), built once per model shape."""
        if key not in self._functions:
            self._functions[key] = build()
        return self._functions[key]

    def device_params(self) -> Any:
        import jax

        self._require_weights()
        if self._device is None:
            self._device = jax.device_put(self.params)
        return self._device

    # -- scoring ---------------------------------------------------------------------------

    def score(self, codes: np.ndarray, task: np.ndarray | int | None = None) -> np.ndarray:
        """``codes int32[B,T,h,w] -> float32[B,T]``; see the class docstring."""
        import jax
        import jax.numpy as jnp

        self._require_weights()
        codes = check_codes(codes, "codes", ndim=4, vocab_size=self.vocab_size, grid=self.code_grid)
        batch, frames = codes.shape[:2]
        tasks = check_tasks(task, batch, self.num_tasks)
        out = np.zeros((batch, frames), np.float32)
        if batch == 0 or frames == 0:
            return out
        scores = self.function("scores", lambda: jax.jit(self.network.scores))
        params, flat = self.device_params(), codes.reshape(batch, frames, -1)
        rows, length = _bucket(batch, ROW_BLOCK), _bucket(frames, FRAME_BLOCK)
        # A frame's score depends on its previous `context` frames only: blocks of frames overlap
        # by `context` frames, and padding appended after a row or frame changes nothing before it.
        step = length - self.context if length > self.context else length
        for r in range(0, batch, rows):
            for t in range(0, frames, step):
                first = max(0, t - self.context)
                part = flat[r : r + rows, first : first + length]
                part_tasks = tasks[r : r + rows]
                n, m = part.shape[:2]
                part = np.pad(part, ((0, rows - n), (0, length - m), (0, 0)))
                got = np.asarray(scores(params, jnp.asarray(part), jnp.asarray(np.pad(part_tasks, (0, rows - n)))))
                keep = min(frames, first + length) - t
                out[r : r + n, t : t + keep] = got[:n, t - first : t - first + keep]
                if first + length >= frames:
                    break
        return out

    def log_prob(self, codes: np.ndarray, task: np.ndarray | int | None = None) -> np.ndarray:
        """Refused: this model has no likelihood; its numbers come from :meth:`score`."""
        raise ContractError(
            f"{NAME} is a deterministic model without a likelihood (likelihood = False); use score(), "
            f"whose numbers are {self.score_units}"
        )

    def stream(self, num_envs: int, task: np.ndarray | int | None = None) -> Any:
        """A :class:`~viper.videomodels.latentpredictor.stream.LatentStream` for ``num_envs`` envs
        whose task ids (None: 0) stay fixed; its outputs equal :meth:`score`'s."""
        from viper.videomodels.latentpredictor.stream import LatentStream, make_step_fn

        self._require_weights()
        if int(num_envs) < 1:
            raise ContractError(f"num_envs: expected a positive number of envs, got {num_envs}")
        tasks = check_tasks(task, int(num_envs), self.num_tasks)
        step_fn = self.function("stream", lambda: make_step_fn(self.network))
        return LatentStream(
            self.network, step_fn, self.device_params(), self.vocab_size, self.code_grid, int(num_envs), tasks
        )

    # -- training --------------------------------------------------------------------------

    def fit(self, train: Any, val: Any, ctx: Any) -> dict[str, float]:
        """Train on episodes of codes ``int32[T,h,w]`` (see :mod:`.train`); returns final metrics
        (``train_error``, ``val_error`` when ``val`` has clips: mean ``2 - 2 cos``)."""
        from viper.videomodels.latentpredictor.train import fit

        options = dict(ctx.options)
        missing = [k for k in ("vocab_size", "code_grid") if k not in options]
        if missing:
            raise ConfigError(f"{NAME} fit: the stage options lack {', '.join(missing)} (from the tokenizer)")
        tasks = tuple(options.get("tasks") or train.tasks or ())
        self._set_shape(int(options["vocab_size"]), tuple(options["code_grid"]), tasks or 1)
        params, metrics = fit(self, train, val, ctx)
        self._set_params(params)
        return metrics

    # -- persistence -----------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """``config.json`` (options, vocabulary, grid, tasks) and ``weights/`` (msgpack online and
        target weights), see :mod:`viper.core.jaxtools.artifact`."""
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
    def load(cls, directory: str | Path) -> LatentPredictor:
        """A trained model from a folder written by :meth:`save`; a folder of another model, or
        whose weights do not match its config, raises :class:`~viper.core.errors.WorkdirError`."""
        import jax

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
        template = jax.eval_shape(lambda: model.network.init(0))
        template = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, np.float32), template)
        params, meta = saved_format.load_weights(directory, template)
        saved = meta.get("architecture")
        if saved is not None and saved != config.architecture():
            raise WorkdirError(
                f"{saved_format.weights_path(directory)}: weights of architecture {saved} but {path.name} describes "
                f"{config.architecture()}"
            )
        model._set_params(params)
        return model
