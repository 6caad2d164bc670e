"""``--steps 0``: the pipeline stops after the reward's score stage and reports the reward alone,
so grids that compare rewards by Spearman need no agent (``viper-run experiment`` cells too)."""

from __future__ import annotations

import json
from pathlib import Path

from viper.core.pipeline import PipelineConfig, resolve, run_pipeline
from viper.core.testing.fake_plugin import fake_host

FAKES = dict(tokenizer="fake", model="fake", reward="fake", agent="fake")


def test_steps_zero_trains_no_agent_and_reports_the_reward(tmp_path: Path) -> None:
    config = PipelineConfig(env="fake:reach", workdir=str(tmp_path), episodes=2, steps=0, **FAKES)
    assert config.agent_steps == 0 and PipelineConfig().agent_steps == PipelineConfig().sizes["steps"]
    result = run_pipeline(resolve(config, fake_host()))

    assert result["agent"] is None
    assert not list(tmp_path.glob("agent-*")), "no agent stage folder"
    numbers = json.loads((tmp_path / "report" / "report.json").read_text())
    assert numbers["agent_eval_return"] is None and numbers["fraction_of_expert"] is None
    assert numbers["agent_env_steps"] is None
    assert isinstance(numbers["spearman"], float) and "scatter" in numbers["files"]
    assert "learning_curve" not in numbers["files"] and "rollout" not in numbers["files"]
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "No agent was trained (`--steps 0`)" in markdown
    assert "Learning curve" not in markdown and "Trained agent" not in markdown


def test_the_cli_accepts_steps_zero(monkeypatch, capsys) -> None:
    from viper.core import cli, plugins

    monkeypatch.setattr(plugins, "_default_host", fake_host())  # viper-core alone: the fake components
    fakes = ["--env", "fake:reach", "--tokenizer", "fake", "--model", "fake", "--reward", "fake", "--agent", "fake"]
    assert cli.main(["--steps", "0", "--check", *fakes]) == 0
    assert cli.main(["--steps", "-1", "--check", *fakes]) == 2
    assert capsys.readouterr().err.strip() == "viper-run: error: --steps -1: expected an integer >= 0"
