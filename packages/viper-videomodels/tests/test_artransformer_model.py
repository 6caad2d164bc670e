"""What only the ar-transformer does: its plugin module lists without jax, the paper's defaults,
frame spans, and frame skip (the contracts it shares with the other models are in
``test_videomodels_shared.py``)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from viper.core.errors import ConfigError, WorkdirError
from viper.videomodels.artransformer import ARTransformer, Config
from viper.videomodels.testing import GRID, VOCAB, moving_dot, scores_since_resets, stream_scores

TINY = dict(layers=3, heads=2, width=32, mlp_width=64, seq_len=4)


def tiny(frame_skip: int = 1, tasks: tuple[str, ...] = ("a", "b"), **extra) -> ARTransformer:
    return ARTransformer(Config(**TINY, frame_skip=frame_skip, **extra)).initialize(VOCAB, GRID, tasks, seed=3)


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


def test_config_defaults_are_the_paper_model():
    config = Config()
    assert (config.layers, config.heads, config.width, config.mlp_width) == (8, 8, 256, 1024)
    assert config.seq_len == 16 and config.context == 15 and sum(config.spans) == 15
    assert config.ema_decay == 0.9999 and config.dropout > 0


def test_config_rejects_bad_spans():
    with pytest.raises(ConfigError, match="frame_spans"):
        Config(**TINY, frame_spans=(1, 1))
    with pytest.raises(ConfigError, match="add up to seq_len - 1 = 3"):
        Config(**TINY, frame_spans=(1, 1, 2))
    assert Config(**TINY, frame_spans=(3, 0, 0)).spans == (3, 0, 0)
    assert Config(**TINY).spans == (1, 1, 1)


def test_stream_equals_log_prob_across_resets_with_frame_skip():
    model = tiny(frame_skip=2)
    codes = random_codes(3, 23, seed=2)
    tasks = np.array([0, 1, 1])
    is_first = np.zeros(codes.shape[:2], bool)
    is_first[:, 0] = True
    is_first[1, 9] = True  # one env starts a new episode mid-way, the others continue
    is_first[2, 16] = True
    got = stream_scores(model, codes, tasks, is_first)
    np.testing.assert_allclose(got, scores_since_resets(model, codes, tasks, is_first), rtol=1e-5, atol=1e-4)
    # well past the context on both sides of the resets
    assert codes.shape[1] > 3 * model.context * 2


def test_stream_with_explicit_spans_and_one_task():
    model = tiny(tasks=("only",), frame_spans=(0, 3, 0))
    codes = random_codes(2, 10, seed=5)
    is_first = np.zeros(codes.shape[:2], bool)
    is_first[0, 4] = True
    np.testing.assert_allclose(
        stream_scores(model, codes, np.zeros(2, int), is_first),
        scores_since_resets(model, codes, np.zeros(2, int), is_first),
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


def test_an_artifact_with_other_spans_is_refused(tmp_path):
    tiny().save(tmp_path / "m")
    info = json.loads((tmp_path / "m" / "config.json").read_text())
    info["config"]["frame_spans"] = [3, 0, 0]  # same shapes for span-free params, another network
    (tmp_path / "m" / "config.json").write_text(json.dumps(info))
    with pytest.raises(WorkdirError):
        ARTransformer.load(tmp_path / "m")


def test_moving_dot_data_is_learnable_shape():
    episodes = moving_dot(3, 7, tasks=2)
    assert episodes[0][0].shape == (7, *GRID) and episodes[1][1] == 1
