"""The reward diagnostics (viper.core.diagnostics): per-step curves, reward by goal distance,
per-frame bits, foreground PSNR, the agent's kept evaluation episodes and their figures."""

from __future__ import annotations

import functools
import json
import math

import gymnasium as gym
import numpy as np
import pytest

from viper.core import ComponentSpec
from viper.core.collect import run_episode
from viper.core.diagnostic_plots import (
    plot_frame_scores,
    plot_reward_along_episode,
    plot_reward_by_distance,
    write_foreground_figure,
)
from viper.core.diagnostics import (
    FrameScorer,
    episode_diagnostics,
    load_episodes,
    reward_along_episode,
    reward_by_direction,
    reward_by_distance,
    save_episodes,
    tokenizer_foreground,
)
from viper.core.loop import evaluate
from viper.core.stages.score import ScoreConfig, score
from viper.core.statistics import binned_means, bits_per_code, foreground_mask, median_frame, psnr, step_curve
from viper.core.testing.dot_suite import DotEnv, DotExpert
from viper.core.testing.loop_fakes import RecordingAgent
from viper.core.testing.spec_plugin import make_plugin

PNG = b"\x89PNG\r\n\x1a\n"


class GoalDotEnv(DotEnv):
    """DotEnv whose goal is the right edge: every info carries ``goal_distance``."""

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        return obs, {**info, "goal_distance": float(self.size - 1 - self.x)}

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated, truncated, {**info, "goal_distance": float(self.size - 1 - self.x)}


class CountingTokenizer:
    """Codes: each 2x2 cell's mean brightness > 0; decode draws the cell grey or black."""

    vocab_size, code_grid, image_size = 2, (2, 2), (4, 4)

    def encode(self, frames):
        cells = frames.reshape(len(frames), 2, 2, 2, 2, 3).mean(axis=(2, 4, 5))
        return (cells > 0).astype(np.int32)

    def decode(self, codes):
        return np.repeat(np.repeat(codes * 100, 2, 1), 2, 2)[..., None].repeat(3, -1).astype(np.uint8)


class ConstantModel:
    """log p(frame) = -k nats for every frame; ``likelihood`` switchable."""

    vocab_size, code_grid, context, num_tasks = 2, (2, 2), 1, 1

    def __init__(self, nats: float, likelihood: bool = True) -> None:
        self.nats, self.likelihood, self.score_units = nats, likelihood, "cosine"

    def log_prob(self, codes, task=None):
        return np.full(codes.shape[:2], -self.nats, np.float32)

    score = log_prob


def _episode(policy, rewards, distances=None):
    frames = np.zeros((len(rewards), 4, 4, 3), np.uint8)
    out = {"policy": policy, "frames": frames, "task_reward": np.asarray(rewards, np.float32)}
    out["goal_distance"] = None if distances is None else np.asarray(distances, np.float32)
    return out


def test_step_curve_averages_over_the_episodes_still_running():
    curve = step_curve([np.array([1.0, 2.0, 3.0]), np.array([3.0, 4.0])])
    assert curve["mean"] == [2.0, 3.0, 3.0] and curve["count"] == [2, 2, 1]
    assert curve["std"] == pytest.approx([1.0, 1.0, 0.0])
    assert step_curve([]) == {"mean": [], "std": [], "count": []}


def test_binned_means_follow_a_falling_reward():
    x = np.linspace(0.0, 1.0, 200)
    table = binned_means(x, -3.0 * x, bins=10)
    assert len(table["mean"]) == 10 and sum(table["count"]) == 200
    assert np.all(np.diff(table["mean"]) < 0) and np.all(np.diff(table["x"]) > 0)
    assert table["mean"][0] == pytest.approx(-3.0 * np.mean(table["x"][:1]), abs=1e-9)
    # Ties (an expert resting on its goal) merge bins instead of making empty ones.
    tied = binned_means(np.r_[np.zeros(80), np.linspace(0.1, 1, 20)], np.ones(100), bins=10)
    assert sum(tied["count"]) == 100 and len(tied["mean"]) < 10


def test_bits_per_code_and_psnr():
    assert bits_per_code(np.array([-math.log(2) * 8]), 4).tolist() == [2.0]
    a = np.zeros((1, 4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 255  # one wrong pixel of 16
    assert psnr(a, b) == pytest.approx(10 * math.log10(16))
    mask = np.zeros((1, 4, 4), bool)
    mask[0, 0, :2] = True  # the wrong pixel and one right one
    assert psnr(a, b, mask) == pytest.approx(10 * math.log10(2))
    assert math.isnan(psnr(a, b, np.zeros_like(mask))) and psnr(a, a) == math.inf


def test_foreground_is_what_differs_from_the_median_frame():
    frames = np.full((5, 4, 4, 3), 30, np.uint8)
    for i in range(5):
        frames[i, i % 4, 1] = 250  # a moving body on a static background
    background = median_frame(frames)
    assert (background == 30).all()
    masks = foreground_mask(frames, background, threshold=24)
    assert masks.sum() == 5 and masks[2, 2, 1]


def test_tokenizer_foreground_psnr_is_worse_where_the_body_is():
    frames = np.zeros((3, 4, 4, 3), np.uint8)
    frames[:, 0, 0] = 200  # a one-pixel body the 2x2 codes smear into a grey cell
    metrics, recon, masks = tokenizer_foreground(CountingTokenizer(), frames, np.zeros((4, 4, 3), np.uint8))
    assert recon.shape == frames.shape and masks.sum() == 3
    assert metrics["foreground_fraction"] == pytest.approx(1 / 16)
    assert metrics["foreground_psnr"] < metrics["frame_psnr"] < metrics["background_psnr"]


def test_frame_scorer_reports_bits_per_code_or_the_models_score():
    frames = np.zeros((5, 4, 4, 3), np.uint8)
    bits = FrameScorer(CountingTokenizer(), ConstantModel(math.log(2) * 4 * 1.5))(frames)
    assert bits.shape == (4,) and np.allclose(bits, 1.5)  # frames 1..T-1; 4 codes a frame
    scorer = FrameScorer(CountingTokenizer(), ConstantModel(0.25, likelihood=False))
    assert np.allclose(scorer(frames), -0.25) and "cosine" in scorer.quantity
    assert "bits per code" in FrameScorer(CountingTokenizer(), ConstantModel(1.0)).quantity


def test_episode_diagnostics_with_and_without_goal_distance():
    episodes = [_episode("expert", [0, 1, 1], [1.0, 0.5, 0.0]), _episode("random", [0, 0, 0], [1.0, 1.0, 1.0])]
    per_frame = {"r": [np.array([0.0, -1.0, 0.0]), np.array([0.0, -3.0, -3.0])]}
    curves = reward_along_episode(episodes, per_frame)
    assert curves["r"]["expert"]["mean"] == [-1.0, 0.0] and curves["r"]["random"]["mean"] == [-3.0, -3.0]
    table, note = reward_by_distance(episodes, per_frame, bins=2)
    assert note is None and table["r"]["mean"][0] > table["r"]["mean"][-1]
    episodes[1]["goal_distance"] = None
    diag = episode_diagnostics(episodes, per_frame, None, "per-frame bits: skipped, no model")
    assert diag["by_distance"] is None and diag["frame_scores"] is None
    assert any("goal_distance" in n for n in diag["notes"]) and any("no model" in n for n in diag["notes"])


def test_reward_by_direction_separates_steps_toward_the_goal_from_steps_away():
    rng = np.random.default_rng(0)
    distances = np.abs(np.cumsum(rng.normal(0.0, 0.1, 400))) + 0.5  # a random walk: both directions
    moved = np.diff(distances)
    # Reward 1 for a step closer, -1 for a step away: the gap must be 2 in every bin.
    rewards = np.concatenate([[0.0], np.where(moved < 0, 1.0, -1.0)])
    episodes = [_episode("random", np.zeros(400), distances)]
    table = reward_by_direction(episodes, {"signed": [rewards], "blind": [np.full(400, -3.0)]}, bins=4)
    assert table["signed"]["gap"] == pytest.approx(2.0)
    assert all(t == 1.0 for t in table["signed"]["toward"]) and all(a == -1.0 for a in table["signed"]["away"])
    assert table["blind"]["gap"] == pytest.approx(0.0)  # a reward blind to direction
    assert sum(table["signed"]["toward_count"]) + sum(table["signed"]["away_count"]) <= 399
    assert reward_by_direction([_episode("random", [0.0, 0.0])], {"r": [np.zeros(2)]}) is None
    diag = episode_diagnostics(episodes, {"signed": [rewards]}, None, None)
    assert diag["by_direction"]["signed"]["gap"] == pytest.approx(2.0)
    # A reward that tells the way only near the goal: signed when the step starts below the median
    # distance (the farther two of four quantile bins begin there), flat beyond.
    before = np.concatenate([[0.0], distances[:-1]])
    near = np.where(before < np.median(distances[:-1]), rewards, 0.0)
    table = reward_by_direction(episodes, {"near": [near]}, bins=4)["near"]
    assert table["gap_far"] == pytest.approx(0.0) and table["gap"] > 0.5
    assert reward_by_direction(episodes, {"signed": [rewards]}, bins=4)["signed"]["gap_far"] == pytest.approx(2.0)


def test_run_episode_keeps_goal_distance_only_when_the_env_reports_it():
    with_goal = run_episode(GoalDotEnv(16), DotExpert(), seed=0)
    assert with_goal.goal_distance is not None and len(with_goal.goal_distance) == len(with_goal.frames)
    assert np.all(np.diff(with_goal.goal_distance) < 0)  # the expert walks toward the right edge
    assert run_episode(DotEnv(16), DotExpert(), seed=0).goal_distance is None


def test_kept_evaluation_episodes_round_trip(tmp_path):
    agent = RecordingAgent(None, None, gym.spaces.Box(-1, 1, (1,), np.float32), 0)
    out = evaluate(agent, functools.partial(GoalDotEnv, 16), [0, 1, 2], num_envs=2, keep=True)
    assert len(out["episodes"]) == 3 and all(len(e["frames"]) == 11 for e in out["episodes"])
    assert "episodes" not in evaluate(agent, functools.partial(GoalDotEnv, 16), [0], num_envs=1)
    save_episodes(tmp_path / "e.npz", out["episodes"])
    back = load_episodes(tmp_path / "e.npz")
    for a, b in zip(out["episodes"], back):
        np.testing.assert_array_equal(a["frames"], b["frames"])
        np.testing.assert_allclose(a["task_reward"], b["task_reward"])
        np.testing.assert_allclose(a["goal_distance"], b["goal_distance"])
    assert back[0]["policy"] == "agent" and back[0]["task_reward"][0] == 0.0
    plain = evaluate(agent, functools.partial(DotEnv, 16), [0], keep=True)["episodes"]
    save_episodes(tmp_path / "p.npz", plain)
    assert load_episodes(tmp_path / "p.npz")[0]["goal_distance"] is None


def test_diagnostic_figures_are_pngs(tmp_path):
    curve = step_curve([np.array([1.0, 2.0]), np.array([2.0, 3.0])])
    along = plot_reward_along_episode(tmp_path / "a.png", {"r": {"expert": curve, "agent": curve}}, "t")
    table = binned_means(np.linspace(0, 1, 50), np.linspace(0, -1, 50), 5)
    split = {"r": {"x": [0.2, 0.6], "toward": [-1.0, -2.0], "away": [-1.5, -2.5], "gap": 0.5}}
    by_distance = plot_reward_by_distance(tmp_path / "d.png", {"r": table}, "t", split)
    groups = {"expert": np.array([1.0, 1.2]), "random": np.array([3.0, 2.5]), "agent": np.array([1.5])}
    bits = plot_frame_scores(tmp_path / "b.png", groups, "bits per code", "t")
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    grid = write_foreground_figure(tmp_path / "f.png", frames, frames, np.ones((2, 4, 4), bool), scale=2)
    for path in (along, by_distance, bits, grid):
        assert path.read_bytes()[:8] == PNG
    import imageio.v3 as iio

    assert iio.imread(grid).shape == (3 * 4 * 2, 2 * 4 * 2, 3)


def _dots_config(episodes: int) -> ScoreConfig:
    return ScoreConfig(env="dots:right", episodes=episodes, rewards=("dotx",), noise=(0.5,), size=16, videos=0)


def _score_dots(host, workdir, config: ScoreConfig):
    """Score dots:right with the ``dotx`` reward (registered here) into ``workdir``."""
    if "dotx" not in host.names("reward"):
        host.register(
            make_plugin(viper_register_rewards=[ComponentSpec("dotx", "viper.core.testing.dot_suite:DotReward")]),
            name="dotx",
        )
    return score(workdir, config, host=host, progress=False)


def test_score_stores_diagnostics_and_notes_what_is_missing(host, tmp_path):
    config = _dots_config(2)
    result = _score_dots(host, tmp_path / "wd", config)
    stored = json.loads((result.directory / "score.json").read_text())
    diag = stored["diagnostics"]
    assert set(diag["along_episode"]["dotx"]) == {"expert", "noisy-0.5", "random", "idle"}
    assert len(diag["along_episode"]["dotx"]["expert"]["mean"]) == 10
    assert diag["by_distance"] is None and diag["frame_scores"] is None and len(diag["notes"]) == 2
    assert (result.directory / stored["files"]["along_episode"]).read_bytes()[:8] == PNG
    cached = score(tmp_path / "wd", config, host=host, progress=False)
    assert cached.cached and cached.summary["diagnostics"] == diag


def _report_dots(host, scored, workdir, agent_dir, out):
    """The report's diagnostics of a dots:right workdir scored with ``dotx``, written into ``out``."""
    from types import SimpleNamespace

    from viper.core.components import parse_env
    from viper.core.stages.report_diagnostics import report_diagnostics
    from viper.core.testing.dot_suite import DotSuite
    from viper.core.workdir import Workdir

    plan = SimpleNamespace(
        components={"reward": ("dotx", None)},
        suite=DotSuite(),
        env=parse_env("dots:right"),
        host=host,
        config=SimpleNamespace(data=None),
    )
    out.mkdir()
    return report_diagnostics(Workdir(workdir), plan, scored, agent_dir, out)


def test_report_adds_the_agents_kept_episodes_and_notes_what_is_missing(host, tmp_path):

    from viper.core.stages.report import _diagnostic_numbers, _diagnostic_sections

    config = _dots_config(2)
    scored = _score_dots(host, tmp_path / "wd", config)
    agent_dir = tmp_path / "agent"
    agent = RecordingAgent(None, None, gym.spaces.Box(-1, 1, (1,), np.float32), 0)
    save_episodes(agent_dir / "eval_episodes.npz", evaluate(agent, DotEnv, [0, 1], keep=True)["episodes"])
    out = tmp_path / "report"
    diagnostics = _report_dots(host, scored, tmp_path / "wd", agent_dir, out)
    curves = diagnostics["score"]["along_episode"]["dotx"]
    assert len(curves["agent"]["mean"]) == 10 and "expert" in curves
    assert diagnostics["score"]["agent_episodes"]["episodes"] == 2
    assert (out / diagnostics["files"]["along_episode"]).read_bytes()[:8] == PNG
    assert any("tokenizer foreground" in n for n in diagnostics["notes"])  # no data or tokenizer here
    numbers = {"diagnostics": _diagnostic_numbers(diagnostics), "files": diagnostics["files"]}
    titles = [title for title, _, _ in _diagnostic_sections(numbers)]
    assert titles == ["Reward along an episode", "Diagnostics notes"]
    assert scored.summary["diagnostics"]["along_episode"]["dotx"].keys() == {"expert", "noisy-0.5", "random", "idle"}


@pytest.mark.parametrize("true_reward", [False, True])
def test_report_notes_an_agent_the_reward_rates_above_truly_better_policies(host, tmp_path, true_reward):
    """Expert frames with the true reward zeroed stand for an agent that found behaviour the
    reward overrates: it scores like the expert, above the noisy and random policies, while its
    true return is 0. With its true reward kept it is the expert, and nothing is flagged."""

    from viper.core.stages.report import _diagnostic_numbers, _diagnostic_sections

    config = _dots_config(3)
    scored = _score_dots(host, tmp_path / "wd", config)
    episodes = []
    for seed in (0, 1):
        episode = run_episode(DotEnv(16), DotExpert(), seed=seed)
        task_reward = episode.task_reward if true_reward else np.zeros_like(episode.task_reward)
        episodes.append({"frames": episode.frames, "task_reward": task_reward})
    agent_dir = tmp_path / "agent"
    save_episodes(agent_dir / "eval_episodes.npz", episodes)
    out = tmp_path / "report"
    diagnostics = _report_dots(host, scored, tmp_path / "wd", agent_dir, out)
    agent = diagnostics["score"]["agent_episodes"]
    expert = scored.summary["policies"]["expert"]
    assert agent["reward"] == "dotx"
    assert agent["reward_return_mean"] == pytest.approx(expert["reward_return_mean"]["dotx"], rel=0.2)
    flagged = [n for n in diagnostics["notes"] if "rates the trained agent" in n]
    if true_reward:
        assert agent["overrated_against"] == [] and not flagged
    else:
        assert {"noisy-0.5", "random"} <= set(agent["overrated_against"])
        assert len(flagged) == 1 and "noisy-0.5" in flagged[0] and "--explore" in flagged[0]
    numbers = {"diagnostics": _diagnostic_numbers(diagnostics), "files": diagnostics["files"]}
    text = " ".join(" ".join(paragraphs) for _, paragraphs, _ in _diagnostic_sections(numbers))
    assert "dotx return of" in text and ("which truly do better" in text) is not true_reward


def test_the_overrated_check_reuses_a_relabelling_only_under_the_score_stages_options(host, tmp_path):
    from types import SimpleNamespace

    from viper.core.stages.report_diagnostics import _overrated

    scored = _score_dots(host, tmp_path / "wd", _dots_config(2))
    episode = run_episode(DotEnv(16), DotExpert(), seed=0)
    episodes = [{"frames": episode.frames, "task_reward": np.zeros_like(episode.task_reward)}]
    stale = [np.zeros(len(episode.frames), np.float32)]  # what another reward option would give
    context = SimpleNamespace(host=host)
    for options, expected in (({}, 0.0), ({"normalize": "symlog"}, float(episode.frames[1:, 8, :, 0].argmax(1).sum()))):
        agent = {"true_return_mean": 0.0}
        _overrated("dotx", episodes, (options, stale), context, scored.summary, agent, host)
        assert agent["reward_return_mean"] == pytest.approx(expected)  # reused, or relabelled afresh


def test_a_cached_score_keeps_the_reward_options_it_was_scored_with(host, tmp_path):
    """The report rescores the agent with the score stage's options: a cached summary must carry them."""
    config = _dots_config(1)
    first = _score_dots(host, tmp_path / "wd", config)
    again = _score_dots(host, tmp_path / "wd", config)
    assert again.cached and again.summary["options"] == first.summary["options"] == config.options
    assert again.summary["env"] == "dots:right"


def test_a_score_stage_from_before_the_diagnostics_is_scored_again(host, tmp_path):
    config = _dots_config(1)
    first = _score_dots(host, tmp_path / "wd", config)
    path = first.directory / "score.json"
    old = json.loads(path.read_text())
    del old["diagnostics"]
    path.write_text(json.dumps(old))
    again = _score_dots(host, tmp_path / "wd", config)
    assert not again.cached and again.directory == first.directory
    assert "diagnostics" in json.loads(path.read_text())
    assert score(tmp_path / "wd", config, host=host, progress=False).cached


def test_fitting_a_tokenizer_measures_its_foreground_psnr_without_renaming_the_stage(tmp_path):
    from viper.core.dataset import DatasetWriter
    from viper.core.stages import fit_tokenizer
    from viper.core.testing.fake_plugin import fake_host
    from viper.core.workdir import Workdir

    writer = DatasetWriter(tmp_path / "data")
    for seed in range(4):
        frames = np.full((6, 16, 16, 3), 40, np.uint8)
        for t in range(6):
            frames[t, 2 + seed, t : t + 2] = 250  # a 1x2 body the 4x4 grey patches smear
        writer.add("right", frames, key=f"seed-{seed}")
    artifact = fit_tokenizer(tmp_path / "data", tmp_path / "wd", name="fake", host=fake_host(), progress=False)
    info = Workdir(tmp_path / "wd").latest_info("tokenizer")
    metrics = info["metrics"]
    assert 0 < metrics["foreground_fraction"] < 0.05
    assert metrics["foreground_psnr"] < metrics["frame_psnr"]
    assert (artifact.parent / "foreground.png").read_bytes()[:8] == PNG
    assert set(info["config"]) == {"component", "data", "masks", "seed", "val_fraction"}


def test_frame_scores_cover_a_few_episodes_per_policy():
    from viper.core.diagnostics import frame_scores_by_policy

    scorer = FrameScorer(CountingTokenizer(), ConstantModel(math.log(2) * 4))
    episodes = [_episode("expert", [0, 1, 1]) for _ in range(3)] + [_episode("random", [0, 0, 0])]
    values = frame_scores_by_policy(episodes, scorer, per_policy=2)
    assert len(values["expert"]) == 2 * 2 and len(values["random"]) == 2 and values["expert"][0] == 1.0


def test_the_report_says_when_an_agent_lost_what_it_learned_and_whose_fault_it_is():
    from viper.core.stages.report_diagnostics import unlearned

    # drawer-close, seed 1: success at 10k-15k steps, then back below random (expert 2240, random 773).
    curve = [(0, 24.5), (5000, 36.2), (10000, 1815.8), (15000, 1526.8), (20000, 3.0)]
    blameless = {"reward_return_mean": -446.0, "expert_reward_return": -274.0}
    found = unlearned(curve, 2240.0, 773.0, blameless)
    assert (found["best_return"], found["best_step"], found["final_return"]) == (1815.8, 10000, 3.0)
    assert found["reward_prefers_expert"] is True and "no exploit: the learner lost it" in found["note"]
    exploit = unlearned(curve, 2240.0, 773.0, {"reward_return_mean": -250.0, "expert_reward_return": -274.0})
    assert exploit["reward_prefers_expert"] is False and "stillness.py" in exploit["note"]
    unscored = unlearned(curve, 2240.0, 773.0, None)
    assert unscored["reward_prefers_expert"] is None and "it lost what it had learned" in unscored["note"]
    # A dip within a quarter of the expert-to-random span, one evaluation, or no expert: nothing to say.
    assert unlearned([(0, 10.0), (5000, 80.0), (10000, 65.0)], 89.5, 0.0, blameless) is None
    assert unlearned([(10000, 1815.8)], 2240.0, 773.0, blameless) is None
    assert unlearned(curve, None, 773.0, blameless) is None
