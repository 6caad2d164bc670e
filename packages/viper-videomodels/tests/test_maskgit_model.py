"""maskgit's contracts: config, the unmasking order, log_prob/stream agreement, errors, files."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from viper.core.config import field_docs
from viper.core.errors import ConfigError, ContractError, DatasetError, WorkdirError
from viper.core.protocols import LikelihoodStream, VideoModel
from viper.core.workdir import Workdir
from viper.videomodels.maskgit import PRESETS, Config, MaskGIT
from viper.videomodels.maskgit.network import reveal_groups
from viper.videomodels.testing import GRID, VOCAB, moving_dot, store, synthetic_host

TINY = dict(layers=2, heads=2, width=32, mlp_width=64, context=3, dropout=0.0, score_steps=4)


def tiny(tasks: tuple[str, ...] = ("a", "b"), **extra) -> MaskGIT:
    return MaskGIT(Config(**{**TINY, **extra})).initialize(VOCAB, GRID, tasks, seed=3)


@pytest.fixture(scope="module")
def model() -> MaskGIT:
    return tiny()


def random_codes(batch: int, frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, (batch, frames, *GRID)).astype(np.int32)


def test_registered_and_documented():
    assert synthetic_host().load("video_model", "maskgit") is MaskGIT
    docs = field_docs(Config)
    missing = [f.name for f in dataclasses.fields(Config) if not docs.get(f.name)]
    assert not missing, f"fields without a docstring: {missing}"
    assert set(PRESETS) >= {"paper", "quick", "tiny"}
    for options in PRESETS.values():
        Config(**options)
    assert Config(**PRESETS["paper"]).architecture() == Config().architecture()
    with pytest.raises(ConfigError, match="width"):
        Config(width=30, heads=4)


def test_reveal_groups_follow_the_cosine_schedule():
    groups = reveal_groups(64, 8)
    sizes = np.bincount(groups)
    assert len(sizes) == 8 and sizes.sum() == 64 and sizes.min() >= 1
    assert list(sizes) == sorted(sizes) and sizes[0] < sizes[-1]  # few first, many last
    assert np.array_equal(reveal_groups(64, 8), groups)  # a fixed order
    np.testing.assert_array_equal(np.sort(reveal_groups(16, 16)), np.arange(16))  # exact chain rule
    assert reveal_groups(4, 8).max() == 3  # never more steps than codes


def test_is_a_video_model_with_window_semantics(model):
    assert isinstance(model, VideoModel) and isinstance(model.stream(2), LikelihoodStream)
    assert model.context == 3 and model.num_tasks == 2
    codes = random_codes(2, 9)
    log_p = model.log_prob(codes, np.array([0, 1]))
    assert log_p.shape == (2, 9) and log_p.dtype == np.float32 and np.all(log_p < 0)
    # Entry t depends on exactly frames t-context..t.
    for t in (0, 2, 3, 8):
        start = max(0, t - model.context)
        window = model.log_prob(codes[:, start : t + 1], np.array([0, 1]))
        np.testing.assert_allclose(window[:, -1], log_p[:, t], rtol=1e-5, atol=1e-4)
    changed = codes.copy()
    changed[:, 3] = (changed[:, 3] + 1) % VOCAB
    after = model.log_prob(changed, np.array([0, 1]))
    np.testing.assert_allclose(after[:, 7:], log_p[:, 7:], rtol=1e-5, atol=1e-4)
    assert not np.allclose(after[:, 4], log_p[:, 4])
    assert not np.allclose(model.log_prob(codes, 0), model.log_prob(codes, 1))


def test_exact_chain_rule_sums_to_one_over_a_tiny_frame():
    """With one code per step the estimate is a proper distribution over frames: on a 1x2 grid
    of 3 codes the 9 frames' probabilities add up to 1."""
    model = MaskGIT(Config(**{**TINY, "score_steps": 2})).initialize(3, (1, 2), 1, seed=1)
    frames = np.array([[[[a, b]]] for a in range(3) for b in range(3)], np.int32)  # [9, 1, 1, 2]
    context = np.zeros((9, 2, 1, 2), np.int32)
    log_p = model.log_prob(np.concatenate([context, frames], axis=1))[:, -1]
    assert np.exp(log_p.astype(np.float64)).sum() == pytest.approx(1.0, abs=1e-4)


def test_stream_equals_log_prob_across_resets(model):
    codes = random_codes(3, 11, seed=1)
    tasks = np.array([0, 1, 1])
    is_first = np.zeros(codes.shape[:2], bool)
    is_first[:, 0] = True
    is_first[1, 5] = True
    stream = model.stream(3, tasks)
    got = np.stack([stream.step(codes[:, t], is_first[:, t]) for t in range(11)], axis=1)
    want = model.log_prob(codes, tasks)
    np.testing.assert_allclose(got[[0, 2]], want[[0, 2]], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got[1, 5:], model.log_prob(codes[1:2, 5:], 1)[0], rtol=1e-5, atol=1e-4)


def test_bad_inputs_name_the_argument(model):
    codes = random_codes(2, 3)
    with pytest.raises(ContractError, match=r"codes: codes must lie in \[0, 16\)"):
        model.log_prob(codes + VOCAB)
    with pytest.raises(ContractError, match="codes: expected a 4x4 code grid"):
        model.log_prob(codes[..., :3])
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
        MaskGIT(Config(**TINY)).log_prob(codes)
    assert model.log_prob(codes[:, :0]).shape == (2, 0)


def test_save_load_round_trip_and_foreign_artifacts(model, tmp_path):
    model.save(tmp_path / "m")
    loaded = MaskGIT.load(tmp_path / "m")
    codes = random_codes(2, 5)
    np.testing.assert_array_equal(loaded.log_prob(codes, 1), model.log_prob(codes, 1))
    assert loaded.tasks == ("a", "b") and loaded.config == model.config
    info = json.loads((tmp_path / "m" / "config.json").read_text())
    info["config"]["width"] = 64
    (tmp_path / "m" / "config.json").write_text(json.dumps(info))
    with pytest.raises(WorkdirError, match="has shape .* but this config expects"):
        MaskGIT.load(tmp_path / "m")
    with pytest.raises(WorkdirError, match="not a maskgit model"):
        MaskGIT.load(tmp_path)
    from viper.videomodels.artransformer import ARTransformer
    from viper.videomodels.artransformer import Config as ARConfig

    ar = ARTransformer(ARConfig(layers=1, heads=2, width=32, mlp_width=64, seq_len=2)).initialize(VOCAB, GRID)
    ar.save(tmp_path / "ar")
    with pytest.raises(WorkdirError, match="maskgit"):
        MaskGIT.load(tmp_path / "ar")


def test_fit_few_steps_checks_data(tmp_path):
    stage = Workdir(tmp_path / "wd").stage("video_model", {"test": 1}, "maskgit")
    stage.start()
    ctx = stage.context(seed=0, progress=False, options={"vocab_size": VOCAB, "code_grid": GRID, "tasks": ("task0",)})
    config = Config(**TINY, steps=2, batch_size=4, log_every=1, eval_batches=1)
    with pytest.raises(DatasetError, match="maskgit: .*shorter than one training clip of 4 frames"):
        MaskGIT(config).fit(store(moving_dot(3, 3)), store([]), ctx)
    model = MaskGIT(config)
    metrics = model.fit(store(moving_dot(4, 6)), store(moving_dot(4, 6, seed=1)), ctx)
    assert np.isfinite(metrics["train_bits_per_code"]) and np.isfinite(metrics["val_bits_per_code"])
    assert sorted(p.name for p in (ctx.directory / "checkpoints").iterdir()) == ["step_00000002"]
    assert model.log_prob(random_codes(1, 4)).shape == (1, 4)
