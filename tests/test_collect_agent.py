"""`viper-run collect --policy agent:WORKDIR`: a trained agent records episodes like an expert."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from viper.core.collect import collect
from viper.core.errors import ConfigError, WorkdirError
from viper.core.stages.agent import train_stage

SIZE = 16


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny DrQ-v2 trained for a few dozen steps on lite:reach's task reward."""
    workdir = tmp_path_factory.mktemp("agent") / "run"
    options = {"agent": {"preset": "tiny"}, "loop": {"eval_every": 0, "eval_episodes": 1, "log_every": 24}}
    metrics = train_stage(workdir, "lite:reach", "drq", "task", steps=48, options=options, size=SIZE, progress=False)
    assert metrics["env_steps"] >= 48
    return workdir


def _episodes(out: Path) -> list[dict[str, np.ndarray]]:
    files = sorted((out / "reach").glob("*.npz"))
    return [dict(np.load(f, allow_pickle=False)) for f in files]


def test_the_agent_records_deterministic_episodes_in_the_dataset_format(trained: Path, tmp_path: Path) -> None:
    policy = f"agent:{trained}"
    first = collect("lite:reach", 2, tmp_path / "a", policy=policy, seed=3, size=SIZE, progress=False)
    again = collect("lite:reach", 2, tmp_path / "b", policy=policy, seed=3, size=SIZE, progress=False)
    assert len(first) == len(again) == 2 and first.manifest["source"]["policy"] == policy
    a, b = _episodes(tmp_path / "a"), _episodes(tmp_path / "b")
    assert len(a) == len(b) == 2
    for x, y in zip(a, b, strict=True):
        assert x["frames"].dtype == np.uint8 and x["frames"].shape[1:] == (SIZE, SIZE, 3)
        assert len(x["frames"]) == len(x["task_reward"]) == len(x["actions"])
        for key in ("frames", "task_reward", "actions"):
            np.testing.assert_array_equal(x[key], y[key])
    # The agent's own actions (not a scripted expert's or random ones): bounded, not all equal.
    actions = np.concatenate([e["actions"][1:] for e in a])
    assert np.all(np.abs(actions) <= 1) and actions.std() > 0


def test_mismatches_and_missing_agents_fail_before_recording(trained: Path, tmp_path: Path) -> None:
    policy = f"agent:{trained}"
    with pytest.raises(ConfigError, match=r"--env lite:push: the agent in .* was trained on lite:reach"):
        collect("lite:push", 1, tmp_path / "x", policy=policy, size=SIZE, progress=False)
    with pytest.raises(ConfigError, match=r"--size 64: the agent in .* was trained on 16x16 frames; use --size 16"):
        collect("lite:reach", 1, tmp_path / "x", policy=policy, progress=False)
    with pytest.raises(ConfigError, match="no such workdir"):
        collect("lite:reach", 1, tmp_path / "x", policy=f"agent:{tmp_path / 'nowhere'}", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(WorkdirError, match="no finished agent stage; run `viper-run train"):
        collect("lite:reach", 1, tmp_path / "x", policy=f"agent:{tmp_path / 'empty'}", progress=False)
    assert not (tmp_path / "x").exists()


def test_the_collect_command_takes_an_agent_policy(trained: Path, tmp_path: Path, capsys) -> None:
    from viper.core import cli

    out = tmp_path / "cli"
    argv = ["collect", "--env", "lite:reach", "--episodes", "1", "--out", str(out), "--size", str(SIZE)]
    assert cli.main([*argv, "--policy", f"agent:{trained}"]) == 0
    assert "wrote 1 episodes" in capsys.readouterr().out and len(_episodes(out)) == 1
    assert cli.main([*argv, "--policy", "agent"]) == 2
    assert "expected 'expert', 'random', 'idle' or 'agent:WORKDIR'" in capsys.readouterr().err
