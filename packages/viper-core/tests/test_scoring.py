"""``viper-run score`` and its statistics, with a numpy reward on the test suite."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest

from viper.core import ComponentSpec, plugins
from viper.core.cli import main
from viper.core.errors import ConfigError
from viper.core.media import reward_strip
from viper.core.stages.score import ScoreConfig, score
from viper.core.statistics import format_table, pearson, rankdata, spearman, summarize
from viper.core.testing.spec_plugin import make_plugin


@pytest.fixture
def score_host(host):
    host.register(
        make_plugin(viper_register_rewards=[ComponentSpec("dotx", "viper.core.testing.dot_suite:DotReward")]),
        name="dotx",
    )
    return host


def test_rankdata_and_spearman_match_known_values():
    np.testing.assert_allclose(rankdata([10, 20, 20, 5]), [2, 3.5, 3.5, 1])
    np.testing.assert_allclose(rankdata([3, 3, 3]), [2, 2, 2])
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # Monotone but not linear: Spearman 1, Pearson below 1.
    assert spearman([1, 2, 3, 4], [1, 10, 100, 1000]) == pytest.approx(1.0)
    assert pearson([1, 2, 3, 4], [1, 10, 100, 1000]) < 0.9
    # With ties (scipy.stats.spearmanr gives 0.7631578947368421 here).
    assert spearman([1, 2, 2, 3, 5], [2, 1, 3, 3, 4]) == pytest.approx(0.7631578947368421)
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_reward_strip_marks_the_current_frame():
    strip = reward_strip(np.array([0.0, 1.0, 2.0, 3.0]), 1, 40, 20, 0.0, 3.0)
    assert strip.shape == (20, 40, 3) and strip.dtype == np.uint8
    assert (strip[:, 15] == 200).all()  # the cursor at frame 1 of 4
    assert (strip[:, :20] == (250, 190, 60)).all(-1).any() and not (strip[:, 20:] == (250, 190, 60)).all(-1).any()


def test_score_writes_table_plot_video_and_json(score_host, tmp_path):
    config = ScoreConfig(env="dots:right", episodes=3, rewards=("dotx",), noise=(0.5,), size=16, videos=1)
    result = score(tmp_path / "wd", config, host=score_host, progress=False)
    summary = json.loads((result.directory / "score.json").read_text())
    assert summary["rewards"] == ["dotx"] and len(summary["episodes"]) == 12
    assert set(summary["policies"]) == {"expert", "noisy-0.5", "random", "idle"}
    expert = summary["policies"]["expert"]
    assert expert["true_return_mean"] > summary["policies"]["random"]["true_return_mean"]
    assert summary["spearman"]["dotx"] > 0.8 and summary["ordered"]["dotx"]
    assert result.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    video = iio.imread(result.video, plugin="pyav")
    assert video.ndim == 4 and len(video) == 4 * 11  # one 11-frame episode per policy
    table = result.table()
    assert "expert" in table and "dotx: Spearman" in table
    # the idle probe is scored but kept out of the correlation
    assert "over 9 episodes" in table and "doing nothing (idle" in table
    assert summary["idle_position"]["dotx"] == pytest.approx(
        (
            summary["policies"]["idle"]["reward_return_mean"]["dotx"]
            - summary["policies"]["random"]["reward_return_mean"]["dotx"]
        )
        / (expert["reward_return_mean"]["dotx"] - summary["policies"]["random"]["reward_return_mean"]["dotx"])
    )
    again = score(tmp_path / "wd", config, host=score_host, progress=False)
    assert again.cached and again.summary["spearman"] == summary["spearman"]


def test_score_command_line(score_host, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(plugins, "_default_host", score_host)
    argv = ["score", "--workdir", str(tmp_path / "wd"), "--env", "dots:right", "--episodes", "2"]
    assert main(argv + ["--reward", "dotx", "--noise", "0.3", "--size", "16", "--videos", "0"]) == 0
    out = capsys.readouterr().out
    assert "noisy-0.3" in out and "Spearman" in out and "score.json" in out and "idle" in out
    assert main(argv + ["--reward", "dotx", "--noise", "0.3", "--size", "16", "--videos", "0", "--no-idle"]) == 0
    assert "idle" not in capsys.readouterr().out
    assert main(argv + ["--reward", "nope"]) == 2
    assert "unknown reward 'nope'" in capsys.readouterr().err
    assert main(argv + ["--reward", "dotx", "--noise", "2"]) == 2
    assert main(argv + ["--reward", "dotx", "--set", "other.x=1"]) == 2


def test_score_config_checks():
    with pytest.raises(ConfigError, match="--episodes 0"):
        ScoreConfig(env="dots:right", episodes=0)
    with pytest.raises(ConfigError, match="each reward once"):
        ScoreConfig(env="dots:right", rewards=("a", "a"))
    summary = {
        "policies": {
            "expert": {
                "episodes": 1,
                "true_return_mean": 1,
                "true_return_std": 0,
                "reward_return_mean": {"r": 2},
                "reward_return_std": {"r": 0},
            }
        },
        "spearman": {"r": None},
        "pearson": {"r": None},
        "ordered": {"r": False},
    }
    assert "undefined" in format_table(summary)


def test_terminating_task_is_judged_per_step_too() -> None:
    """Short failed episodes sum a per-step-negative reward to less than long good ones; the
    summary says so and ranks the per-step means, which order the policies correctly here."""
    from viper.core.statistics import summarize

    def episode(policy: str, true: float, length: int, per_step: float) -> dict:
        return {"policy": policy, "true_return": true, "length": length, "reward_return": {"viper": per_step * length}}

    episodes = [
        *[episode("expert", 200.0 - i, 200, -5.0 - i) for i in range(3)],
        *[episode("noisy-0.3", 60.0 - i, 60, -40.0 - i) for i in range(3)],
        *[episode("random", 10.0 - i, 10, -170.0 - i) for i in range(3)],
    ]
    summary = summarize(episodes, ["viper"], [0.3])
    assert summary["lengths_vary"]
    assert not summary["ordered"]["viper"]  # sums: expert -1000, noisy -2400, random -1700
    assert summary["ordered_per_step"]["viper"]
    assert summary["spearman_per_step"]["viper"] == pytest.approx(1.0)
    text = format_table(summary)
    assert "terminates early" in text and "per-step mean viper reward: Spearman 1.000, ordered: yes" in text
    same_length = summarize([dict(e, length=100) for e in episodes], ["viper"], [0.3])
    assert not same_length["lengths_vary"] and "terminates early" not in format_table(same_length)


def test_the_table_warns_when_doing_nothing_earns_nearly_what_the_expert_does():
    def record(policy: str, true: float, reward: float) -> dict:
        return {"policy": policy, "true_return": true, "reward_return": {"r": reward}, "length": 10}

    records = [record("expert", 10, -10), record("expert", 9, -12), record("random", 0, -50), record("random", 1, -48)]
    still = summarize(records + [record("idle", 0, -14)], ("r",), ())
    assert still["idle_position"]["r"] == pytest.approx((-14 + 49) / (-11 + 49))
    assert still["spearman"] == summarize(records, ("r",), ())["spearman"]  # the probe is not ranked
    assert "may settle for holding still" in format_table(still) and "over 4 episodes" in format_table(still)
    quiet = summarize(records + [record("idle", 0, -45)], ("r",), ())
    assert "doing nothing (idle" in format_table(quiet) and "may settle" not in format_table(quiet)
    assert summarize(records, ("r",), ())["idle_position"] == {}


def test_on_a_terminating_task_doing_nothing_is_placed_by_its_reward_per_step():
    """An idle pole that falls after 2 steps sums little of a negative reward; per step it is
    as bad as random play, and that is where it is placed."""

    def record(policy: str, reward: float, length: int) -> dict:
        return {"policy": policy, "true_return": float(length), "reward_return": {"r": reward}, "length": length}

    records = [record("expert", -10, 10), record("random", -12, 3), record("idle", -8, 2)]
    summary = summarize(records, ("r",), ())
    assert summary["lengths_vary"]
    assert summary["idle_position"]["r"] == pytest.approx((-4 + 4) / (-1 + 4))  # per step: -4, as random
