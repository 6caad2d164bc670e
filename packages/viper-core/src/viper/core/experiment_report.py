"""An experiment's results page: tables of mean ± std over seeds, a bar chart, the command."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from viper.core.experiment import METRICS, Experiment, metric


def values(rows: list[dict[str, Any]], name: str) -> np.ndarray:
    """One number per seed (NaN where the report has none), scaled for display."""
    scale, numbers = METRICS[name][1], [metric(r, name) for r in rows]
    return np.array([scale * float(x) if x is not None else math.nan for x in numbers])


def _digits(x: np.ndarray) -> int:
    finite = x[~np.isnan(x)]
    return 3 if len(finite) and np.abs(finite).max() < 10 else 1


def _summary(x: np.ndarray, digits: int | None = None, sign: str = "") -> str:
    """``mean ± std`` of the finite values ("–" if none), at ``digits`` (default: by magnitude);
    ``sign="+"`` writes the mean's sign, for differences."""
    digits, x = _digits(x) if digits is None else digits, x[~np.isnan(x)]
    return f"{x.mean():{sign}.{digits}f} ± {x.std():.{digits}f}" if len(x) else "–"


def paired(rows: list[dict[str, Any]], reference: list[dict[str, Any]], name: str) -> np.ndarray:
    """The cell's value minus the baseline cell's, seed by seed, over the seeds both finished.

    Why paired: cells of one seed share its data and often its fits, so the seed's luck moves
    them together; a difference taken within a seed leaves that luck out, where the two cells'
    own means ± std (over the same seeds) can overlap although every seed orders them alike."""
    base = {r["seed"]: v for r, v in zip(reference, values(reference, name), strict=True)}
    return np.array([v - base[r["seed"]] for r, v in zip(rows, values(rows, name), strict=True) if r["seed"] in base])


def _difference(x: np.ndarray, digits: int) -> str:
    count = int((~np.isnan(x)).sum())
    return f"{_summary(x, digits, '+')} ({count})" if count else "–"


def markdown(
    experiment: Experiment, results: dict[str, list[dict[str, Any]]], regenerate: str, plot: str, expected: int = 0
) -> str:
    lines = [f"# Experiment `{experiment.name}`", ""]
    if experiment.description:
        lines += [experiment.description, ""]
    have = sum(len(rows) for rows in results.values())
    if have < expected:
        lines += [f"**Unfinished: {have} of {expected} cell-seeds done**; the command below runs the rest.", ""]
    lines += [
        f"Grid file `{experiment.path}`; {len(experiment.cells)} cells × seeds {list(experiment.seeds)}; "
        "each number is the mean ± std (population) over seeds of the cell's `report/report.json`.",
        "",
        *(
            [
                f"Δ: the cell minus the baseline `{experiment.baseline}` within each seed, mean ± std over "
                "the seeds both finished (their number in brackets): the seed's luck, which moves every "
                "cell of a seed together, cancels.",
                "",
            ]
            if experiment.baseline
            else []
        ),
        "Regenerate (finished cells are read, not rerun):",
        "",
        f"    {regenerate}",
        "",
    ]
    base = experiment.baseline
    extra = (" Δ vs baseline |", "---:|") if base else ("", "")
    header = [f"| cell | mean ± std | n |{extra[0]} per seed |", f"|---|---:|---:|{extra[1]}---|"]
    for name in experiment.metrics:
        lines += [f"## {METRICS[name][0]} (`{name}`)", "", *header]
        for cell in experiment.cells:
            rows = results[cell.label]
            x = values(rows, name)
            seeds = ", ".join(f"{r['seed']}: {v:.{_digits(x)}f}" for r, v in zip(rows, x, strict=True))
            delta = ""
            if base:
                delta = (
                    " baseline |"
                    if cell.label == base
                    else f" {_difference(paired(rows, results[base], name), _digits(x))} |"
                )
            lines.append(f"| {cell.label} | {_summary(x)} | {int((~np.isnan(x)).sum())} |{delta} {seeds} |")
        lines.append("")
    lines += [f"![{experiment.name}]({plot})", ""]
    return "\n".join(lines)


def bar_chart(experiment: Experiment, results: dict[str, list[dict[str, Any]]]) -> bytes:
    """One panel per metric: a bar per cell at the mean over seeds, the std as its error bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [cell.label for cell in experiment.cells]
    fig, axes = plt.subplots(
        1, len(experiment.metrics), figsize=(1.2 + 0.9 * len(labels) * len(experiment.metrics), 3.6), squeeze=False
    )
    for ax, name in zip(axes[0], experiment.metrics, strict=True):
        stats = [values(results[label], name) for label in labels]
        means = [np.nanmean(x) if (~np.isnan(x)).any() else 0.0 for x in stats]
        stds = [np.nanstd(x) if (~np.isnan(x)).any() else 0.0 for x in stats]
        ax.bar(range(len(labels)), means, yerr=stds, capsize=4, color="tab:blue", alpha=0.8)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=7)
        ax.set_title(METRICS[name][0], fontsize=9)
    fig.suptitle(f"{experiment.name}: mean ± std over seeds {list(experiment.seeds)}", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def write_results(
    experiment: Experiment, results: dict[str, list[dict[str, Any]]], out: Path, regenerate: str, expected: int = 0
) -> Path:
    """Write ``OUT/NAME.md``, ``OUT/NAME.png`` and ``OUT/NAME.json``; returns the markdown's path.
    ``expected``: the grid's cell-seeds, so a page written before all finished says so."""
    out.mkdir(parents=True, exist_ok=True)
    plot = out / f"{experiment.name}.png"
    atomic_write_bytes(plot, bar_chart(experiment, results))
    keep = ("seed", "workdir", "stage_seconds", "stage_folders")
    atomic_write_json(
        out / f"{experiment.name}.json",
        {
            "experiment": experiment.name,
            "file": str(experiment.path),
            "command": regenerate,
            "baseline": experiment.baseline,
            "finished": sum(len(rows) for rows in results.values()),
            "expected": expected or sum(len(rows) for rows in results.values()),
            "cells": {
                cell.label: {
                    "options": cell.options,
                    "seeds": [
                        {
                            **{k: r.get(k) for k in keep},
                            "slug": cell.slug,
                            **{m: metric(r, m) for m in experiment.metrics},
                        }
                        for r in results[cell.label]
                    ],
                }
                for cell in experiment.cells
            },
        },
    )
    page = out / f"{experiment.name}.md"
    atomic_write_text(page, markdown(experiment, results, regenerate, plot.name, expected))
    return page
