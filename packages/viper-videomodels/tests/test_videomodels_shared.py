"""What every video model of this package must do alike, run once per model: registration,
documented config and presets, per-frame numbers that depend on exactly the context window, a
stream equal to them across resets, errors naming the argument, save/load and foreign artifacts,
in-process resume, data checks, and (for the transformers) sharded training.

What only one model does lives in its own ``test_<model>_*.py``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import textwrap
from typing import Any

import jax
import numpy as np
import pytest

from viper.core.config import field_docs
from viper.core.dataset import EpisodeStore
from viper.core.errors import DatasetError, WorkdirError
from viper.core.protocols import LikelihoodStream, VideoModel, frame_scores, has_likelihood
from viper.videomodels import artransformer, latentpredictor, maskgit
from viper.videomodels.common import train as shared_train
from viper.videomodels.testing import (
    GRID,
    VOCAB,
    moving_dot,
    scores_since_resets,
    stage_context,
    store,
    stream_scores,
    synthetic_host,
)


@dataclasses.dataclass(frozen=True)
class Spec:
    """One model under test and the sizes its tests use."""

    name: str
    module: Any
    cls: type
    tiny: dict[str, Any]
    """A model for the contract tests: context 3 (``seq_len`` 4 or ``context`` 3)."""
    train: dict[str, Any]
    """Options of the short training runs."""
    window: tuple[int, tuple[int, ...], int]
    """``(frames, scored frames checked against their window alone, frame changed)``."""
    tolerance: tuple[float, float] = (1e-5, 1e-4)
    """``(rtol, atol)`` between two computations of the same numbers."""
    bounds: tuple[float, float] = (-math.inf, 0.0)
    """Where a frame's number lies (log-likelihoods below 0; the latent score in [-4, 0])."""
    shape_field: str = "width"
    """A config field that changes the weights' shapes."""
    likelihood: bool = True
    """Whether ``log_prob`` is a likelihood (else the model declares a ``score``)."""
    two_devices: str = ""
    """Builds ``network`` from ``config`` in the two-device script; empty: not run."""

    @property
    def config(self) -> type:
        return self.module.Config

    def make(self, **extra: Any) -> Any:
        return self.cls(self.config(**{**self.tiny, **extra})).initialize(VOCAB, GRID, ("a", "b"), seed=3)


TRANSFORMER = dict(heads=2, width=32, mlp_width=64)
TRANSFORMER_TRAIN = TRANSFORMER | dict(
    layers=2, dropout=0.1, batch_size=8, learning_rate=3e-3, warmup_steps=10, ema_decay=0.9, log_every=20
)
SPECS = {
    "ar-transformer": Spec(
        "ar-transformer",
        artransformer,
        artransformer.ARTransformer,
        tiny=TRANSFORMER | dict(layers=3, seq_len=4),
        train=TRANSFORMER_TRAIN | dict(seq_len=4, attention_dropout=0.1),
        window=(12, (0, 2, 3, 7, 11), 6),
        two_devices="network = ARTransformer(config).initialize(VOCAB, GRID, 2).compiled.train_network",
    ),
    "maskgit": Spec(
        "maskgit",
        maskgit,
        maskgit.MaskGIT,
        tiny=TRANSFORMER | dict(layers=2, context=3, dropout=0.0, score_steps=4),
        train=TRANSFORMER_TRAIN | dict(context=3, score_steps=4),
        window=(9, (0, 2, 3, 8), 3),
        two_devices="network = build_network(config, VOCAB, GRID, 2, train=True)",
    ),
    "latent-predictor": Spec(
        "latent-predictor",
        latentpredictor,
        latentpredictor.LatentPredictor,
        tiny=dict(embed_dim=8, channels=8, width=32, latent=16, predictor_layers=1, seq_len=4),
        train=dict(embed_dim=8, channels=16, width=64, latent=32, predictor_layers=1, seq_len=4, batch_size=4),
        window=(40, (0, 2, 3, 9, 39), 10),
        tolerance=(1e-4, 1e-5),
        bounds=(-4.0 - 1e-5, 1e-5),
        shape_field="latent",
        likelihood=False,
    ),
}


@pytest.fixture(scope="module", params=list(SPECS))
def spec(request) -> Spec:
    return SPECS[request.param]


@pytest.fixture(scope="module")
def model(spec: Spec) -> Any:
    return spec.make()


def random_codes(batch: int, frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, (batch, frames, *GRID)).astype(np.int32)


def close(spec: Spec, got: np.ndarray, want: np.ndarray) -> None:
    rtol, atol = spec.tolerance
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def test_registered_documented_with_valid_presets(spec):
    assert synthetic_host().load("video_model", spec.name) is spec.cls
    docs = field_docs(spec.config)
    missing = [f.name for f in dataclasses.fields(spec.config) if not docs.get(f.name)]
    assert not missing, f"fields without a docstring: {missing}"
    assert set(spec.module.PRESETS) >= {"paper", "quick", "tiny"}
    for options in spec.module.PRESETS.values():
        spec.config(**options)  # every preset is valid
    assert spec.config(**spec.module.PRESETS["paper"]).architecture() == spec.config().architecture()


def test_is_a_video_model(spec, model):
    assert isinstance(model, VideoModel) and isinstance(model.stream(2), LikelihoodStream)
    assert has_likelihood(model) == spec.likelihood
    assert model.context == 3 and model.num_tasks == 2 and model.vocab_size == VOCAB and model.code_grid == GRID


def test_numbers_depend_on_exactly_the_context_window(spec, model):
    frames, checked, changed_frame = spec.window
    tasks = np.arange(3) % 2
    codes = random_codes(3, frames)
    scores = frame_scores(model, codes, tasks)
    assert scores.shape == (3, frames) and scores.dtype == np.float32 and np.all(np.isfinite(scores))
    low, high = spec.bounds
    assert np.all(scores < high) and np.all(scores >= low)
    # Entry t depends on exactly frames t-context..t: scoring the window alone gives the same number.
    for t in checked:
        start = max(0, t - model.context)
        close(spec, frame_scores(model, codes[:, start : t + 1], tasks)[:, -1], scores[:, t])
    # ... and not on anything older: change one frame, keep the scores from context frames after it.
    changed = codes.copy()
    changed[:, changed_frame] = (changed[:, changed_frame] + 1) % VOCAB
    after = frame_scores(model, changed, tasks)
    close(spec, after[:, changed_frame + model.context + 1 :], scores[:, changed_frame + model.context + 1 :])
    assert not np.allclose(after[:, changed_frame + 1], scores[:, changed_frame + 1])
    # The task changes the numbers.
    assert not np.allclose(frame_scores(model, codes, 0), frame_scores(model, codes, 1))


def resets(envs: int, frames: int, at: dict[int, int]) -> np.ndarray:
    """``bool[envs, frames]``: every env starts at frame 0, env ``e`` again at ``at[e]``."""
    is_first = np.zeros((envs, frames), bool)
    is_first[:, 0] = True
    for env, frame in at.items():
        is_first[env, frame] = True
    return is_first


def test_stream_equals_the_numbers_across_resets(spec, model):
    codes = random_codes(3, 23, seed=1)
    tasks = np.array([0, 1, 1])
    is_first = resets(3, 23, {1: 9, 2: 16})  # two envs start new episodes mid-way, one continues
    close(spec, stream_scores(model, codes, tasks, is_first), scores_since_resets(model, codes, tasks, is_first))
    assert codes.shape[1] > 3 * model.context  # well past the context on both sides of the resets


def test_bad_inputs_name_the_argument(spec, model):
    from viper.core.errors import ContractError

    codes = random_codes(2, 3)
    with pytest.raises(ContractError, match=r"codes: codes must lie in \[0, 16\)"):
        frame_scores(model, codes + VOCAB)
    with pytest.raises(ContractError, match="codes: expected a 4x4 code grid"):
        frame_scores(model, codes[..., :3])
    with pytest.raises(ContractError, match="codes: expected an int32 array with 4 dims"):
        frame_scores(model, codes[0])
    with pytest.raises(ContractError, match=r"task: task ids must lie in \[0, 2\)"):
        frame_scores(model, codes, np.array([0, 2]))
    with pytest.raises(ContractError, match=r"task: task ids must lie in \[0, 2\)"):
        model.stream(2, 5)
    with pytest.raises(ContractError, match="num_envs: expected a positive number"):
        model.stream(0)
    stream = model.stream(2)
    with pytest.raises(ContractError, match="codes: expected a batch of 2"):
        stream.step(codes[:1, 0], np.zeros(1, bool))
    with pytest.raises(ContractError, match=r"is_first: expected bool\[2\]"):
        stream.step(codes[:, 0], np.zeros(2, int))
    with pytest.raises(ContractError, match=f"{spec.name}: the model has no weights yet"):
        frame_scores(spec.cls(spec.config(**spec.tiny)), codes)
    assert frame_scores(model, codes[:, :0]).shape == (2, 0)


def test_save_load_round_trip_and_foreign_artifacts(spec, model, tmp_path):
    model.save(tmp_path / "m")
    loaded = spec.cls.load(tmp_path / "m")
    codes = random_codes(2, 6)
    np.testing.assert_array_equal(frame_scores(loaded, codes, 1), frame_scores(model, codes, 1))
    assert loaded.tasks == ("a", "b") and loaded.config == model.config
    files = sorted(str(p.relative_to(tmp_path / "m")) for p in (tmp_path / "m").rglob("*") if p.is_file())
    assert files == ["config.json", "weights/meta.json", "weights/state.msgpack"]
    header = json.loads((tmp_path / "m" / "config.json").read_text())
    assert header["format"] == f"viper-{spec.name}"
    # A config.json edited to other shapes no longer matches the weights.
    header["config"][spec.shape_field] *= 2
    (tmp_path / "m" / "config.json").write_text(json.dumps(header))
    with pytest.raises(WorkdirError, match="has shape .* but this config expects"):
        spec.cls.load(tmp_path / "m")
    article = "an" if spec.name[0] in "aeiou" else "a"
    with pytest.raises(WorkdirError, match=f"not {article} {spec.name} model .no config.json"):
        spec.cls.load(tmp_path)
    for other in SPECS.values():  # another model's artifact is refused, naming this model
        if other.name != spec.name:
            other.make().save(tmp_path / other.name)
            with pytest.raises(WorkdirError, match=f'not {article} {spec.name} model .expected "format"'):
                spec.cls.load(tmp_path / other.name)


def test_resume_in_process_matches_uninterrupted(spec, tmp_path, monkeypatch):
    """A run stopped right after its step-6 checkpoint and resumed ends where an uninterrupted
    run ends (ar-transformer's slow test does it with SIGKILL through ``viper-run``)."""
    config = spec.config(**{**spec.train, "steps": 8, "checkpoint_every": 3})
    data = store(moving_dot(6, 10))
    full = spec.cls(config)
    full_metrics = full.fit(data, store([]), stage_context(tmp_path / "full", spec.name))
    real_save = shared_train.save_checkpoint

    def save_then_die(manager, step, *args, **kwargs):
        real_save(manager, step, *args, **kwargs)
        if step == 6:
            raise KeyboardInterrupt

    monkeypatch.setattr(shared_train, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        spec.cls(config).fit(data, store([]), stage_context(tmp_path / "cut", spec.name))
    monkeypatch.setattr(shared_train, "save_checkpoint", real_save)
    resumed = spec.cls(config)
    assert resumed.fit(data, store([]), stage_context(tmp_path / "cut", spec.name)) == full_metrics
    for a, b in zip(*(jax.tree_util.tree_leaves(m.params) for m in (full, resumed))):
        np.testing.assert_array_equal(a, b)


def test_short_empty_or_bad_data_is_refused(spec, tmp_path):
    config = spec.config(**{**spec.train, "steps": 2})
    ctx = stage_context(tmp_path, spec.name)
    short = store(moving_dot(3, 3))  # clips need 4 frames
    with pytest.raises(DatasetError, match=f"{spec.name}: .*shorter than one training clip of 4 frames"):
        spec.cls(config).fit(short, store([]), ctx)
    with pytest.raises(DatasetError, match="holds no episode"):
        spec.cls(config).fit(EpisodeStore([], np.zeros(0, np.int32)), store([]), ctx)
    bad = store(moving_dot(2, 6))
    bad.arrays[1] = bad.arrays[1] + VOCAB
    with pytest.raises(DatasetError, match=r"train episode 1: codes must lie in \[0, 16\)"):
        spec.cls(config).fit(bad, store([]), ctx)


TWO_DEVICES = """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import jax, numpy as np
from viper.videomodels.testing import GRID, VOCAB, moving_dot, store
from viper.core.jaxtools import data_mesh, replicate, shard_batch, to_host
from viper.videomodels.common.train import ClipSampler, make_optimizer
from viper.videomodels.{package} import Config, {cls}
from viper.videomodels.{package}.network import build_network
from viper.videomodels.{package}.train import init_state, make_train_step

assert len(jax.devices()) == 2, jax.devices()
config = Config(**{options}, batch_size=4)
{network}
optimizer = make_optimizer(config)
start = to_host(init_state(network, optimizer, seed=0))
batch = ClipSampler(store(moving_dot(4, 8, tasks=2), tasks=2), 4, 4, 1, 0).sample()
results = []
for devices in (jax.devices()[:1], jax.devices()):
    mesh = data_mesh(devices)
    state, loss = make_train_step(network, optimizer, config, mesh)(replicate(start, mesh), shard_batch(batch, mesh))
    results.append((float(loss), to_host(state["params"]), len(state["params"]["head"]["kernel"].sharding.device_set)))
(loss1, params1, n1), (loss2, params2, n2) = results
assert (n1, n2) == (1, 2), (n1, n2)
assert abs(loss1 - loss2) < 1e-5 * abs(loss1), (loss1, loss2)
for a, b in zip(jax.tree_util.tree_leaves(params1), jax.tree_util.tree_leaves(params2)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
leaves = zip(jax.tree_util.tree_leaves(params1), jax.tree_util.tree_leaves(start["params"]))
moved = max(float(np.abs(a - b).max()) for a, b in leaves)
assert moved > 1e-4, moved
print("ok", loss1, loss2)
"""


@pytest.mark.parametrize("name", [name for name, spec in SPECS.items() if spec.two_devices])
def test_one_step_on_two_devices_equals_one_device(name):
    spec = SPECS[name]
    options = {k: v for k, v in spec.train.items() if k in ("layers", "heads", "width", "mlp_width", "dropout")}
    options |= {k: v for k, v in spec.tiny.items() if k in ("seq_len", "context")}
    package = spec.module.__name__.rsplit(".", 1)[1]
    script = TWO_DEVICES.format(package=package, cls=spec.cls.__name__, options=options, network=spec.two_devices)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok")
