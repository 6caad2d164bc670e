"""benchmarks/reward_quality.py: the per-task row and table from a score summary (no training), the masked-frame strip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from viper.core.statistics import summarize


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("reward_quality")


def _summary(success: bool):
    episodes = []
    for policy, true, viper in [
        ("expert", 10.0, -2.0),
        ("expert", 12.0, -1.0),
        ("noisy-0.1", 8.0, -3.0),
        ("noisy-0.6", 4.0, -5.0),
        ("random", 0.0, -9.0),
        ("random", 1.0, -8.0),
        ("idle", 0.0, -1.5),  # the score stage's probe, rated like the expert: in no correlation
    ]:
        record = {"policy": policy, "seed": 0, "length": 5, "true_return": true, "reward_return": {"viper": viper}}
        if success:
            record["success"] = policy == "expert"
        episodes.append(record)
    return summarize(episodes, ["viper"], (0.1, 0.6))


def test_groups_average_the_noise_levels(bench):
    groups = bench.group_means(_summary(success=True)["policies"])
    assert groups["expert"] == {"true_return": 11.0, "viper_return": -1.5, "success_rate": 1.0}
    # Mean of the two levels' means, as viper.core.statistics orders the policies.
    assert groups["noisy"] == {"true_return": 6.0, "viper_return": -4.0, "success_rate": 0.0}
    assert groups["random"]["viper_return"] == -8.5
    assert bench.group_means(_summary(success=False)["policies"])["expert"]["success_rate"] is None


def test_row_and_table(bench):
    stages = {
        "data": {"seconds": 30.0},
        "tokenizer": {"seconds": 200.0, "metrics": {"val_psnr": 31.25, "foreground_psnr": 15.0, "perplexity": 90}},
        "video_model": {"seconds": 100.0, "metrics": {"val_bits_per_code": 1.5}},
        "score": {"seconds": 70.0},
    }
    row = bench.task_row("metaworld:reach", 0, _summary(success=True), stages)
    assert row["spearman"] == pytest.approx(1.0) and row["ordered"]
    assert row["spearman_without_random"] == pytest.approx(1.0)
    assert row["seconds"] == 400.0 and row["tokenizer_psnr"] == 31.25
    assert row["tokenizer_metrics"] == {"val_psnr": 31.25, "foreground_psnr": 15.0}
    failed = {"task": "dmc:reacher-hard", "seed": 0, "episodes": 120, "error": "RuntimeError: boom"}
    lines = bench.format_table([row, failed]).splitlines()
    # A row without "episodes" was written before the option existed, with the preset's 60.
    assert (
        lines[2]
        == "| metaworld:reach | 60 | 1.00 | 1.00 | yes | 11 / 6 / 0 | -2 / -4 / -8 | 100% / 0% / 0% | 31.2 | 6.7 |"
    )
    assert lines[3].startswith("| dmc:reacher-hard | 120 | failed: RuntimeError: boom")
    # A trained agent as the expert (tasks without a scripted one) is marked.
    agent_row = {**row, "task": "atari:pong", "expert": "agent:runs/pong-expert"}
    assert bench.format_table([agent_row]).splitlines()[2].startswith("| atari:pong | 60 (agent) | 1.00 |")
    # A tagged variant names its fit options in the task column.
    variant = {**agent_row, "tag": "fg100", "fit_options": {"tokenizer": {"foreground_weight": "100"}}}
    assert (
        bench.format_table([variant])
        .splitlines()[2]
        .startswith("| atari:pong (fg100: tokenizer.foreground_weight=100) | 60 (agent) | 1.00 |")
    )


def test_merge_keeps_other_tasks(bench, tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"rows": [{"task": "a", "seed": 0, "x": 1}, {"task": "b", "seed": 0, "x": 1}]}')
    merged = bench.merge(path, [{"task": "b", "seed": 0, "x": 2}])
    assert merged == [{"task": "a", "seed": 0, "x": 1}, {"task": "b", "seed": 0, "x": 2}]
    # Another number of expert videos is another row, not a replacement.
    more = {"task": "a", "seed": 0, "episodes": 120, "x": 3}
    assert bench.merge(path, [more]) == [*json.loads(path.read_text())["rows"], more]
    # So is a tagged variant (other tokenizer or video-model settings); the same tag replaces it.
    variant = {"task": "a", "seed": 0, "tag": "fg100", "x": 4}
    path.write_text(json.dumps({"rows": bench.merge(path, [variant])}))
    assert bench.merge(path, [{**variant, "x": 5}])[-1] == {**variant, "x": 5}
    assert len(bench.merge(path, [{**variant, "x": 5}])) == 3


def test_masked_strip_shows_the_frames_as_recorded_and_as_the_reward_sees_them(bench):
    from viper.envs.atari.masks import score_mask

    rng = np.random.default_rng(0)
    frames = rng.integers(1, 256, (30, 64, 64, 3), dtype=np.uint8)
    mask = score_mask("pong", 64)
    assert mask is not None and not mask.all()
    strip = bench.masked_strip(frames, mask, count=4)
    assert strip.shape == (2 * (64 + 2 + 64), 2 * 4 * 64, 3)
    recorded, masked = strip[::2, ::2][:64], strip[::2, ::2][66:]
    # The first and last frames are the strip's ends; the top row is untouched.
    assert np.array_equal(recorded[:, :64], frames[0]) and np.array_equal(recorded[:, -64:], frames[-1])
    hidden = np.tile(~mask, (1, 4))
    assert (masked[hidden] == 0).all() and np.array_equal(masked[~hidden], recorded[~hidden])
