"""``--set env.FIELD=VALUE`` in the pipeline: validated at resolve time, handed to every stage that
makes envs, and leaving the folders of runs without env options unchanged."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from viper.core.components import parse_env
from viper.core.config import config_hash
from viper.core.dataset import VideoDataset
from viper.core.errors import ConfigError
from viper.core.pipeline import PipelineConfig, resolve
from viper.core.stages import collect_stage
from viper.core.stages.score import ScoreConfig
from viper.core.workdir import Workdir


def viper_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "viper.core.cli", *args], capture_output=True, text=True, timeout=300)


def test_check_refuses_a_bad_env_option_before_any_stage() -> None:
    result = viper_run("--check", "--set", "env.episode_length=0")
    assert result.returncode != 0
    assert "--set env.episode_length=0: expected an integer >= 1" in result.stderr
    result = viper_run("--check", "--set", "env.bogus=1")
    assert result.returncode != 0 and "unknown option 'bogus'" in result.stderr


def test_resolve_accepts_env_options() -> None:
    plan = resolve(PipelineConfig(options={"env": {"episode_length": "12"}}))
    assert plan.config.options["env"] == {"episode_length": "12"}
    with pytest.raises(ConfigError, match="env.episode_length"):
        resolve(PipelineConfig(options={"env": {"episode_length": "-3"}}))


def test_collect_stage_makes_envs_with_the_options(tmp_path) -> None:
    wd = Workdir(tmp_path)
    env = parse_env("lite:reach")
    plain = collect_stage(wd, env, 1, seed=0)
    short = collect_stage(wd, env, 1, seed=0, env_options={"episode_length": "7"})
    assert plain.parent != short.parent
    lengths = [VideoDataset(path).episodes[0].length for path in (plain, short)]
    assert lengths[1] == 8 and lengths[0] > 8  # the reset frame plus 7 steps
    # Without env options the data stage's config, hence its folder, is what it always was.
    expected = config_hash("data", None, {"env": "lite:reach", "episodes": 1, "seed": 0, "policy": "expert"})
    assert plain.parent.name == f"data-{expected}"
    stored = json.loads((short.parent / "stage.json").read_text())["config"]
    assert stored["env_options"] == {"episode_length": "7"}


def test_score_config_without_env_options_hashes_as_before() -> None:
    config = dataclasses.asdict(ScoreConfig(env="lite:reach"))
    assert config.pop("env_options") == {}
    assert "env_options" not in config
