"""The installed distributions seen through entry points, as a user sees them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from viper.core import PluginHost, UnknownComponentError
from viper.core.protocols import StepBatch

VIPER_RUN = [sys.executable, "-m", "viper.core.cli"]


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*VIPER_RUN, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120
    )


def test_plugins_lists_ours_and_the_third_party_plugin() -> None:
    result = run_cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    by_name = {(c["kind"], c["name"]): c for c in data["components"]}
    assert by_name[("env_suite", "lite")]["distribution"] == "viper-envs"
    assert by_name[("reward", "smooth")]["distribution"] == "viper-hello"
    assert by_name[("reward", "smooth")]["status"] == "ok"
    broken = [f for f in data["failed_plugins"] if f["plugin"] == "broken"]
    assert broken and broken[0]["distribution"] == "viper-broken"
    assert "this_dependency_does_not_exist" in broken[0]["error"]


def test_plugins_table_reports_broken_plugin_by_name() -> None:
    result = run_cli("plugins")
    assert result.returncode == 0
    assert "plugin 'broken' (viper-broken 0.0.1): import error" in result.stdout
    assert "smooth" in result.stdout and "viper-hello" in result.stdout


def test_listing_never_imports_jax_or_torch() -> None:
    code = (
        "import sys, io, contextlib\n"
        "from viper.core import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    cli.main(['plugins'])\n"
        "heavy = [m for m in ('jax', 'torch', 'flax', 'dm_control', 'ale_py') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_disabled_plugin_is_skipped() -> None:
    result = run_cli("plugins", "--json", env={"VIPER_DISABLE_PLUGINS": "hello,broken"})
    data = json.loads(result.stdout)
    assert all(c["name"] != "smooth" for c in data["components"])
    assert data["failed_plugins"] == []
    assert {d["plugin"] for d in data["disabled_plugins"]} == {"hello", "broken"}


def test_third_party_component_resolves_by_name_and_works() -> None:
    host = PluginHost()
    factory = host.load("reward", "smooth")
    reward = factory(factory.Config(scale=2.0))
    frames = np.zeros((1, 3, 4, 4, 3), np.uint8)
    frames[0, 2] = 255
    assert reward.relabel(frames).tolist() == [[0.0, 0.0, -2.0]]
    stream = reward.stream(1)
    out = [
        stream.step(StepBatch(frames[:, t], np.array([t == 0]), np.zeros(1, np.float32), np.zeros(1, np.int32)))
        for t in range(3)
    ]
    assert np.concatenate(out).tolist() == [0.0, 0.0, -2.0]


def test_broken_plugin_does_not_break_others_and_is_named_in_lookups() -> None:
    host = PluginHost()
    assert "lite" in host.names("env_suite")
    record = host.plugins["broken"]
    assert not record.ok and isinstance(record.error, ImportError)
    with pytest.raises(UnknownComponentError, match=r"plugins that failed to load: broken \(viper-broken\)"):
        host.get("reward", "from-the-broken-plugin")


def test_check_plugin_passes_the_third_party_reward() -> None:
    result = run_cli("check-plugin", "viper-hello")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smooth (viper-hello)" in result.stdout and "stream-equals-relabel" in result.stdout
    assert "0 failed" in result.stdout


def test_check_plugin_rejects_float_frames_with_a_clear_line() -> None:
    result = run_cli("check-plugin", "viper-badframes")
    assert result.returncode == 1, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and "badframes (viper-badframes)" in failed[0]
    assert "observation-space" in failed[0] and "must be Box(uint8, (64, 64, 3))" in failed[0]


def test_check_plugin_reports_an_import_failure_and_unknown_names() -> None:
    result = run_cli("check-plugin", "viper-broken")
    assert result.returncode == 1 and "this_dependency_does_not_exist" in result.stdout
    result = run_cli("check-plugin", "no-such-plugin")
    assert result.returncode == 2 and "no installed distribution or component so named" in result.stderr


def test_check_plugin_does_not_count_a_missing_simulator_as_a_pass() -> None:
    result = run_cli("check-plugin", "rlbench", "--json")
    rows = json.loads(result.stdout)
    assert result.returncode == 0 and [r["result"] for r in rows] == ["not checked"]
    assert "CoppeliaSim" in rows[0]["message"]


def test_plugins_name_their_provider_even_when_broken_or_disabled() -> None:
    host = PluginHost()
    assert host.providers[("env_suite", "lite")] == "viper-envs"
    assert host.providers[("env_suite", "badframes")] == "viper-badframes"
    result = run_cli("--env", "lite:reach", "--check", env={"VIPER_DISABLE_PLUGINS": "envs"})
    assert result.returncode == 2 and "viper-envs provides it but is disabled" in result.stderr


def test_run_check_refuses_an_env_the_loop_cannot_drive_before_any_stage() -> None:
    result = run_cli("--env", "badframes:grey", "--check")
    assert result.returncode == 2
    assert "--env badframes:grey: env suite 'badframes', task 'grey': rule 'observation-space' broken" in result.stderr
