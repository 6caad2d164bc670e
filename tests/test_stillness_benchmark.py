"""benchmarks/stillness.py's ensemble table: rewards from several models on one scale."""

from __future__ import annotations

import numpy as np
import pytest


def episodes_and_scores() -> tuple[list[dict], dict[str, list[np.ndarray]]]:
    """Expert, random and one agent episode, scored by two models: ``a`` rates the agent above the
    expert (the look-alike), ``b``, on another scale, between random and the expert."""
    policies = ["expert", "random", "agent"]
    episodes = [{"policy": p, "task_reward": np.zeros(5)} for p in policies]
    a = [np.full(5, x) for x in (-1.0, -3.0, -0.5)]
    b = [np.full(5, x) for x in (10.0, 0.0, 2.5)]
    return episodes, {"a": a, "b": b}


def test_each_model_and_the_ensemble_place_the_agent_between_random_and_expert(load_benchmark) -> None:
    bench = load_benchmark("stillness")
    episodes, scores = episodes_and_scores()

    table = bench.cross_positions(episodes, scores)

    assert set(table) == {"a", "b", "mean", "min"}
    for positions in table.values():
        assert positions["random"] == pytest.approx(0.0) and positions["expert"] == pytest.approx(1.0)
    assert table["a"]["agent"] == pytest.approx(1.25) and table["b"]["agent"] == pytest.approx(0.25)
    assert table["mean"]["agent"] == pytest.approx(0.75)
    assert table["min"]["agent"] == pytest.approx(0.25)  # the pessimistic ensemble is fooled only if every model is


def test_an_affine_copy_of_a_model_changes_no_position(load_benchmark) -> None:
    bench = load_benchmark("stillness")
    episodes, scores = episodes_and_scores()

    table = bench.cross_positions(episodes, {"a": scores["a"], "a2": [3 * v + 7 for v in scores["a"]]})

    for name in ("a2", "mean", "min"):
        assert table[name] == pytest.approx(table["a"]), name
