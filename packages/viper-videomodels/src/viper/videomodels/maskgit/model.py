"""``maskgit``: a MaskGIT video model over tokenizer codes (JAX/flax).

The :class:`MaskGIT` factory implements :class:`viper.core.protocols.VideoModel`; numpy arrays
cross its boundary, JAX runs inside.

The likelihood estimator (the reward). A masked-token model gives ``p(code | visible codes)``, not
a product of conditionals, so a frame's log-likelihood is built by the chain rule in a FIXED
order: the frame's ``n = h*w`` codes are revealed in ``S = score_steps`` groups (one fixed random
permutation, group sizes following MaskGIT's cosine schedule), and

    log p(frame | context) ~= sum_s sum_{i in group s} log p(code_i | context, groups < s, task).

With ``S = n`` (one code per group) this is exactly the chain rule of the model's conditionals
(a proper likelihood of the frame for that order); with ``S < n`` the codes of a group are scored
as independent given what is revealed, an approximation that costs less. Why not one pass with
every code masked: it scores each code with no knowledge of the others, i.e. a product of
marginals, which cannot tell a coherent frame from a patchwork of likely codes. Why a fixed order:
the estimate must be a deterministic function of the frames (the reward and its stream must
agree), and a random order would add noise to every reward.

Cost per reward: ``S`` forward passes of ``(context + 1) * n`` tokens (run as one batch), with no
cache to carry (bidirectional attention lets the context see the scored frame), so the online
stream keeps each env's last ``context`` code frames and recomputes that window.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from viper.core.checks import check_codes, check_tasks
from viper.core.config import build_config, to_dict
from viper.core.errors import ConfigError, ContractError, ViperError, WorkdirError
from viper.videomodels.maskgit.config import PRESETS, Config

if TYPE_CHECKING:  # jax is imported on first use, so importing the factory stays cheap
    from viper.core.jaxtools import ArtifactFormat
    from viper.videomodels.maskgit.network import MaskedFrameTransformer

FORMAT = "viper-maskgit"
VERSION = 1

#: Attention logits (rows x score steps x heads x sequence length^2) one scoring call holds at
#: most (512 MB of float32); rows go in blocks of a power of two below that, so jit compiles few shapes.
LOGITS_PER_CALL = 1 << 27


def artifact() -> ArtifactFormat:
    """The saved format: ``config.json`` (:meth:`MaskGIT.describe`) and ``weights/``."""
    from viper.core.jaxtools import ArtifactFormat

    return ArtifactFormat(FORMAT, VERSION, "a maskgit model", "model config", "; train one with fit-model")


class MaskGIT:
    """A bidirectional transformer over the context frames and the next frame, trained to fill in
    the next frame's masked codes; ``log p`` of a frame estimated by ``score_steps`` unmasking steps.

    Build untrained with ``MaskGIT(config)`` and train with :meth:`fit` (or give it random weights
    with :meth:`initialize`); load a trained one with :meth:`load`. Contracts:

    * ``log_prob(codes int32[B,T,h,w], task) -> float32[B,T]``: entry ``[b, t]`` is the estimate
      of ``log p(frame t | frames max(0, t-context)..t-1, task)`` in nats (module docstring);
      frame 0 is conditioned on nothing.
    * ``stream(num_envs, task)`` -> :class:`~viper.videomodels.maskgit.stream.MaskGITStream`
      whose ``step(codes int32[num_envs,h,w], is_first bool[num_envs]) -> float32[num_envs]``
      returns the same numbers one frame per env per call.
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
        self._network: MaskedFrameTransformer | None = None
        self._score: Any = None

    @property
    def context(self) -> int:
        """Previous frames each frame is conditioned on."""
        return self.config.context

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    def initialize(
        self, vocab_size: int, code_grid: tuple[int, int], tasks: tuple[str, ...] | int = 1, seed: int = 0
    ) -> MaskGIT:
        """Random weights for ``vocab_size`` codes on a ``code_grid`` and ``tasks`` (names or a
        count); used before training and by benchmarks."""
        from viper.videomodels.maskgit.network import init_params

        self._set_shape(vocab_size, code_grid, tasks)
        self._set_params(init_params(self.network, seed))
        return self

    def _set_shape(self, vocab_size: int, code_grid: Any, tasks: tuple[str, ...] | int) -> None:
        if int(vocab_size) < 2:
            raise ConfigError(f"vocab_size {vocab_size}: expected at least 2 codes")
        grid = tuple(int(g) for g in code_grid)
        if len(grid) != 2 or min(grid) < 1:
            raise ConfigError(f"code_grid {code_grid}: expected (h, w) with positive sizes")
        names = tuple(f"task{i}" for i in range(int(tasks))) if isinstance(tasks, int) else tuple(tasks)
        self.vocab_size, self.code_grid, self.tasks = int(vocab_size), grid, names or ("task0",)
        self._network, self._score = None, None

    def _set_params(self, params: Any) -> None:
        import jax

        from viper.core.jaxtools import to_host

        self.params = jax.tree_util.tree_map(lambda x: x.astype(np.float32, copy=False), to_host(params))
        self._device = None

    def _require_weights(self) -> None:
        if self.params is None:
            raise ContractError(
                "maskgit: the model has no weights yet; train it with fit(), load one with "
                "MaskGIT.load(dir) or give it random weights with initialize()"
            )

    @property
    def network(self) -> MaskedFrameTransformer:
        """The flax network of this model's shape (no dropout)."""
        if self.vocab_size is None or self.code_grid is None:
            raise ContractError(
                "maskgit: the model has no vocabulary and code grid yet; train it with fit(), "
                "load one with MaskGIT.load(dir) or call initialize()"
            )
        if self._network is None:
            from viper.videomodels.maskgit.network import build_network

            self._network = build_network(self.config, self.vocab_size, self.code_grid, self.num_tasks)
        return self._network

    def device_params(self) -> Any:
        """The weights on the default device (placed once, reused by every call)."""
        import jax

        self._require_weights()
        if self._device is None:
            self._device = jax.device_put(self.params)
        return self._device

    # -- scoring ---------------------------------------------------------------------------

    def log_prob(self, codes: np.ndarray, task: np.ndarray | int | None = None) -> np.ndarray:
        """``codes int32[B,T,h,w] -> float32[B,T]`` nats; see the class docstring."""
        self._require_weights()
        codes = check_codes(codes, "codes", ndim=4, vocab_size=self.vocab_size, grid=self.code_grid)
        batch, frames = codes.shape[:2]
        tasks = check_tasks(task, batch, self.num_tasks)
        if batch == 0 or frames == 0:
            return np.zeros((batch, frames), np.float32)
        context = self.context
        flat = codes.reshape(batch, frames, -1)
        padded = np.concatenate([np.zeros((batch, context, flat.shape[-1]), np.int32), flat], axis=1)
        # Window of frame t: padded frames t .. t+context-1 are frames t-context .. t-1.
        past = np.stack([padded[:, t : t + context] for t in range(frames)], axis=1)
        valid = np.arange(frames)[:, None] - context + np.arange(context)[None, :] >= 0
        valid = np.broadcast_to(valid, (batch, frames, context))
        scores = self.score_frames(
            past.reshape(batch * frames, context, -1),
            valid.reshape(batch * frames, context),
            flat.reshape(batch * frames, -1),
            np.repeat(tasks, frames),
        )
        return scores.reshape(batch, frames)

    def score_frames(self, past: np.ndarray, valid: np.ndarray, target: np.ndarray, task: np.ndarray) -> np.ndarray:
        """Checked inputs ``past int32[R,context,n]``, ``valid bool[R,context]``, ``target
        int32[R,n]``, ``task int32[R]`` -> ``float32[R]``: each target frame's estimate."""
        import jax
        import jax.numpy as jnp

        if self._score is None:
            from viper.videomodels.maskgit.network import make_score

            self._score = jax.jit(make_score(self.network, self.config.score_steps))
        rows = len(target)
        length = (self.context + 1) * target.shape[-1]
        per_row = min(self.config.score_steps, target.shape[-1]) * self.config.heads * length * length
        block = 1 << max(0, (LOGITS_PER_CALL // per_row).bit_length() - 1)
        block = min(block, 1 << (rows - 1).bit_length())
        total = -(-rows // block) * block
        pad = ((0, total - rows),)
        past = np.pad(past, pad + ((0, 0), (0, 0)))
        valid, target = np.pad(valid, pad + ((0, 0),)), np.pad(target, pad + ((0, 0),))
        task = np.pad(np.asarray(task, np.int32), pad)
        params = self.device_params()
        out = [
            np.asarray(
                self._score(
                    params,
                    jnp.asarray(past[r : r + block]),
                    jnp.asarray(valid[r : r + block]),
                    jnp.asarray(target[r : r + block]),
                    jnp.asarray(task[r : r + block]),
                )
            )
            for r in range(0, total, block)
        ]
        return np.concatenate(out)[:rows].astype(np.float32)

    def stream(self, num_envs: int, task: np.ndarray | int | None = None) -> Any:
        """A :class:`~viper.videomodels.maskgit.stream.MaskGITStream` for ``num_envs`` envs whose
        task ids (None: 0) stay fixed; its outputs equal :meth:`log_prob`'s."""
        from viper.videomodels.maskgit.stream import MaskGITStream

        self._require_weights()
        if int(num_envs) < 1:
            raise ContractError(f"num_envs: expected a positive number of envs, got {num_envs}")
        return MaskGITStream(self, int(num_envs), check_tasks(task, int(num_envs), self.num_tasks))

    # -- training --------------------------------------------------------------------------

    def fit(self, train: Any, val: Any, ctx: Any) -> dict[str, float]:
        """Train on episodes of codes ``int32[T,h,w]`` (see :mod:`.train`); returns final metrics
        (``train_bits_per_code`` of masked codes, ``val_bits_per_code`` when ``val`` has clips)."""
        from viper.videomodels.maskgit.train import fit

        options = dict(ctx.options)
        missing = [k for k in ("vocab_size", "code_grid") if k not in options]
        if missing:
            raise ConfigError(f"maskgit fit: the stage options lack {', '.join(missing)} (from the tokenizer)")
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
    def load(cls, directory: str | Path) -> MaskGIT:
        """A trained model from a folder written by :meth:`save`; another model's folder, or
        weights that do not match the config, raise :class:`~viper.core.errors.WorkdirError`."""
        import jax

        from viper.videomodels.maskgit.network import init_params

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
        template = jax.eval_shape(lambda: init_params(model.network, 0))
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
