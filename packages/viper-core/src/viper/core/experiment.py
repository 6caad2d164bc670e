"""Experiments: a grid of ordinary ``viper-run`` cells over pipeline options and seeds.

An experiment is declared in ``experiments/NAME.toml``::

    [experiment]
    description = "VIPER reward against the task reward on reach"
    seeds = [0, 1, 2]
    metrics = ["fraction_of_expert", "spearman", "agent_eval_return", "run_seconds"]
    setup = [                   # optional: viper-run commands run before the cells, every time
        "collect --env lite:push --episodes 60 --out runs/data/two --resume",   # (so idempotent)
    ]
    baseline = "reward=task"    # optional: a cell label; tables add each cell's paired difference

    [base]                      # every cell: PipelineConfig fields and SECTION.FIELD options
    env = "lite:reach"
    steps = 20000
    "loop.eval_episodes" = 10

    [grid]                      # the product of these axes makes the cells
    reward = ["viper", "task"]
    "video_model.context" = [4, 8]

    [[cells]]                   # optional extra cells, each overriding base
    name = "viper + rnd"        # optional: the cell's row in the tables (default: its options)
    reward = "viper"
    explore = "rnd"
    beta = 0.5

A key without a dot is a ``viper-run`` flag (``random_episodes`` -> ``--random-episodes``); a
key with one is ``--set SECTION.FIELD=VALUE``. Each (cell, seed) runs in its own workdir
``ROOT/NAME/<cell-slug>/seed<S>``, so it is cached and resumable like any run, and a cell whose
report is written (with the command that made it) is never started again; nor is one whose
numbers the committed results page ``OUT/NAME.json`` already holds (:func:`recorded`), so a
fresh clone on another machine finishes a grid where the last one left off. Before a cell runs,
the finished data, tokenizer and video-model stages of the other cells of its seed are linked
into its workdir (:func:`share_stages`), so a stage with the same config is fitted once per seed
(delete a whole seed's or experiment's folders, not one cell's, or the links dangle).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import re
import shlex
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from viper.core.atomic import read_json
from viper.core.errors import ConfigError

#: Numbers of ``report/report.json`` an experiment can tabulate: key -> (heading, scale).
METRICS: dict[str, tuple[str, float]] = {
    "fraction_of_expert": ("agent % of expert", 100.0),
    "agent_eval_return": ("agent final return", 1.0),
    "agent_eval_success": ("agent success rate %", 100.0),
    # envs with info["goal_distance"]: the share of the starting distance the agent closed
    "agent_eval_goal_progress": ("agent goal progress %", 100.0),
    "spearman": ("reward Spearman vs true return", 1.0),
    "pearson": ("reward Pearson vs true return", 1.0),
    "spearman_per_step": ("per-step reward Spearman", 1.0),
    "expert_return": ("expert return", 1.0),
    "random_return": ("random policy's return", 1.0),
    # The reward's own sums (the score table's), which only compare between cells that share a
    # reward model: e.g. task A's expert episodes under the model conditioned on A vs on B.
    "expert_reward_return": ("expert episodes' summed reward", 1.0),
    "random_reward_return": ("random episodes' summed reward", 1.0),
    # The reward model's own quality, no agent needed: how much more a step toward the goal earns
    # than a step away (score.json's by_direction gap; envs with info["goal_distance"] only) and
    # the video model's bits per code on held-out expert clips (lower: it generalises better).
    "direction_gap": ("reward gap toward vs away from the goal (nats)", 1.0),
    "direction_gap_far": ("that gap in the farther half of the distances (nats)", 1.0),
    "val_bits_per_code": ("video model held-out bits per code", 1.0),
    # Where the score stage's idle probe (the zero action) lands between random play (0) and the
    # expert (1): near 1, an agent can settle for holding still.
    "idle_position": ("doing nothing's reward, random 0 / expert 1", 1.0),
    "run_seconds": ("wall-clock s", 1.0),
}
DEFAULT_METRICS = ("fraction_of_expert", "spearman", "agent_eval_return", "run_seconds")


def metric(report: dict[str, Any], name: str) -> float | None:
    """``name``'s number in a cell's report.json, or in a seed's record on a results page (which
    holds each metric under its own name); None where the run has none."""
    if name in report:
        return report[name]
    if name.endswith("_reward_return"):
        policy = name.removesuffix("_reward_return")
        return report.get("score_table", {}).get(policy, {}).get("reward_return")
    if name in ("direction_gap", "direction_gap_far"):
        by_direction = (report.get("diagnostics") or {}).get("by_direction") or {}
        return (by_direction.get(report.get("reward")) or {}).get(name.replace("direction_", ""))
    if name == "val_bits_per_code":
        return (report.get("video_model_metrics") or {}).get("val_bits_per_code")
    return report.get(name)


#: PipelineConfig fields a cell may set; workdir and seed belong to the runner.
FLAGS = ("env", "tokenizer", "model", "reward", "agent", "explore", "beta", "data", "episodes")
FLAGS += ("random_episodes", "steps", "preset")
TABLES = ("experiment", "base", "grid", "cells")
HEAD_KEYS = ("description", "seeds", "metrics", "setup", "baseline")

#: Rough 2-core CPU seconds per training step, for ``--dry-run`` before any cell has finished
#: (from the quick preset's timing in the README: tokenizer 107 s / 500 steps, video model
#: 136 s / 500, agent 318 s / 20k env steps).
SECONDS_PER_STEP = {"tokenizer": 0.2, "video_model": 0.27, "agent": 0.016}
#: ... plus per expert episode (collect, score) and once per run (imports, report).
SECONDS_PER_EPISODE, SECONDS_PER_RUN = 1.0, 30.0


@dataclasses.dataclass(frozen=True)
class Cell:
    """One option set of the grid (run once per seed)."""

    label: str  # the options that vary, e.g. "reward=task"
    options: dict[str, Any]  # base merged with this cell's keys

    @property
    def slug(self) -> str:
        """Folder name: the varying options, readable, plus a hash of every option (so editing the
        base options makes new folders instead of reusing reports of the old ones)."""
        text = re.sub(r"[^A-Za-z0-9.=_-]+", "_", self.label.replace(" ", "_").replace(":", "-")).strip("_")
        digest = hashlib.sha1(json.dumps(self.options, sort_keys=True).encode()).hexdigest()[:8]
        return f"{text or 'base'}-{digest}"[:120]

    def arguments(self) -> list[str]:
        """``viper-run`` arguments of this cell (without ``--seed`` and ``--workdir``)."""
        out: list[str] = []
        for key, value in self.options.items():
            if "." in key:
                out += ["--set", f"{key}={_text(value)}"]
            elif value is not None:
                out += [f"--{key.replace('_', '-')}", _text(value)]
        return out


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    path: Path
    description: str
    seeds: tuple[int, ...]
    metrics: tuple[str, ...]
    cells: tuple[Cell, ...]
    setup: tuple[tuple[str, ...], ...] = ()  # viper-run commands (argument lists) run before any cell
    baseline: str | None = None  # a cell label: the page adds each cell's difference from it, seed by seed


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def find_experiment(name: str, directory: Path = Path("experiments")) -> Path:
    """``NAME`` -> ``experiments/NAME.toml``; a path to a ``.toml`` file is taken as it is."""
    path = Path(name) if name.endswith(".toml") else directory / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in directory.glob("*.toml")) if directory.is_dir() else []
        raise ConfigError(f"experiment {name!r}: no file {path} (experiments in {directory}: {known or 'none'})")
    return path


def load_experiment(path: Path) -> Experiment:
    """Parse and check an experiment file; every error names the file and the key."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    where = str(path)
    for key in data:
        if key not in TABLES:
            raise ConfigError(f"{where}: unknown table [{key}]; expected {', '.join(TABLES)}")
    head = data.get("experiment", {})
    for key in head:
        if key not in HEAD_KEYS:
            raise ConfigError(f"{where}: [experiment] {key}: unknown key; expected {', '.join(HEAD_KEYS)}")
    seeds = head.get("seeds", [0, 1, 2])
    if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) and s >= 0 for s in seeds)):
        raise ConfigError(f"{where}: [experiment] seeds = {seeds!r}: expected a list of integers >= 0")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where}: [experiment] seeds = {seeds!r}: a seed is repeated")
    metrics = head.get("metrics", list(DEFAULT_METRICS))
    for metric in metrics if isinstance(metrics, list) else [metrics]:
        if metric not in METRICS:
            raise ConfigError(
                f"{where}: [experiment] metrics: unknown {metric!r}; expected some of {', '.join(METRICS)}"
            )
    base = _options(data.get("base", {}), f"{where}: [base]")
    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        raise ConfigError(f"{where}: grid: expected a table [grid]")
    for key, values in grid.items():
        if not (isinstance(values, list) and values):
            raise ConfigError(f"{where}: [grid] {key}: expected a non-empty list of values")
        for value in values:
            _options({key: value}, f"{where}: [grid]")
    cells: list[Cell] = []
    for combo in itertools.product(*grid.values()) if grid else []:
        own = dict(zip(grid, combo, strict=True))
        cells.append(Cell(_label(own), {**base, **own}))
    extra = data.get("cells", [])
    if not isinstance(extra, list):
        raise ConfigError(f"{where}: cells: expected [[cells]] tables")
    for index, own in enumerate(extra):
        here = f"{where}: [[cells]] #{index + 1}"
        own = _options(own, here, extra=("name",))
        name = own.pop("name", None)
        if name is not None and not (isinstance(name, str) and name.strip()):
            raise ConfigError(f"{here} name = {name!r}: expected a non-empty string")
        cells.append(Cell(name.strip() if name else _label(own), {**base, **own}))
    if not cells:
        cells.append(Cell("base", dict(base)))
    slugs = [cell.slug for cell in cells]
    for slug in slugs:
        if slugs.count(slug) > 1:
            raise ConfigError(f"{where}: two cells have the same options ({slug})")
    setup = head.get("setup", [])
    if not (isinstance(setup, list) and all(isinstance(c, str) and c.strip() for c in setup)):
        raise ConfigError(f"{where}: [experiment] setup = {setup!r}: expected a list of viper-run commands (strings)")
    commands = tuple(tuple(shlex.split(c.removeprefix("viper-run").strip())) for c in setup)
    baseline = head.get("baseline")
    labels = [cell.label for cell in cells]
    if baseline is not None and baseline not in labels:
        raise ConfigError(
            f"{where}: [experiment] baseline = {baseline!r}: expected the label of one of its cells: {'; '.join(labels)}"
        )
    return Experiment(
        path.stem,
        path,
        str(head.get("description", "")),
        tuple(seeds),
        tuple(metrics),
        tuple(cells),
        commands,
        baseline,
    )


def _label(options: dict[str, Any]) -> str:
    return " ".join(f"{key}={_text(value)}" for key, value in options.items()) or "base"


def _options(table: Any, where: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """``table`` checked as cell options (a copy); ``extra`` keys pass unchecked (``name``)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of options")
    for key, value in table.items():
        if key in extra:
            continue
        section, dot, field = key.partition(".")
        if not dot and key not in FLAGS:
            raise ConfigError(f"{where} {key}: unknown option; expected one of {', '.join(FLAGS)} or SECTION.FIELD")
        if dot and not (section and field):
            raise ConfigError(f"{where} {key}: expected SECTION.FIELD")
        if not isinstance(value, str | int | float | bool):
            raise ConfigError(f"{where} {key} = {value!r}: expected a string, number or boolean")
    return dict(table)


def check_cells(experiment: Experiment) -> None:
    """Resolve every cell as ``viper-run --check`` would, so a bad option fails before any run."""
    import argparse
    import io

    from viper.core.commands.run import configure
    from viper.core.commands.run import run as run_command

    for cell in experiment.cells:
        parser = argparse.ArgumentParser(prog="viper-run", exit_on_error=False)
        configure(parser)
        try:
            args = parser.parse_args([*cell.arguments(), "--check"])
        except (argparse.ArgumentError, SystemExit) as exc:
            raise ConfigError(f"{experiment.path}: cell {cell.label}: {exc}") from exc
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                run_command(args)
        except ConfigError as exc:
            raise ConfigError(f"{experiment.path}: cell {cell.label}: {exc}") from exc


def command(cell: Cell, seed: int, workdir: Path) -> list[str]:
    """The ``viper-run`` command of one (cell, seed)."""
    return [sys.executable, "-m", "viper.core.cli", *cell.arguments(), "--seed", str(seed), "--workdir", str(workdir)]


def finished(workdir: Path, argv: list[str]) -> dict[str, Any] | None:
    """The report of a run made by ``argv`` whose stages are all done, else None."""
    report, marker = workdir / "report" / "report.json", workdir / "cell.json"
    if not (report.is_file() and marker.is_file()) or read_json(marker).get("arguments") != argv:
        return None
    numbers = read_json(report)
    for folder in numbers.get("stage_folders", {}).values():
        stage = workdir / folder / "stage.json"
        if not stage.is_file() or read_json(stage).get("status") != "done":
            return None
    return numbers


def recorded(page: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """The cell-seeds a results page (``OUT/NAME.json``, as :func:`write_results` writes it) holds,
    keyed by (cell slug, seed).

    The page is committed with the repository while the workdirs stay on the machine that ran
    them, so a later machine reads a cell's numbers here instead of running it again. A record
    counts only for a cell with the same slug, i.e. exactly the same options (the slug hashes them
    all): editing a cell or the base options makes its records stale, and it runs again."""
    if not page.is_file():
        return {}
    hint = "fix or delete it (git checkout restores the committed one), or pass --no-recorded"
    try:
        data = read_json(page)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{page}: not a readable results page ({exc}); {hint}") from exc
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, dict):
        raise ConfigError(f"{page}: expected a results page with a 'cells' table; {hint}")
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for label, cell in cells.items():
        rows = cell.get("seeds") if isinstance(cell, dict) else None
        if not isinstance(rows, list):
            raise ConfigError(f"{page}: cell {label!r}: expected a list of seeds; {hint}")
        for row in rows:
            if not (isinstance(row, dict) and isinstance(row.get("seed"), int) and isinstance(row.get("workdir"), str)):
                raise ConfigError(f"{page}: cell {label!r}: a seed without 'seed' and 'workdir': {row!r}; {hint}")
            # the workdir was ROOT/NAME/<slug>/seed<S> on the machine that ran it; a row may name
            # its cell's slug itself (pages written since 2026-12-04, and rows whose cell was
            # re-declared with the same effective options, e.g. a preset default pinned in [base])
            slug = row.get("slug") or Path(row["workdir"]).parent.name
            out[(slug, row["seed"])] = {**row, "recorded": str(page)}
    return out


@contextlib.contextmanager
def cell_lock(workdir: Path) -> Iterator[bool]:
    """Hold ``workdir/.running`` while this process runs the cell; yields False when another
    process holds it, so two runners of one grid (``--seeds`` per machine on a shared disk, or a
    second ``viper-run experiment`` started by hand) never run one cell twice at once. The OS
    drops the lock when its holder dies, so a killed runner leaves nothing to clean up."""
    try:
        import fcntl
    except ImportError:  # no advisory locks (Windows): one runner per grid, as before
        yield True
        return
    with (workdir / ".running").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        except OSError:  # a filesystem without locks (some network mounts): run unguarded, as before
            yield True
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: Stages whose folder name depends only on their config (not on the workdir's path), so a
#: finished one is the same artifact in every cell of a seed that asks for that config.
SHARED_STAGES = ("data", "random", "tokenizer", "video_model")


def share_stages(workdir: Path, siblings: Iterable[Path]) -> list[str]:
    """Link the finished data, tokenizer and video-model stages of ``siblings`` (other cells'
    workdirs of the same seed) into ``workdir``; returns the linked folder names.

    A stage's folder is named by the hash of its config, so the cell's own run finds a linked one
    exactly when it would have trained the same thing, and skips it as cached: cells that differ
    only downstream (the reward, the agent, the video model) fit their shared stages once. Stages
    still running are not linked (``--jobs``); a cell that needs one trains its own copy."""
    workdir.mkdir(parents=True, exist_ok=True)
    linked: list[str] = []
    for sibling in siblings:
        if not sibling.is_dir() or sibling.resolve() == workdir.resolve():
            continue
        for folder in sorted(sibling.iterdir()):
            stage, _, digest = folder.name.rpartition("-")
            target = workdir / folder.name
            if stage not in SHARED_STAGES or not digest or target.exists() or target.is_symlink():
                continue
            info = folder / "stage.json"
            try:
                if read_json(info).get("status") != "done":
                    continue
            except (OSError, ValueError):
                continue
            target.symlink_to(folder.resolve(), target_is_directory=True)
            linked.append(folder.name)
    return linked


def estimate_seconds(cell: Cell, done: Iterable[dict[str, Any]]) -> float:
    """A cell-seed's cost: the mean wall clock of this cell's finished seeds, else a rough guess
    from the resolved step budgets and :data:`SECONDS_PER_STEP`."""
    seconds = [float(n["run_seconds"]) for n in done if n.get("run_seconds")]
    if seconds:
        return sum(seconds) / len(seconds)
    import argparse

    from viper.core.commands.run import configure
    from viper.core.pipeline import PipelineConfig, resolve

    parser = argparse.ArgumentParser()
    configure(parser)
    args = parser.parse_args(cell.arguments())
    config = PipelineConfig(
        **{f: getattr(args, f) for f in FLAGS},
        options={k: dict(v) for k, v in _sets(args.set).items()},
    )
    plan = resolve(config)
    total = SECONDS_PER_RUN + (config.episodes or config.sizes["episodes"]) * SECONDS_PER_EPISODE
    total += config.agent_steps * SECONDS_PER_STEP["agent"]
    for kind in ("tokenizer", "video_model"):
        total += (getattr(plan.components[kind][1], "steps", 0) or 0) * SECONDS_PER_STEP[kind]
    return total


def _sets(items: list[str]) -> dict[str, dict[str, str]]:
    from viper.core.config import parse_assignments

    return parse_assignments(items)
