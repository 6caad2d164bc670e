"""``viper-run experiment NAME``: run the grid of ``experiments/NAME.toml`` and write its results page.

Each (cell, seed) is an ordinary ``viper-run`` subprocess in ``ROOT/NAME/<cell-slug>/seed<S>``;
a finished one is read, not started, so an interrupted grid resumes and a finished grid only
rewrites ``OUT/NAME.md``. Cell-seeds recorded on the committed page ``OUT/NAME.json`` count as
finished too, so a fresh clone on another machine runs only what is left. See
:mod:`viper.core.experiment` for the file format.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from viper.core.atomic import atomic_write_json
from viper.core.errors import ViperError
from viper.core.experiment import (
    Cell,
    Experiment,
    cell_lock,
    check_cells,
    command,
    estimate_seconds,
    find_experiment,
    finished,
    load_experiment,
    recorded,
    share_stages,
)

NAME = "experiment"
HELP = "run a grid of pipeline runs over options and seeds (experiments/NAME.toml) and tabulate it"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="experiments/NAME.toml, or a path to a .toml file")
    parser.add_argument("--root", type=Path, default=Path("runs/experiments"), help="cells' workdirs go in ROOT/NAME")
    parser.add_argument("--out", type=Path, default=Path("docs/results"), help="where NAME.md, .png, .json go")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="cells to run at once (default 1)")
    parser.add_argument("--dry-run", action="store_true", help="list the cells and their estimated cost, then stop")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        metavar="S",
        help="run only these of the file's seeds (e.g. a first look at seed 0, or one seed per machine on a shared disk)",
    )
    parser.add_argument(
        "--cells",
        metavar="TEXT",
        help="run only the cells whose label contains TEXT (case-insensitive; --dry-run lists the labels)",
    )
    parser.add_argument(
        "--page-only",
        action="store_true",
        help="write NAME.md/.json/.png from the cells finished so far and run nothing",
    )
    parser.add_argument(
        "--no-recorded",
        action="store_true",
        help="run again the cell-seeds that OUT/NAME.json records but whose workdirs are not under ROOT "
        "(default: take their numbers from the page, e.g. a grid begun on another machine)",
    )
    parser.add_argument(
        "--no-share",
        action="store_true",
        help="fit every cell's data, tokenizer and video model itself (default: cells of one seed reuse "
        "finished stages with the same config through links)",
    )


def launch(argv: list[str], log: Path) -> int:
    """Run one cell's ``viper-run`` with its output appended to the cell's ``log.txt``."""
    with log.open("a") as out:
        return subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT).returncode


def run_setup(commands: tuple[tuple[str, ...], ...], log: Path) -> None:
    """Run the experiment's setup commands (e.g. ``collect ... --resume`` of a shared dataset)
    before any cell; each must be idempotent, as it runs again whenever cells are left to run."""
    log.parent.mkdir(parents=True, exist_ok=True)
    for argv in commands:
        print(f"setup: viper-run {shlex.join(argv)}", flush=True)
        code = launch([sys.executable, "-m", "viper.core.cli", *argv], log)
        if code != 0:
            raise ViperError(f"setup command `viper-run {shlex.join(argv)}` failed (exit {code}); see {log}")


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def _selected(experiment: Experiment, seeds: list[int] | None, text: str | None) -> Callable[[Cell, int], bool]:
    """Which (cell, seed) pairs this invocation may run: all, or those ``--seeds``/``--cells`` pick."""
    if seeds:
        unknown = sorted(set(seeds) - set(experiment.seeds))
        if unknown:
            raise ViperError(
                f"--seeds {' '.join(map(str, unknown))}: not among {experiment.path}'s seeds {list(experiment.seeds)}"
            )
    labels = [cell.label for cell in experiment.cells]
    if text is not None and not any(text.lower() in label.lower() for label in labels):
        raise ViperError(
            f"--cells {text!r}: no cell label of {experiment.path} contains it; the labels: {'; '.join(labels)}"
        )
    return lambda cell, seed: (not seeds or seed in seeds) and (text is None or text.lower() in cell.label.lower())


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise ViperError(f"--jobs {args.jobs}: expected an integer >= 1")
    experiment = load_experiment(find_experiment(args.name))
    check_cells(experiment)
    chosen = _selected(experiment, args.seeds, args.cells)
    base = args.root / experiment.name
    tasks: list[tuple[Cell, int, Path, list[str]]] = []
    # Seed-major: every cell of seed 0 first, so its cells reuse each other's finished stages and an
    # interrupted grid has whole seeds to compare (with --jobs N, cells of one seed that start
    # together fit their own copies of what they would have shared).
    for seed in experiment.seeds:
        for cell in experiment.cells:
            workdir = base / cell.slug / f"seed{seed}"
            tasks.append((cell, seed, workdir, command(cell, seed, workdir)))
    done = {(c.label, s): finished(w, argv[1:]) for c, s, w, argv in tasks}
    records = {} if args.no_recorded else recorded(args.out / f"{experiment.name}.json")
    for cell, seed, _, _ in tasks:
        if done[(cell.label, seed)] is None and (cell.slug, seed) in records:
            done[(cell.label, seed)] = records[(cell.slug, seed)]
    taken = sum(1 for report in done.values() if report and report.get("recorded"))
    if taken:
        print(
            f"experiment {experiment.name}: {taken} cell-seeds taken from {args.out / experiment.name}.json "
            "(finished elsewhere; their workdirs are not under --root; --no-recorded runs them again)",
            flush=True,
        )
    total = len(tasks)
    lock = threading.Lock()
    regenerate = f"viper-run experiment {args.name} --root {args.root} --out {args.out}"

    def write_page() -> Path | None:
        """The results page from every finished cell-seed so far (rewritten as the grid goes, so
        an interrupted grid leaves its partial numbers; the page says how many are missing)."""
        from viper.core.experiment_report import write_results

        with lock:
            results: dict[str, list[dict[str, Any]]] = {cell.label: [] for cell in experiment.cells}
            for cell, seed, workdir, argv in tasks:
                if not done[(cell.label, seed)]:  # another process (--seeds, --cells) may have finished it
                    done[(cell.label, seed)] = finished(workdir, argv[1:])
                report = done[(cell.label, seed)]
                if report:
                    results[cell.label].append({"seed": seed, "workdir": str(workdir), **report})
            if not any(results.values()):
                return None
            return write_results(experiment, results, args.out, regenerate, expected=total)

    if args.page_only:
        page = write_page()
        count = sum(1 for report in done.values() if report)
        print(
            f"experiment {experiment.name}: {count}/{total} cells finished; results: {page or 'none yet, no page written'}"
        )
        return 0

    if args.dry_run:
        print(f"experiment {experiment.name}: {len(experiment.cells)} cells x {len(experiment.seeds)} seeds in {base}")
        for argv in experiment.setup:
            print(f"setup: viper-run {shlex.join(argv)}")
        cost = 0.0
        for index, (cell, seed, workdir, argv) in enumerate(tasks, 1):
            if done[(cell.label, seed)] is not None:
                where = " (recorded on the page)" if done[(cell.label, seed)].get("recorded") else ""
                print(f"[{index}/{total}] {cell.label} seed {seed}: finished{where}")
                continue
            if not chosen(cell, seed):
                print(f"[{index}/{total}] {cell.label} seed {seed}: not selected")
                continue
            if workdir.is_dir():
                with cell_lock(workdir) as free:
                    if not free:
                        print(f"[{index}/{total}] {cell.label} seed {seed}: running in another process")
                        continue
            finished_seeds = [n for (label, _), n in done.items() if label == cell.label and n]
            seconds = estimate_seconds(cell, finished_seeds)
            cost += seconds
            print(f"[{index}/{total}] {cell.label} seed {seed}: ~{_clock(seconds)}\n    $ {shlex.join(argv)}")
        print(f"estimated {_clock(cost)} of runs left ({_clock(cost / args.jobs)} with --jobs {args.jobs})")
        return 0

    todo = [task for task in tasks if done[(task[0].label, task[1])] is None and chosen(task[0], task[1])]
    if todo:
        run_setup(experiment.setup, base / "setup.log")
    count = sum(1 for report in done.values() if report is not None)
    left = total - count - len(todo)
    chosen_note = f" ({left} more not selected by --seeds/--cells)" if left else ""
    print(f"experiment {experiment.name}: {count}/{total} cells finished, {len(todo)} to run{chosen_note}", flush=True)
    started, durations, failed = time.time(), [], []

    def one(task: tuple[Cell, int, Path, list[str]]) -> None:
        cell, seed, workdir, argv = task
        index = tasks.index(task) + 1
        workdir.mkdir(parents=True, exist_ok=True)
        with cell_lock(workdir) as mine:
            if not mine:
                print(
                    f"[{index}/{total}] skip {cell.label} seed {seed}: another process is running it ({workdir})",
                    flush=True,
                )
                return
            numbers = finished(workdir, argv[1:])  # finished by another process since this one started
            if numbers is None:
                run_cell(task, index)
            else:
                done[(cell.label, seed)] = numbers

    def run_cell(task: tuple[Cell, int, Path, list[str]], index: int) -> None:
        cell, seed, workdir, argv = task
        print(f"[{index}/{total}] start {cell.label} seed {seed} ({workdir})", flush=True)
        if not args.no_share:
            shared = share_stages(workdir, [w for _, s, w, _ in tasks if s == seed])
            if shared:
                print(
                    f"[{index}/{total}] linked {', '.join(shared)} from other cells of seed {seed} (used where its config matches)",
                    flush=True,
                )
        atomic_write_json(workdir / "cell.json", {"cell": cell.label, "seed": seed, "arguments": argv[1:]})
        began = time.time()
        code = launch(argv, workdir / "log.txt")
        durations.append(time.time() - began)
        numbers = finished(workdir, argv[1:]) if code == 0 else None
        eta = sum(durations) / len(durations) * (len(todo) - len(durations)) / args.jobs
        state = "done" if numbers is not None else f"FAILED (exit {code}; see {workdir / 'log.txt'})"
        print(
            f"[{index}/{total}] {state} {cell.label} seed {seed} in {_clock(durations[-1])}; "
            f"elapsed {_clock(time.time() - started)}, ETA {_clock(eta)}",
            flush=True,
        )
        done[(cell.label, seed)] = numbers if numbers is not None else {}
        if numbers is None:
            failed.append(f"{cell.label} seed {seed}")
        else:
            write_page()

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(one, todo))
    page = write_page()
    if failed:
        print(f"viper-run experiment: {len(failed)} cells failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"results: {page}")
    return 0
