"""Experiment files (parsing, checks, cell expansion) and the runner's skip logic, with the
``viper-run`` subprocess replaced by a fake that writes a finished run's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from viper.core import ComponentSpec, PluginHost, plugins
from viper.core.atomic import atomic_write_json
from viper.core.cli import main
from viper.core.commands import experiment as command_module
from viper.core.errors import ConfigError
from viper.core.experiment import Cell, cell_lock, finished, load_experiment, metric, share_stages
from viper.core.testing.fake_plugin import _TARGETS as FAKES
from viper.core.testing.spec_plugin import make_plugin

#: The names the cells use, resolved to viper-core's fakes: the cells are checked as
#: ``viper-run --check`` checks them without the other packages (this session's venv has none).
STAND_INS = {
    "env_suites": [("lite", "env_suite")],
    "tokenizers": [("vqgan", "tokenizer")],
    "video_models": [("ar-transformer", "video_model")],
    "rewards": [("viper", "reward"), ("task", "reward")],
    "agents": [("drq", "agent")],
}


@pytest.fixture(autouse=True)
def stand_in_host(monkeypatch) -> PluginHost:
    host = PluginHost(entry_points=False)
    hooks = {
        f"viper_register_{kinds}": [ComponentSpec(name, FAKES[kind], f"fake {kind}") for name, kind in names]
        for kinds, names in STAND_INS.items()
    }
    host.register(make_plugin(**hooks), name="stand-ins", distribution="stand-ins", version="1.0")
    monkeypatch.setattr(plugins, "_default_host", host)
    return host


GRID = """
[experiment]
description = "d"
seeds = [0, 1, 2]
metrics = ["fraction_of_expert", "run_seconds"]

[base]
env = "lite:reach"
steps = 200
"loop.eval_episodes" = 1

[grid]
reward = ["viper", "task"]
"video_model.steps" = [20, 40]

[[cells]]
reward = "viper"
random_episodes = 2
"""


def write(tmp_path: Path, text: str, name: str = "grid") -> Path:
    path = tmp_path / "experiments" / f"{name}.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_grid_product_and_extra_cells_merge_over_base(tmp_path: Path) -> None:
    experiment = load_experiment(write(tmp_path, GRID))
    assert experiment.seeds == (0, 1, 2) and experiment.metrics == ("fraction_of_expert", "run_seconds")
    labels = [cell.label for cell in experiment.cells]
    assert labels == [
        "reward=viper video_model.steps=20",
        "reward=viper video_model.steps=40",
        "reward=task video_model.steps=20",
        "reward=task video_model.steps=40",
        "reward=viper random_episodes=2",
    ]
    last = experiment.cells[-1]
    assert last.options == {
        "env": "lite:reach",
        "steps": 200,
        "loop.eval_episodes": 1,
        "reward": "viper",
        "random_episodes": 2,
    }
    assert last.arguments() == [
        "--env", "lite:reach", "--steps", "200", "--set", "loop.eval_episodes=1", "--reward", "viper",
        "--random-episodes", "2",
    ]  # fmt: skip
    assert len({cell.slug for cell in experiment.cells}) == 5


def test_a_named_cell_shows_its_name_and_still_runs_its_options(tmp_path: Path) -> None:
    text = "[base]\nenv = 'lite:reach'\n[[cells]]\nname = 'oracle'\nreward = 'task'\n[[cells]]\nreward = 'viper'\n"
    experiment = load_experiment(write(tmp_path, text))
    assert [cell.label for cell in experiment.cells] == ["oracle", "reward=viper"]
    assert experiment.cells[0].arguments() == ["--env", "lite:reach", "--reward", "task"]


def test_slug_changes_with_any_option_so_old_reports_are_not_reused() -> None:
    a = Cell("reward=task", {"reward": "task", "steps": 200})
    b = Cell("reward=task", {"reward": "task", "steps": 300})
    assert a.slug.startswith("reward=task-") and a.slug != b.slug


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[exp]\n", "unknown table [exp]"),
        ("[experiment]\nseeds = [0, 0]\n", "seeds = [0, 0]: a seed is repeated"),
        ("[experiment]\nseeds = 3\n", "seeds = 3: expected a list"),
        ("[experiment]\nmetrics = ['accuracy']\n", "metrics: unknown 'accuracy'"),
        ("[experiment]\nseed = [1]\n", "[experiment] seed: unknown key"),
        ("[base]\nworkdir = 'x'\n", "[base] workdir: unknown option"),
        ("[base]\n'tokenizer.' = 1\n", "[base] tokenizer.: expected SECTION.FIELD"),
        ("[grid]\nreward = 'task'\n", "[grid] reward: expected a non-empty list"),
        ("[grid]\n'agent.lr' = [[1]]\n", "agent.lr = [1]: expected a string, number or boolean"),
        ("[[cells]]\nreward = 'task'\n[[cells]]\nreward = 'task'\n", "two cells have the same options"),
        ("[experiment\n", "not valid TOML"),
        ("[[cells]]\nname = 3\nreward = 'task'\n", "[[cells]] #1 name = 3: expected a non-empty string"),
        (
            "[experiment]\nbaseline = 'oracle'\n[grid]\nreward = ['task', 'viper']\n",
            "baseline = 'oracle': expected the label of one of its cells: reward=task; reward=viper",
        ),
    ],
)
def test_bad_files_fail_naming_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert str(path) in str(info.value) and message in str(info.value)


def fake_run(workdir: Path, seed: int) -> None:
    """What a finished ``viper-run`` leaves: done stage folders and a report naming them.

    Written atomically as ``viper-run`` writes them: with ``--jobs 2`` the other thread rewrites
    the results page, reading this report, while this run is still writing it.
    """
    for stage in ("tokenizer-aaa", "agent-bbb"):
        (workdir / stage).mkdir(parents=True, exist_ok=True)
        atomic_write_json(workdir / stage / "stage.json", {"status": "done"})
    (workdir / "report").mkdir(exist_ok=True)
    report = {
        "fraction_of_expert": 0.5 + 0.1 * seed,
        "spearman": 0.9,
        "agent_eval_return": 10.0 + seed,
        "run_seconds": 3.0,
        "stage_folders": {"tokenizer": "tokenizer-aaa", "agent": "agent-bbb"},
    }
    atomic_write_json(workdir / "report" / "report.json", report)


TINY = """
[experiment]
seeds = [0, 1, 2]
[base]
steps = 200
[grid]
reward = ["viper", "task"]
"""


def test_runner_runs_each_cell_once_then_only_rewrites_the_page(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, TINY, "tiny")
    launched: list[list[str]] = []

    def launch(argv: list[str], log: Path) -> int:
        launched.append(argv)
        workdir = Path(argv[argv.index("--workdir") + 1])
        fake_run(workdir, int(argv[argv.index("--seed") + 1]))
        return 0

    monkeypatch.setattr(command_module, "launch", launch)
    flags = ["experiment", "tiny", "--root", "runs", "--out", "results", "--jobs", "2"]
    assert main(flags) == 0
    assert len(launched) == 6
    progress = capsys.readouterr().out
    assert "[6/6] start reward=task seed 2" in progress and "ETA" in progress
    page = (tmp_path / "results" / "tiny.md").read_text()
    assert "| reward=viper | 60.0 ± 8.2 | 3 | 0: 50.0, 1: 60.0, 2: 70.0 |" in page
    assert "viper-run experiment tiny --root runs --out results" in page
    assert (tmp_path / "results" / "tiny.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads((tmp_path / "results" / "tiny.json").read_text())
    assert [s["seed"] for s in data["cells"]["reward=task"]["seeds"]] == [0, 1, 2]

    launched.clear()
    assert main(flags) == 0
    assert launched == []  # a finished grid recomputes nothing
    assert "6/6 cells finished, 0 to run" in capsys.readouterr().out

    assert main([*flags, "--dry-run"]) == 0
    assert launched == [] and "[1/6] reward=viper seed 0: finished" in capsys.readouterr().out


def test_a_failed_cell_is_reported_and_rerun_next_time(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, TINY.replace("[0, 1, 2]", "[0]"), "tiny")
    monkeypatch.setattr(command_module, "launch", lambda argv, log: 1)
    assert main(["experiment", "tiny", "--root", "runs", "--out", "results"]) == 1
    assert "2 cells failed" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_finished_needs_the_same_command_and_done_stages(tmp_path: Path) -> None:
    argv = ["--reward", "task"]
    assert finished(tmp_path, argv) is None
    fake_run(tmp_path, 0)
    (tmp_path / "cell.json").write_text(json.dumps({"arguments": argv}))
    assert finished(tmp_path, argv)["spearman"] == 0.9
    assert finished(tmp_path, ["--reward", "viper"]) is None
    (tmp_path / "agent-bbb" / "stage.json").write_text(json.dumps({"status": "running"}))
    assert finished(tmp_path, argv) is None


def test_a_bad_option_fails_before_any_cell_starts(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "[grid]\nreward = ['viper', 'no-such-reward']\n", "bad")
    monkeypatch.setattr(command_module, "launch", lambda argv, log: pytest.fail("a cell started"))
    assert main(["experiment", "bad", "--root", "runs"]) == 2
    err = capsys.readouterr().err
    assert "bad.toml: cell reward=no-such-reward" in err and "no-such-reward" in err


def test_unknown_experiment_lists_the_known_ones(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, TINY, "tiny")
    assert main(["experiment", "nope"]) == 2
    assert "experiments/nope.toml" in capsys.readouterr().err


def _stage(workdir: Path, folder: str, status: str) -> Path:
    (workdir / folder).mkdir(parents=True)
    (workdir / folder / "stage.json").write_text(json.dumps({"status": status}))
    return workdir / folder


def test_cells_of_a_seed_share_finished_model_stages_only(tmp_path: Path) -> None:
    first, second, mine = tmp_path / "a" / "seed0", tmp_path / "b" / "seed0", tmp_path / "c" / "seed0"
    tokenizer = _stage(first, "tokenizer-111", "done")
    _stage(first, "data-222", "done")
    _stage(first, "agent-333", "done")  # an agent is the cell's own work
    _stage(first, "score-444", "done")  # its config names the workdir's paths
    _stage(second, "video_model-555", "running")  # not finished (another --jobs cell)
    _stage(second, "tokenizer-111", "done")  # the same artifact as first's: linked once
    (second / "report").mkdir()

    linked = share_stages(mine, [first, second, mine])
    assert linked == ["data-222", "tokenizer-111"]
    assert (mine / "tokenizer-111").resolve() == tokenizer.resolve()
    assert json.loads((mine / "tokenizer-111" / "stage.json").read_text())["status"] == "done"
    assert not (mine / "video_model-555").exists() and not (mine / "agent-333").exists()
    assert share_stages(mine, [first, second]) == []  # idempotent: nothing left to link


def test_the_runner_links_earlier_cells_stages_unless_told_not_to(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, TINY.replace("[0, 1, 2]", "[0]"), "tiny")

    def launch(argv: list[str], log: Path) -> int:
        workdir = Path(argv[argv.index("--workdir") + 1])
        if not (workdir / "tokenizer-abc").exists():
            _stage(workdir, "tokenizer-abc", "done")
        fake_run(workdir, 0)
        return 0

    monkeypatch.setattr(command_module, "launch", launch)
    assert main(["experiment", "tiny", "--root", "runs", "--out", "results"]) == 0
    cells = sorted((tmp_path / "runs" / "tiny").iterdir())
    links = [c for c in cells if (c / "seed0" / "tokenizer-abc").is_symlink()]
    out = capsys.readouterr().out
    assert len(links) == 1 and "tokenizer-abc from other cells of seed 0" in out

    for cell in cells:
        (cell / "seed0" / "cell.json").unlink()  # rerun every cell
        if (cell / "seed0" / "tokenizer-abc").is_symlink():
            (cell / "seed0" / "tokenizer-abc").unlink()
    assert main(["experiment", "tiny", "--root", "runs", "--out", "results", "--no-share"]) == 0
    assert not any((c / "seed0" / "tokenizer-abc").is_symlink() for c in cells)


def test_a_partly_finished_grid_leaves_a_page_that_says_what_is_missing(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, TINY.replace("[0, 1, 2]", "[0]"), "tiny")

    def launch(argv: list[str], log: Path) -> int:  # the task cell fails, the viper cell finishes
        if "task" in argv:
            return 1
        fake_run(Path(argv[argv.index("--workdir") + 1]), 0)
        return 0

    monkeypatch.setattr(command_module, "launch", launch)
    assert main(["experiment", "tiny", "--root", "runs", "--out", "results"]) == 1
    page = (tmp_path / "results" / "tiny.md").read_text()
    assert "**Unfinished: 1 of 2 cell-seeds done**" in page
    assert "| reward=viper | 50.0 ± 0.0 | 1 | 0: 50.0 |" in page and "| reward=task | – | 0 |  |" in page
    data = json.loads((tmp_path / "results" / "tiny.json").read_text())
    assert (data["finished"], data["expected"]) == (1, 2)


def test_a_baseline_adds_each_cell_s_difference_from_it_seed_by_seed(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, TINY.replace("[experiment]", "[experiment]\nbaseline = 'reward=task'"), "tiny")
    score = {("task", 0): 0.5, ("task", 1): 0.9, ("viper", 0): 0.6, ("viper", 1): 0.95}

    def launch(argv: list[str], log: Path) -> int:  # seed 2 of the task cell fails
        reward, seed = argv[argv.index("--reward") + 1], int(argv[argv.index("--seed") + 1])
        if (reward, seed) not in score and reward == "task":
            return 1
        workdir = Path(argv[argv.index("--workdir") + 1])
        fake_run(workdir, seed)
        report = json.loads((workdir / "report" / "report.json").read_text())
        report["fraction_of_expert"] = score.get((reward, seed), 0.2)
        atomic_write_json(workdir / "report" / "report.json", report)
        return 0

    monkeypatch.setattr(command_module, "launch", launch)
    assert main(["experiment", "tiny", "--root", "runs", "--out", "results"]) == 1
    page = (tmp_path / "results" / "tiny.md").read_text()
    assert "| cell | mean ± std | n | Δ vs baseline | per seed |" in page
    assert "| reward=task | 70.0 ± 20.0 | 2 | baseline | 0: 50.0, 1: 90.0 |" in page
    # seeds 0 and 1 only (the baseline has no seed 2): +10 and +5, although the means differ by 15
    assert "| reward=viper | 58.3 ± 30.6 | 3 | +7.5 ± 2.5 (2) | 0: 60.0, 1: 95.0, 2: 20.0 |" in page
    assert json.loads((tmp_path / "results" / "tiny.json").read_text())["baseline"] == "reward=task"


def test_setup_commands_run_before_the_cells_and_a_failing_one_stops_the_grid(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    setup = 'setup = ["collect --env lite:push --episodes 3 --out data/two --resume"]\n'
    write(tmp_path, TINY.replace("[0, 1, 2]", "[0]").replace("[experiment]\n", "[experiment]\n" + setup), "tiny")
    launched: list[list[str]] = []

    def launch(argv: list[str], log: Path) -> int:
        launched.append(argv[3:])  # past `python -m viper.core.cli`
        if "--workdir" in argv:
            fake_run(Path(argv[argv.index("--workdir") + 1]), 0)
        return 0

    monkeypatch.setattr(command_module, "launch", launch)
    assert main(["experiment", "tiny", "--root", "runs", "--out", "results", "--dry-run"]) == 0
    assert launched == [] and "setup: viper-run collect --env lite:push" in capsys.readouterr().out
    assert main(["experiment", "tiny", "--root", "runs", "--out", "results"]) == 0
    assert launched[0] == ["collect", "--env", "lite:push", "--episodes", "3", "--out", "data/two", "--resume"]
    assert len(launched) == 3  # setup, then the two cells
    launched.clear()
    assert main(["experiment", "tiny", "--root", "runs", "--out", "results"]) == 0
    assert launched == []  # nothing left to run: no setup either

    for cell in (tmp_path / "runs" / "tiny").glob("*/seed0/cell.json"):
        cell.unlink()
    monkeypatch.setattr(command_module, "launch", lambda argv, log: 1)
    assert main(["experiment", "tiny", "--root", "runs", "--out", "results", "--no-recorded"]) == 2
    assert "setup command `viper-run collect --env lite:push" in capsys.readouterr().err


def test_setup_must_be_a_list_of_commands(tmp_path: Path) -> None:
    path = write(tmp_path, '[experiment]\nsetup = "collect"\n[base]\nsteps = 1\n', "bad")
    with pytest.raises(ConfigError, match=r"bad.toml: \[experiment\] setup = 'collect': expected a list"):
        load_experiment(path)


def test_reward_return_metrics_come_from_the_score_table() -> None:
    report = {
        "spearman": 0.9,
        "score_table": {"expert": {"true_return": 80.0, "reward_return": -2757.0}, "random": {"reward_return": -4e3}},
    }
    assert metric(report, "spearman") == 0.9
    assert metric(report, "expert_reward_return") == -2757.0
    assert metric(report, "random_reward_return") == -4e3
    assert metric({"spearman": 0.5}, "expert_reward_return") is None  # a report without a score table


def test_reward_model_metrics_come_from_the_diagnostics_and_the_video_model() -> None:
    report = {
        "reward": "viper",
        "diagnostics": {"by_direction": {"viper": {"gap": 7.5, "gap_far": 2.1}, "task": {"gap": 0.4}}},
        "video_model_metrics": {"train_bits_per_code": 0.3, "val_bits_per_code": 1.2},
    }
    assert metric(report, "direction_gap") == 7.5  # the run's own reward, not the task reward
    assert metric(report, "direction_gap_far") == 2.1
    assert metric(report, "val_bits_per_code") == 1.2
    # An env without goal_distance stores by_direction None; a score-only model has no bits.
    assert metric({"reward": "viper", "diagnostics": {"by_direction": None}}, "direction_gap") is None
    assert metric({"video_model_metrics": {}}, "val_bits_per_code") is None
    assert metric({"idle_position": 0.8, "score_table": {"idle": {"reward_return": -4.0}}}, "idle_position") == 0.8
    assert (
        metric({"idle_position": 0.8, "score_table": {"idle": {"reward_return": -4.0}}}, "idle_reward_return") == -4.0
    )
    assert metric({"spearman": 0.9}, "idle_position") is None  # scored before the probe existed


def fake_grid(tmp_path: Path, monkeypatch, text: str) -> list[list[str]]:
    """``experiments/tiny.toml`` holding ``text``, in ``tmp_path`` as the working directory, with a
    launcher that fakes each cell's finished run; returns the list of commands it launches."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, text, "tiny")
    launched: list[list[str]] = []

    def launch(argv: list[str], log: Path) -> int:
        launched.append(argv)
        fake_run(Path(argv[argv.index("--workdir") + 1]), int(argv[argv.index("--seed") + 1]))
        return 0

    monkeypatch.setattr(command_module, "launch", launch)
    return launched


def test_seeds_and_cells_pick_what_this_runner_runs_and_the_page_still_counts_the_grid(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    launched = fake_grid(tmp_path, monkeypatch, TINY)
    flags = ["experiment", "tiny", "--root", "runs", "--out", "results"]
    assert main([*flags, "--seeds", "1", "--cells", "TASK"]) == 0
    assert [(a[a.index("--reward") + 1], a[a.index("--seed") + 1]) for a in launched] == [("task", "1")]
    assert "1 to run (5 more not selected by --seeds/--cells)" in capsys.readouterr().out
    assert "**Unfinished: 1 of 6 cell-seeds done**" in (tmp_path / "results" / "tiny.md").read_text()

    assert main([*flags, "--seeds", "0", "2", "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert "reward=task seed 1: finished" in listing and "reward=viper seed 1: not selected" in listing
    assert "reward=viper seed 2: ~" in listing


@pytest.mark.parametrize(
    ("flags", "messages"),
    [
        (["--seeds", "7"], ("--seeds 7: not among", "seeds [0, 1, 2]")),
        (["--cells", "nothing-like-this"], ("--cells 'nothing-like-this': no cell label", "reward=viper; reward=task")),
    ],
)
def test_a_bad_selection_fails_naming_the_option_before_any_cell_starts(
    tmp_path: Path, monkeypatch, capsys, flags: list[str], messages: tuple[str, ...]
) -> None:
    launched = fake_grid(tmp_path, monkeypatch, TINY)
    assert main(["experiment", "tiny", "--root", "runs", "--out", "results", *flags]) != 0
    err = capsys.readouterr().err
    assert all(message in err for message in messages), err
    assert launched == []


def test_a_cell_another_runner_holds_is_skipped_and_its_result_joins_the_page(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    launched = fake_grid(tmp_path, monkeypatch, TINY.replace("[0, 1, 2]", "[0]"))
    flags = ["experiment", "tiny", "--root", "runs", "--out", "results"]
    experiment = load_experiment(Path("experiments/tiny.toml"))
    held = Path("runs/tiny") / experiment.cells[1].slug / "seed0"  # reward=task, "running" elsewhere
    held.mkdir(parents=True)
    with cell_lock(held) as mine:
        assert mine
        assert main([*flags, "--dry-run"]) == 0
        assert "reward=task seed 0: running in another process" in capsys.readouterr().out
        assert main(flags) == 0
        assert [a[a.index("--reward") + 1] for a in launched] == ["viper"]
        assert "skip reward=task seed 0: another process is running it" in capsys.readouterr().out
        # the other runner finishes its cell; a page-only call gathers both without running anything
        argv = command_module.command(experiment.cells[1], 0, held)
        (held / "cell.json").write_text(json.dumps({"arguments": argv[1:]}))
        fake_run(held, 0)
    launched.clear()
    assert main([*flags, "--page-only"]) == 0
    assert launched == [] and "2/2 cells finished" in capsys.readouterr().out
    page = (tmp_path / "results" / "tiny.md").read_text()
    assert "Unfinished" not in page and "| reward=task | 50.0 ± 0.0 | 1 | 0: 50.0 |" in page


def test_a_fresh_clone_takes_the_committed_page_s_cells_and_runs_only_the_rest(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    launched = fake_grid(tmp_path, monkeypatch, TINY)
    flags = ["experiment", "tiny", "--out", "results"]
    assert main([*flags, "--root", "machine-a", "--seeds", "0", "1"]) == 0
    assert len(launched) == 4
    before = json.loads((tmp_path / "results" / "tiny.json").read_text())

    # another machine: the committed page is here, machine A's workdirs are not
    launched.clear()
    assert main([*flags, "--root", "machine-b", "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert "4 cell-seeds taken from results/tiny.json" in listing
    assert "reward=viper seed 1: finished (recorded on the page)" in listing and "reward=task seed 2: ~" in listing
    assert main([*flags, "--root", "machine-b"]) == 0
    assert sorted(a[a.index("--seed") + 1] for a in launched) == ["2", "2"]
    after = json.loads((tmp_path / "results" / "tiny.json").read_text())
    assert after["finished"] == 6 and "Unfinished" not in (tmp_path / "results" / "tiny.md").read_text()
    for label, cell in before["cells"].items():  # the recorded rows keep their numbers and provenance
        assert after["cells"][label]["seeds"][:2] == cell["seeds"]
    assert after["cells"]["reward=task"]["seeds"][2]["workdir"].startswith("machine-b")

    launched.clear()
    assert main([*flags, "--root", "machine-c", "--no-recorded", "--seeds", "0"]) == 0
    assert len(launched) == 2  # told to, it runs recorded cells again


def test_records_of_cells_whose_options_changed_are_not_taken(tmp_path: Path, monkeypatch, capsys) -> None:
    launched = fake_grid(tmp_path, monkeypatch, TINY.replace("[0, 1, 2]", "[0]"))
    flags = ["experiment", "tiny", "--out", "results"]
    assert main([*flags, "--root", "a"]) == 0
    write(tmp_path, TINY.replace("[0, 1, 2]", "[0]").replace("steps = 200", "steps = 300"), "tiny")
    launched.clear()
    assert main([*flags, "--root", "b"]) == 0
    assert len(launched) == 2 and "taken from" not in capsys.readouterr().out


def test_a_row_naming_the_slug_of_a_redeclared_cell_is_taken(tmp_path: Path, monkeypatch, capsys) -> None:
    """A cell re-declared with the same effective options (a preset default that changed, pinned
    in [base]) keeps its records once the page's rows name its new slug."""
    launched = fake_grid(tmp_path, monkeypatch, TINY.replace("[0, 1, 2]", "[0]"))
    flags = ["experiment", "tiny", "--out", "results"]
    assert main([*flags, "--root", "a"]) == 0
    before = {cell.slug for cell in load_experiment(tmp_path / "experiments" / "tiny.toml").cells}
    pinned = write(
        tmp_path, TINY.replace("[0, 1, 2]", "[0]").replace("steps = 200", "steps = 200\nepisodes = 60"), "tiny"
    )
    page = tmp_path / "results" / "tiny.json"
    data = json.loads(page.read_text())
    assert {row["slug"] for cell in data["cells"].values() for row in cell["seeds"]} == before
    for cell in load_experiment(pinned).cells:
        for row in data["cells"][cell.label]["seeds"]:
            row["slug"] = cell.slug
    page.write_text(json.dumps(data))
    launched.clear()
    assert main([*flags, "--root", "b"]) == 0
    assert launched == [] and "2 cell-seeds taken from results/tiny.json" in capsys.readouterr().out
    assert json.loads(page.read_text())["cells"]["reward=viper"]["seeds"][0]["workdir"].startswith("a")


@pytest.mark.parametrize(
    ("text", "message"),
    [("{not json", "not a readable results page"), ('{"cells": 3}', "expected a results page with a 'cells' table")],
)
def test_a_broken_page_fails_naming_it_before_any_cell_starts(
    tmp_path: Path, monkeypatch, capsys, text: str, message: str
) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "tiny.json").write_text(text)
    launched = fake_grid(tmp_path, monkeypatch, TINY)
    assert main(["experiment", "tiny", "--root", "runs", "--out", "results"]) != 0
    err = capsys.readouterr().err
    assert "results/tiny.json" in err and message in err and "--no-recorded" in err
    assert launched == []
