"""Fixtures shared by the cross-package tests: one run of the main job per session, and the
benchmark scripts loaded as modules."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

VIPER_RUN = [sys.executable, "-m", "viper.core.cli"]
ENV = {**os.environ, "VIPER_PROGRESS": "0"}
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def load_benchmark():
    """``load_benchmark("pixels")``: ``benchmarks/pixels.py`` as a module (the scripts are not a package)."""

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


#: The one module whose tests may use ``main_job``: the slow session hands whole modules to its two
#: workers (``--dist loadfile``), so a second module could build the ~10-25 min main job again.
MAIN_JOB_MODULE = "test_main_job.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    strays = sorted(
        {
            item.nodeid
            for item in items
            if "main_job" in getattr(item, "fixturenames", ()) and item.path.name != MAIN_JOB_MODULE
        }
    )
    if strays:
        raise pytest.UsageError(
            f"{', '.join(strays)}: move it to tests/{MAIN_JOB_MODULE}, the only module that may use main_job"
        )


@pytest.fixture(scope="session")
def main_job(tmp_path_factory) -> tuple[Path, dict, float, str]:
    workdir = tmp_path_factory.mktemp("main") / "run"
    started = time.time()
    result = subprocess.run(
        [*VIPER_RUN, "--workdir", str(workdir)], capture_output=True, text=True, env=ENV, timeout=2700
    )
    seconds = time.time() - started
    print(result.stdout[-3000:], result.stderr[-3000:])
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((workdir / "report" / "report.json").read_text())
    print(f"default pipeline: {seconds:.0f} s; report numbers: {json.dumps(report, default=str)[:3000]}")
    return workdir, report, seconds, result.stdout
