"""The plumbing every code-sequence video model's factory shares: its shape (vocabulary, code
grid, tasks), its host and device weights, input checks, ``fit`` from the tokenizer's stage
options, and save/load as an :class:`~viper.core.jaxtools.ArtifactFormat` folder.

A model subclasses :class:`CodeSequenceModel` and supplies its network (:meth:`_init_params`,
:meth:`_forget_network`), its training (:meth:`_train`) and its scoring.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from viper.core.checks import check_codes, check_tasks
from viper.core.config import build_config, to_dict
from viper.core.config.distributed import single_process
from viper.core.errors import ConfigError, ContractError, ViperError, WorkdirError

if TYPE_CHECKING:  # jax is imported on first use, so importing a factory stays cheap
    from typing import Self

    from viper.core.jaxtools import ArtifactFormat


class CodeSequenceModel(ABC):
    """A video model over frames of tokenizer codes ``int32[h,w]`` with ``vocab_size`` codes,
    trained on a set of named tasks; its weights live on the host as a numpy tree."""

    #: The component name used in messages, e.g. ``"maskgit"``.
    NAME: ClassVar[str]
    #: The artifact header's format name and version, and what the artifact is (for errors).
    FORMAT: ClassVar[str]
    VERSION: ClassVar[int]
    ARTIFACT: ClassVar[str]
    Config: ClassVar[type]

    def __init__(self, config: Any = None) -> None:
        from viper.core.jaxtools import init_distributed

        self.config = config if config is not None else self.Config()
        # jax.distributed must start before the first computation (the stage encodes the dataset
        # with the tokenizer before fitting); a no-op on one host
        init_distributed(self.config.distributed())
        self.vocab_size: int | None = None
        self.code_grid: tuple[int, int] | None = None
        self.tasks: tuple[str, ...] = ()
        self.params: Any = None  # host numpy tree
        self._device = None
        self._forget_network()

    # -- what a model supplies -------------------------------------------------------------

    @abstractmethod
    def _forget_network(self) -> None:
        """Drop what was built for the previous shape (networks, jitted functions)."""

    @abstractmethod
    def _init_params(self, seed: int) -> Any:
        """Fresh weights of this model's shape."""

    @abstractmethod
    def _train(self, train: Any, val: Any, ctx: Any) -> tuple[Any, dict[str, float]]:
        """``(params, final metrics)`` of training on episodes of codes (the model's train.fit)."""

    # -- shape of the problem --------------------------------------------------------------

    @property
    def context(self) -> int:
        """Previous frames each frame is conditioned on."""
        return self.config.context

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    def initialize(
        self, vocab_size: int, code_grid: tuple[int, int], tasks: tuple[str, ...] | int = 1, seed: int = 0
    ) -> Self:
        """Random weights for ``vocab_size`` codes on a ``code_grid`` and ``tasks`` (names or a
        count); used before training and by benchmarks."""
        self._set_shape(vocab_size, code_grid, tasks)
        self._set_params(self._init_params(seed))
        return self

    def _set_shape(self, vocab_size: int, code_grid: Any, tasks: tuple[str, ...] | int) -> None:
        if int(vocab_size) < 2:
            raise ConfigError(f"vocab_size {vocab_size}: expected at least 2 codes")
        grid = tuple(int(g) for g in code_grid)
        if len(grid) != 2 or min(grid) < 1:
            raise ConfigError(f"code_grid {code_grid}: expected (h, w) with positive sizes")
        names = tuple(f"task{i}" for i in range(int(tasks))) if isinstance(tasks, int) else tuple(tasks)
        self.vocab_size, self.code_grid, self.tasks = int(vocab_size), grid, names or ("task0",)
        self._forget_network()

    def _set_params(self, params: Any) -> None:
        import jax

        from viper.core.jaxtools import to_host

        self.params = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float32), to_host(params))
        self._device = None

    def _require_weights(self) -> None:
        if self.params is None:
            raise ContractError(
                f"{self.NAME}: the model has no weights yet; train it with fit(), load one with "
                f"{type(self).__name__}.load(dir) or give it random weights with initialize()"
            )

    def _require_shape(self) -> None:
        if self.vocab_size is None or self.code_grid is None:
            raise ContractError(
                f"{self.NAME}: the model has no vocabulary and code grid yet; train it with fit(), "
                f"load one with {type(self).__name__}.load(dir) or call initialize()"
            )

    def device_params(self) -> Any:
        """The weights on the default device (placed once, reused by every call)."""
        import jax

        self._require_weights()
        if self._device is None:
            self._device = jax.device_put(self.params)
        return self._device

    # -- input checks ----------------------------------------------------------------------

    def _checked(self, codes: Any, task: Any) -> tuple[np.ndarray, np.ndarray]:
        """``codes int32[B,T,h,w]`` and their task ids, checked against this trained model."""
        self._require_weights()
        codes = check_codes(codes, "codes", ndim=4, vocab_size=self.vocab_size, grid=self.code_grid)
        return codes, check_tasks(task, codes.shape[0], self.num_tasks)

    def _stream_tasks(self, num_envs: int, task: Any) -> np.ndarray:
        """The task id of each of ``num_envs`` streamed envs, checked against this trained model."""
        self._require_weights()
        if int(num_envs) < 1:
            raise ContractError(f"num_envs: expected a positive number of envs, got {num_envs}")
        return check_tasks(task, int(num_envs), self.num_tasks)

    # -- training --------------------------------------------------------------------------

    def fit(self, train: Any, val: Any, ctx: Any) -> dict[str, float]:
        """Train on episodes of codes ``int32[T,h,w]`` whose vocabulary and grid the stage options
        give (from the tokenizer); returns the final metrics."""
        options = dict(ctx.options)
        missing = [k for k in ("vocab_size", "code_grid") if k not in options]
        if missing:
            raise ConfigError(f"{self.NAME} fit: the stage options lack {', '.join(missing)} (from the tokenizer)")
        tasks = tuple(options.get("tasks") or train.tasks or ())
        self._set_shape(int(options["vocab_size"]), tuple(options["code_grid"]), tasks or 1)
        params, metrics = self._train(train, val, ctx)
        self._set_params(params)
        return metrics

    # -- persistence -----------------------------------------------------------------------

    @classmethod
    def artifact(cls) -> ArtifactFormat:
        """The saved format: ``config.json`` (:meth:`describe`) and ``weights/``."""
        from viper.core.jaxtools import ArtifactFormat

        return ArtifactFormat(cls.FORMAT, cls.VERSION, cls.ARTIFACT, "model config", "; train one with fit-model")

    def save(self, directory: Path) -> None:
        """``config.json`` (options, vocabulary, grid, tasks) and ``weights/`` (msgpack weights),
        see :mod:`viper.core.jaxtools.artifact`."""
        self._require_weights()
        self.artifact().save(directory, self.describe(), self.params, {"architecture": self.config.architecture()})

    def describe(self) -> dict[str, Any]:
        return {
            "format": self.FORMAT,
            "version": self.VERSION,
            "config": single_process(to_dict(self.config)),
            "vocab_size": self.vocab_size,
            "code_grid": list(self.code_grid or ()),
            "tasks": list(self.tasks),
        }

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        """A trained model from a folder written by :meth:`save`; another model's folder, or
        weights that do not match the config, raise :class:`~viper.core.errors.WorkdirError`."""
        import jax

        directory = Path(directory)
        saved_format = cls.artifact()
        path = saved_format.config_path(directory)
        info = saved_format.read_header(directory)
        try:
            config = build_config(cls.Config, info.get("config", {}), where=str(path))
            model = cls(config)
            model._set_shape(info["vocab_size"], info["code_grid"], tuple(info["tasks"]))
        except (ViperError, KeyError, TypeError, ValueError) as exc:
            raise WorkdirError(f"{path}: invalid model description ({exc})") from exc
        template = jax.eval_shape(lambda: model._init_params(0))
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
