"""The ar-transformer's contracts: registration, config, log_prob/stream exactness, errors, files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from viper.core.config import field_docs
from viper.core.errors import ConfigError, ContractError, WorkdirError
from viper.core.protocols import LikelihoodStream, VideoModel
from viper.videomodels.artransformer import PRESETS, ARTransformer, Config
from viper.videomodels.testing import GRID, VOCAB, moving_dot, synthetic_host

TINY = dict(layers=3, heads=2, width=32, mlp_width=64, seq_len=4)


def tiny(frame_skip: int = 1, tasks: tuple[str, ...] = ("a", "b"), **extra) -> ARTransformer:
    return ARTransformer(Config(**TINY, frame_skip=frame_skip, **extra)).initialize(VOCAB, GRID, tasks, seed=3)


@pytest.fixture(scope="module")
def model() -> ARTransformer:
    return tiny()


def random_codes(batch: int, frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, (batch, frames, *GRID)).astype(np.int32)


def test_plugin_lists_without_importing_jax():
    code = (
        "import sys; import viper.videomodels.plugin as p; specs = p.viper_register_video_models(); "
        "names = [s.name for s in specs]; assert names[:2] == ['ar-transformer', 'maskgit'], specs; "
        "assert specs[0].framework == 'jax' and specs[1].framework == 'jax'; "
        "assert not any(m == 'jax' or m.startswith(('jax.', 'flax', 'optax')) for m in sys.modules), 'jax imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    factory = synthetic_host().load("video_model", "ar-transformer")
    assert factory is ARTransformer


def test_config_defaults_are_the_paper_model_and_documented():
    config = Config()
    assert (config.layers, config.heads, config.width, config.mlp_width) == (8, 8, 256, 1024)
    assert config.seq_len == 16 and config.context == 15 and sum(config.spans) == 15
    assert config.ema_decay == 0.9999 and config.dropout > 0
    docs = field_docs(Config)
    import dataclasses

    missing = [f.name for f in dataclasses.fields(Config) if not docs.get(f.name)]
    assert not missing, f"fields without a docstring: {missing}"
    assert set(PRESETS) >= {"paper", "quick"}
    for options in PRESETS.values():
        Config(**options)  # every preset is valid
    assert Config(**PRESETS["paper"]).architecture() == config.architecture()


def test_config_rejects_bad_spans():
    with pytest.raises(ConfigError, match="frame_spans"):
        Config(**TINY, frame_spans=(1, 1))
    with pytest.raises(ConfigError, match="add up to seq_len - 1 = 3"):
        Config(**TINY, frame_spans=(1, 1, 2))
    assert Config(**TINY, frame_spans=(3, 0, 0)).spans == (3, 0, 0)
    assert Config(**TINY).spans == (1, 1, 1)


def test_is_a_video_model(model):
    assert isinstance(model, VideoModel)
    assert isinstance(model.stream(2), LikelihoodStream)
    assert model.context == 3 and model.num_tasks == 2 and model.vocab_size == VOCAB and model.code_grid == GRID


def test_log_prob_shape_and_window_semantics(model):
    codes = random_codes(2, 12)
    log_p = model.log_prob(codes, np.array([0, 1]))
    assert log_p.shape == (2, 12) and log_p.dtype == np.float32
    assert np.all(log_p < 0) and np.all(np.isfinite(log_p))
    # Entry t depends on exactly frames t-context..t: scoring the window alone gives the same number.
    for t in (0, 2, 3, 7, 11):
        start = max(0, t - model.context)
        window = model.log_prob(codes[:, start : t + 1], np.array([0, 1]))
        np.testing.assert_allclose(window[:, -1], log_p[:, t], rtol=1e-5, atol=1e-4)
    # ... and not on anything older: change frame t-context-1, keep the score of frame t.
    changed = codes.copy()
    changed[:, 6] = (changed[:, 6] + 1) % VOCAB
    after = model.log_prob(changed, np.array([0, 1]))
    np.testing.assert_allclose(after[:, 10:], log_p[:, 10:], rtol=1e-5, atol=1e-4)
    assert not np.allclose(after[:, 7], log_p[:, 7])
    # The task changes the likelihood.
    assert not np.allclose(model.log_prob(codes, 0), model.log_prob(codes, 1))


def stream_all(model, codes, tasks, is_first):
    stream = model.stream(codes.shape[0], tasks)
    return np.stack([stream.step(codes[:, t], is_first[:, t]) for t in range(codes.shape[1])], axis=1)


def expected(model, codes, tasks, is_first):
    """log_prob of each env's frames since its latest reset (one call: every episode piece is a
    row, padded at its end, which nothing before the padding can see)."""
    pieces = []
    for e in range(codes.shape[0]):
        starts = [0] + [t for t in range(1, codes.shape[1]) if is_first[e, t]] + [codes.shape[1]]
        pieces += [(e, a, b) for a, b in zip(starts, starts[1:])]
    rows = np.zeros((len(pieces), *codes.shape[1:]), np.int32)
    for i, (e, a, b) in enumerate(pieces):
        rows[i, : b - a] = codes[e, a:b]
    scores = model.log_prob(rows, np.asarray([tasks[e] for e, _, _ in pieces]))
    out = np.zeros(codes.shape[:2], np.float32)
    for i, (e, a, b) in enumerate(pieces):
        out[e, a:b] = scores[i, : b - a]
    return out


@pytest.mark.parametrize("frame_skip", [1, 2])
def test_stream_equals_log_prob_across_resets(frame_skip):
    model = tiny(frame_skip)
    codes = random_codes(3, 23, seed=frame_skip)
    tasks = np.array([0, 1, 1])
    is_first = np.zeros(codes.shape[:2], bool)
    is_first[:, 0] = True
    is_first[1, 9] = True  # one env starts a new episode mid-way, the others continue
    is_first[2, 16] = True
    got = stream_all(model, codes, tasks, is_first)
    want = expected(model, codes, tasks, is_first)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    # well past the context on both sides of the resets
    assert codes.shape[1] > 3 * model.context * frame_skip


def test_stream_with_explicit_spans_and_one_task():
    model = tiny(tasks=("only",), frame_spans=(0, 3, 0))
    codes = random_codes(2, 10, seed=5)
    is_first = np.zeros(codes.shape[:2], bool)
    is_first[0, 4] = True
    np.testing.assert_allclose(
        stream_all(model, codes, np.zeros(2, int), is_first),
        expected(model, codes, np.zeros(2, int), is_first),
        rtol=1e-5,
        atol=1e-4,
    )


def test_frame_skip_conditions_on_every_sth_frame():
    model = tiny(frame_skip=2)
    same_weights = tiny(frame_skip=1)  # frame_skip does not change the weights
    codes = random_codes(1, 9, seed=2)
    log_p = model.log_prob(codes)
    # frame 8 sees frames 6, 4, 2 (context 3); the odd frames never enter its context
    np.testing.assert_allclose(log_p[0, 8], same_weights.log_prob(codes[:, 2:9:2])[0, -1], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(log_p[0, 7], same_weights.log_prob(codes[:, 1:8:2])[0, -1], rtol=1e-5, atol=1e-4)
    changed = codes.copy()
    changed[0, 7] = (changed[0, 7] + 1) % VOCAB
    np.testing.assert_allclose(model.log_prob(changed)[0, 8], log_p[0, 8], rtol=1e-5, atol=1e-4)


def test_bad_inputs_name_the_argument(model):
    codes = random_codes(2, 3)
    with pytest.raises(ContractError, match=r"codes: codes must lie in \[0, 16\)"):
        model.log_prob(codes + VOCAB)
    with pytest.raises(ContractError, match="codes: expected a 4x4 code grid"):
        model.log_prob(codes[..., :3])
    with pytest.raises(ContractError, match="codes: expected an int32 array with 4 dims"):
        model.log_prob(codes[0])
    with pytest.raises(ContractError, match=r"task: task ids must lie in \[0, 2\)"):
        model.log_prob(codes, np.array([0, 2]))
    with pytest.raises(ContractError, match=r"task: task ids must lie in \[0, 2\)"):
        model.stream(2, 5)
    stream = model.stream(2)
    with pytest.raises(ContractError, match="codes: expected a batch of 2"):
        stream.step(codes[:1, 0], np.zeros(1, bool))
    with pytest.raises(ContractError, match=r"is_first: expected bool\[2\]"):
        stream.step(codes[:, 0], np.zeros(2, int))
    with pytest.raises(ContractError, match="no weights yet"):
        ARTransformer(Config(**TINY)).log_prob(codes)
    assert model.log_prob(codes[:, :0]).shape == (2, 0)


def test_save_load_round_trip_and_mismatch(model, tmp_path):
    model.save(tmp_path / "m")
    loaded = ARTransformer.load(tmp_path / "m")
    codes = random_codes(2, 6)
    np.testing.assert_array_equal(loaded.log_prob(codes, 1), model.log_prob(codes, 1))
    assert loaded.tasks == ("a", "b") and loaded.config == model.config
    assert sorted(p.name for p in (tmp_path / "m").rglob("*") if p.is_file()) == [
        "config.json",
        "meta.json",
        "state.msgpack",
    ]
    # A config.json edited to another width no longer matches the weights.
    info = json.loads((tmp_path / "m" / "config.json").read_text())
    info["config"]["width"] = 64
    (tmp_path / "m" / "config.json").write_text(json.dumps(info))
    with pytest.raises(WorkdirError, match="has shape .* but this config expects"):
        ARTransformer.load(tmp_path / "m")
    info["config"]["width"] = 32
    info["config"]["frame_spans"] = [3, 0, 0]  # same shapes for span-free params, another network
    (tmp_path / "m" / "config.json").write_text(json.dumps(info))
    with pytest.raises(WorkdirError):
        ARTransformer.load(tmp_path / "m")
    with pytest.raises(WorkdirError, match="not an ar-transformer model"):
        ARTransformer.load(tmp_path)


def test_moving_dot_data_is_learnable_shape():
    episodes = moving_dot(3, 7, tasks=2)
    assert episodes[0][0].shape == (7, *GRID) and episodes[1][1] == 1
