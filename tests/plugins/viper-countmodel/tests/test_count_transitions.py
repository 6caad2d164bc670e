"""Fast tests of ``count-transitions``: the contract kit, proper smoothed probabilities, learnt
dynamics, and the errors a user meets. Runs wherever viper-countmodel is installed."""

from __future__ import annotations

import ast
import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from viper_countmodel.model import COUNTS, HEADER, CountTransitions

from viper.core import ConfigError, ContractError, WorkdirError
from viper.core.config import build_config
from viper.core.dataset import EpisodeStore
from viper.core.testing import FakeTokenizer, FakeVideoModel, check_video_model, fit_tokenizer, fit_video_model

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "viper_countmodel"
#: What a third-party plugin may import of viper: the public API the README presents.
PUBLIC = {"viper.core", "viper.core.atomic", "viper.core.checks", "viper.core.config", "viper.core.protocols"}


class Metrics:
    def __init__(self) -> None:
        self.records: list[tuple[int, dict]] = []

    def log(self, step: int, metrics: dict) -> None:
        self.records.append((step, dict(metrics)))


def context(vocab: int, grid: tuple[int, int], tasks: tuple[str, ...] = ("right", "left")) -> SimpleNamespace:
    return SimpleNamespace(options={"vocab_size": vocab, "code_grid": grid, "tasks": tasks}, metrics=Metrics())


def store(arrays: list[np.ndarray], task_ids: list[int], tasks: tuple[str, ...] = ("right", "left")) -> EpisodeStore:
    return EpisodeStore(arrays, np.asarray(task_ids, np.int32), tasks)


def cycling(phase: int, direction: int, frames: int = 12, width: int = 6) -> np.ndarray:
    """``int32[frames, 1, width]``: each of the first ``width - 1`` positions steps through the codes
    0, 1, 2 (``direction`` +1) or 0, 2, 1 (-1), out of phase with its neighbours; the last
    position always holds code 0."""
    t, p = np.arange(frames)[:, None], np.arange(width - 1)[None]
    codes = np.zeros((frames, 1, width), np.int32)
    codes[:, 0, :-1] = (phase + p + direction * t) % 3
    return codes


def cycle_model(**options) -> CountTransitions:
    train = store([cycling(s, +1) for s in range(4)] + [cycling(s, -1) for s in range(4)], [0] * 4 + [1] * 4)
    model = CountTransitions(build_config(CountTransitions.Config, options))
    model.fit(train, store([], []), context(3, (1, 6)))
    return model


def test_the_contract_kit_passes_on_fake_tokenizer_codes(tmp_path: Path) -> None:
    tokenizer = fit_tokenizer(FakeTokenizer(), tmp_path / "tokenizer")
    model = fit_video_model(CountTransitions(), tokenizer, tmp_path / "model")
    assert "stream-equals-log-prob" in check_video_model(model, name="count-transitions")


@pytest.mark.parametrize(
    "options", [{}, {"smoothing": "additive", "strength": 0.1}, {"backoff_weight": 0.0}, {"backoff_weight": 1.0}]
)
def test_every_frame_has_positive_probability_and_they_sum_to_one(options: dict) -> None:
    rng = np.random.default_rng(0)
    vocab, grid = 4, (1, 2)
    train = store([rng.integers(0, 2, (9, *grid)).astype(np.int32) for _ in range(3)], [0, 0, 1])
    model = CountTransitions(build_config(CountTransitions.Config, options))
    model.fit(train, store([], []), context(vocab, grid))
    frames = np.array(list(itertools.product(range(vocab), repeat=2)), np.int32).reshape(-1, 1, 1, 2)
    for task, previous in itertools.product((0, 1), [None, *frames[:, 0]]):
        if previous is None:  # an episode's first frame
            nats = model.log_prob(frames, task)[:, 0]
        else:  # every frame after the same previous one
            pairs = np.concatenate([np.broadcast_to(previous, frames.shape), frames], axis=1)
            nats = model.log_prob(pairs, task)[:, 1]
        assert np.isfinite(nats).all() and (nats < 0).all()
        assert np.exp(nats.astype(np.float64)).sum() == pytest.approx(1.0, abs=1e-5)


def test_it_learns_the_dynamics_of_each_task() -> None:
    model = cycle_model()
    right, left = cycling(1, +1)[None], cycling(1, -1)[None]
    shuffled = right[:, np.random.default_rng(1).permutation(right.shape[1])]
    assert model.log_prob(right, 0).sum() > model.log_prob(shuffled, 0).sum() + 20
    assert model.log_prob(right, 0).sum() > model.log_prob(right, 1).sum() + 20
    assert model.log_prob(left, 1).sum() > model.log_prob(left, 0).sum() + 20


def test_unseen_transitions_back_off_to_other_positions() -> None:
    """The last position never changed in training: there ``0 -> 1`` (seen at the other positions)
    is likelier than ``0 -> 2`` (seen nowhere in task 0) through the position-independent table."""
    model = cycle_model(backoff_weight=1.0)
    frames = np.stack([cycling(0, +1, frames=2)] * 2)
    frames[:, 1, 0, 5] = [1, 2]
    seen_elsewhere, seen_nowhere = model.log_prob(frames, 0)[:, 1]
    assert seen_elsewhere > seen_nowhere + 1


def test_stream_equals_log_prob_across_resets_and_tasks() -> None:
    model = cycle_model()
    episodes = np.stack([cycling(1, +1), cycling(3, -1), cycling(2, +1)])
    tasks = np.array([0, 1, 1])
    expected = model.log_prob(episodes, tasks)
    stream = model.stream(3, tasks)
    got = [stream.step(episodes[:, t], np.full(3, t == 0)) for t in range(6)]
    # env 1 starts its episode again at step 6, the others go on
    got += [
        stream.step(np.stack([episodes[0, t], episodes[1, t - 6], episodes[2, t]]), np.array([0, t == 6, 0], bool))
        for t in range(6, 12)
    ]
    got = np.stack(got, 1)
    np.testing.assert_array_equal(got[[0, 2]], expected[[0, 2]])
    np.testing.assert_array_equal(got[1, 6:], expected[1, :6])
    assert got.dtype == np.float32


def test_save_load_round_trip_and_files(tmp_path: Path) -> None:
    model = cycle_model(smoothing="additive", strength=0.5)
    model.save(tmp_path)
    header = json.loads((tmp_path / HEADER).read_text())
    assert header["format"] == "viper-count-transitions" and header["config"]["smoothing"] == "additive"
    loaded = CountTransitions.load(tmp_path)
    codes = cycling(0, +1)[None]
    np.testing.assert_array_equal(loaded.log_prob(codes), model.log_prob(codes))
    assert loaded.tasks == ("right", "left") and loaded.code_grid == (1, 6)


def test_clear_errors_on_misuse(tmp_path: Path) -> None:
    model = cycle_model()
    codes = cycling(0, +1)[None]
    with pytest.raises(ContractError, match=r"expected a 1x6 code grid"):
        model.log_prob(codes.reshape(1, 12, 2, 3))
    with pytest.raises(ContractError, match=r"codes must lie in \[0, 3\)"):
        model.log_prob(codes + 1)
    with pytest.raises(ContractError, match=r"task ids must lie in \[0, 2\)"):
        model.log_prob(codes, 2)
    with pytest.raises(ContractError, match=r"expected a batch of 2"):
        model.stream(2).step(codes[:, 0], np.ones(1, bool))
    with pytest.raises(ContractError, match="has no counts yet"):
        CountTransitions().log_prob(codes)
    with pytest.raises(ConfigError, match="lack vocab_size, code_grid"):
        CountTransitions().fit(store([codes[0]], [0]), store([], []), SimpleNamespace(options={}, metrics=Metrics()))
    with pytest.raises(ContractError, match=r"train episode 0: expected a 1x6 code grid"):
        CountTransitions().fit(store([codes[0, :, :, :3]], [0]), store([], []), context(3, (1, 6)))
    with pytest.raises(ContractError, match=r"train.task_ids: task ids must lie in \[0, 2\)"):
        CountTransitions().fit(store([codes[0]], [5]), store([], []), context(3, (1, 6)))


def test_options_are_validated_like_every_component() -> None:
    with pytest.raises(ConfigError, match="smoothing: expected one of 'witten-bell', 'additive'"):
        build_config(CountTransitions.Config, {"smoothing": "kneser-ney"})
    with pytest.raises(ConfigError, match=r"--set video_model.strength=0.0: expected a number > 0"):
        build_config(CountTransitions.Config, {"strength": "0"})
    with pytest.raises(ConfigError, match=r"--set video_model.backoff_weight=1.5: expected a number in \[0, 1\]"):
        build_config(CountTransitions.Config, {"backoff_weight": "1.5"})
    assert set(CountTransitions.PRESETS) >= {"quick", "paper"}


def test_artifacts_of_other_models_or_corrupt_counts_are_refused(tmp_path: Path) -> None:
    FakeVideoModel().save(tmp_path / "other")
    with pytest.raises(WorkdirError, match="not a count-transitions video model"):
        CountTransitions.load(tmp_path / "other")
    model = cycle_model()
    model.save(tmp_path / "mine")
    header = json.loads((tmp_path / "mine" / HEADER).read_text())
    (tmp_path / "mine" / HEADER).write_text(json.dumps({**header, "format": "viper-ar-transformer"}))
    with pytest.raises(WorkdirError, match='expected "format": "viper-count-transitions"'):
        CountTransitions.load(tmp_path / "mine")
    (tmp_path / "mine" / HEADER).write_text(json.dumps({**header, "code_grid": [1, 2]}))
    with pytest.raises(WorkdirError, match=r"counts.npz: unreadable or inconsistent counts \(position_unigram: keys"):
        CountTransitions.load(tmp_path / "mine")
    (tmp_path / "mine" / HEADER).write_text(json.dumps(header))
    (tmp_path / "mine" / COUNTS).write_bytes(b"not an npz")
    with pytest.raises(WorkdirError, match="counts.npz: unreadable"):
        CountTransitions.load(tmp_path / "mine")


def test_the_plugin_imports_only_public_viper_api() -> None:
    imported = set()
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    viper = {m for m in imported if m.startswith("viper.")}
    assert viper <= PUBLIC, viper - PUBLIC
    assert not {m.split(".")[0] for m in imported} & {"jax", "torch", "flax"}
