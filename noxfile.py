"""Sessions: per-package tests in isolation, integration, slow tests, lint, and the demo.

    nox                      # everything CI runs: lint, tests (each package), integration, slow (~25-55 min on 2 cores)
    nox -s demo              # the main job on the embedded default (lite:reach)
    nox -s "tests(package='viper-core')"

On CPU machines torch is pinned to the local CPU wheel (``torch==2.13.0``) before anything that
depends on torch is installed, so pip never pulls a multi-GB CUDA build; set ``VIPER_TORCH`` to
another requirement (e.g. ``torch==2.5.1``) on a GPU machine.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "tests", "integration", "slow"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False

#: Third-party plugin fixtures (tests/plugins/): a reward, a video model, a plugin that fails to import,
#: one that breaks the env contract (check-plugin must reject it) and an env suite (a two-link arm).
FIXTURES = [
    f"tests/plugins/{name}"
    for name in ("viper-hello", "viper-countmodel", "viper-broken", "viper-badframes", "viper-arm")
]
PACKAGES = ["viper-core", "viper-envs", "viper-tokenizers", "viper-videomodels", "viper-rewards", "viper-agents"]
# What each package's isolated test session installs besides viper-core and the package itself.
EXTRAS = {"viper-envs": "[dmc,atari,metaworld]", "viper-agents": "[test]", "viper-rewards": "[test]"}
# Our own packages a package's tests use beyond its dependencies (the lite suite, the `task` reward).
TEST_PACKAGES = {"viper-agents": ["viper-envs", "viper-rewards"]}
NEEDS_TORCH = {"viper-agents"}
TORCH = os.environ.get("VIPER_TORCH", "torch==2.13.0")
TEST_DEPS = ["pytest>=7", "pytest-timeout", "pytest-xdist"]
# Two workers, one test module each at a time (a module's tests share its fixtures): CI machines
# have 2 cores, and most tests use one (XLA compiles and small steps are single-threaded).
PARALLEL = ["-n", "2", "--dist", "loadfile"]
ENV = {"MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"), "VIPER_PROGRESS": "0", "PYTHONHASHSEED": "0"}


def install_all(session: nox.Session, *more: str) -> None:
    """Torch first (its pin must win), then every package and ``more`` in one resolver run."""
    session.install(TORCH)
    session.install(*TEST_DEPS, *[f"packages/{p}{EXTRAS.get(p, '')}" for p in PACKAGES], *more)


@nox.session
@nox.parametrize("package", PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """One package's fast tests, in a venv holding only viper-core and that package."""
    if package in NEEDS_TORCH:
        session.install(TORCH)
    session.install(*TEST_DEPS)
    targets = ["packages/viper-core"] if package != "viper-core" else []
    targets += [f"packages/{p}" for p in TEST_PACKAGES.get(package, [])]
    session.install(*targets, f"packages/{package}{EXTRAS.get(package, '')}")
    tests = f"packages/{package}/tests"
    session.run("pytest", tests, "-m", "not slow", *PARALLEL, "-q", *session.posargs, env=ENV)


@nox.session
def integration(session: nox.Session) -> None:
    """Every package plus the third-party plugin fixtures; cross-package tests in tests/."""
    install_all(session, *FIXTURES, "packages/viper-core[ray]")  # ray: tests/test_ray_backend.py
    session.run("pytest", "tests", "-m", "not slow", *PARALLEL, "-q", *session.posargs, env=ENV)


@nox.session
def slow(session: nox.Session) -> None:
    """Long tests (training on CPU) of every package and of the main pipeline."""
    # sb3: examples/sb3_sac.py (torch is pinned first); ray: tests/test_ray_backend.py is collected too
    install_all(session, *FIXTURES, "packages/viper-rewards[sb3]", "packages/viper-core[ray]")
    # The main job (~9 min alone, up to ~25 beside the other slow tests on a slow day) is used only
    # in tests/test_main_job.py (tests/conftest.py refuses it elsewhere). pytest-xdist hands out
    # the modules with the most tests first, and that one has the most (7), so it starts at once
    # and the other worker works through the rest meanwhile.
    # (Not --dist loadgroup: pytest-xdist 3.8 cannot set its group suffix on pytest 9.2's node ids.)
    folders = ["tests"] + [f"packages/{p}/tests" for p in PACKAGES]
    # exit status 5: no test selected (no slow test left after -k, say)
    session.run(
        "pytest", *folders, "-m", "slow", *PARALLEL, "-q", "-rs", "--durations=10", *session.posargs,
        env=ENV, success_codes=[0, 5],
    )  # fmt: skip


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check over the whole repository."""
    session.install("ruff==0.17.6")  # pinned: new rules must not turn CI red on their own
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def demo(session: nox.Session) -> None:
    """Install everything and run the main job on the embedded default (lite:reach)."""
    install_all(session)
    session.run("viper-run", *session.posargs, env={"MUJOCO_GL": ENV["MUJOCO_GL"]})
