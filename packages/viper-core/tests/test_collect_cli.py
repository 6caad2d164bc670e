from __future__ import annotations

import json

import numpy as np
import pytest

from viper.core import cli, plugins
from viper.core.collect import collect
from viper.core.dataset import VideoDataset
from viper.core.errors import ConfigError, DatasetError


@pytest.fixture(autouse=True)
def private_host(host, monkeypatch):
    monkeypatch.setattr(plugins, "_default_host", host)
    return host


def test_collect_writes_valid_dataset_and_resumes(tmp_path, host) -> None:
    collect("dots:right", 3, tmp_path / "d", host=host, size=16)
    ds = VideoDataset(tmp_path / "d")
    assert len(ds) == 3 and ds.tasks == ["right"] and ds.image_size == (16, 16)
    first = ds.load(ds.episodes[0])
    assert first["frames"].shape == (11, 16, 16, 3)
    assert first["task_reward"][0] == 0  # no transition led to the first frame
    cols = first["frames"][:, 8, :, 0].argmax(axis=1)
    assert (np.diff(cols) == 1).all()  # the expert moves right every step
    assert ds.manifest["source"]["policy"] == "expert"
    with pytest.raises(DatasetError, match="already holds a dataset"):
        collect("dots:right", 3, tmp_path / "d", host=host, size=16)
    collect("dots:right", 5, tmp_path / "d", host=host, size=16, resume=True)
    ds = VideoDataset(tmp_path / "d")
    assert len(ds) == 5 and [e.key for e in ds.episodes] == [f"seed-{i}" for i in range(5)]


def test_collect_random_policy_is_seeded(tmp_path, host) -> None:
    collect("dots:right", 2, tmp_path / "a", policy="random", host=host, size=16)
    collect("dots:right", 2, tmp_path / "b", policy="random", host=host, size=16)
    a, b = VideoDataset(tmp_path / "a"), VideoDataset(tmp_path / "b")
    assert np.array_equal(a.load(a.episodes[1])["actions"], b.load(b.episodes[1])["actions"])


def test_collect_idle_policy_never_moves(tmp_path, host) -> None:
    import gymnasium as gym

    from viper.core.collect import IdlePolicy

    collect("dots:right", 2, tmp_path / "d", policy="idle", host=host, size=16)
    ds = VideoDataset(tmp_path / "d")
    episode = ds.load(ds.episodes[0])
    assert ds.manifest["source"]["policy"] == "idle"
    assert (episode["actions"] == 0).all()
    assert (episode["frames"] == episode["frames"][:1]).all()  # the dot stays where it started

    class Env:
        action_space = gym.spaces.Box(0.5, 1.0, (2,), np.float32)

    assert IdlePolicy(Env()).act({}).tolist() == [0.5, 0.5]  # zero clipped into the bounds
    Env.action_space = gym.spaces.Discrete(4)
    assert IdlePolicy(Env()).act({}) == 0


def test_collect_bad_input(tmp_path, host) -> None:
    with pytest.raises(ConfigError, match=r"--env 'dots': expected SUITE:TASK"):
        collect("dots", 1, tmp_path / "d", host=host)
    with pytest.raises(ConfigError, match=r"unknown task 'left'; tasks of 'dots': right"):
        collect("dots:left", 1, tmp_path / "d", host=host)
    with pytest.raises(ConfigError, match="--episodes 0"):
        collect("dots:right", 0, tmp_path / "d", host=host)


def test_cli_plugins_table_and_json(capsys) -> None:
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "env_suite" in out and "dots-dist" in out and "ok" in out
    assert cli.main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["components"][0]["name"] == "dots" and data["failed_plugins"] == []


def test_cli_errors_are_one_line(tmp_path, capsys) -> None:
    assert cli.main(["collect", "--env", "dots:left", "--episodes", "1", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("viper-run: error: ") and "\n" not in err
    assert cli.main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_pipeline_check_names_every_missing_component(capsys) -> None:
    code = cli.main(["--env", "dots:right", "--agent", "nobody", "--check"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--tokenizer vqgan: unknown tokenizer 'vqgan'" in err
    assert "--agent nobody: unknown agent 'nobody'" in err


def test_help_documents_every_command(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out
    for option in ("--env", "--tokenizer", "--model", "--reward", "--agent", "--workdir", "--preset", "--set"):
        assert option in out


def test_env_variants_and_labels_share_a_task_and_resume_apart(tmp_path) -> None:
    from viper.core.testing import fake_host

    fakes, out = fake_host(), tmp_path / "d"
    collect("fake:reach", 2, out, host=fakes, size=16)
    # A second "body" of the same task (an env option) and another task filed under "reach".
    collect("fake:reach", 3, out, host=fakes, size=16, resume=True, env_options={"speed": "1.0"})
    collect("fake:steer", 1, out, host=fakes, size=16, resume=True, label="reach")
    collect("fake:reach", 3, out, host=fakes, size=16, resume=True, env_options={"speed": "1.0"})  # done already
    collect("fake:reach", 3, out, host=fakes, size=16, resume=True)  # tops up the plain ones only
    ds = VideoDataset(out)
    assert ds.tasks == ["reach"]
    slower = [f"fake:reach[speed=1.0]/seed-{i}" for i in range(3)]
    assert [e.key for e in ds.episodes] == ["seed-0", "seed-1", *slower, "fake:steer[]/seed-0", "seed-2"]
    slow = ds.load(ds.episodes[2])["frames"]
    fast = ds.load(ds.episodes[0])["frames"]
    assert slow.shape != fast.shape or not np.array_equal(slow, fast)  # same seed, another env variant


def test_collect_checks_env_options_and_label_before_writing(tmp_path, capsys) -> None:
    from viper.core.testing import fake_host

    with pytest.raises(ConfigError, match=r"--set env.speed=0.0: expected a number > 0"):
        collect("fake:reach", 1, tmp_path / "d", host=fake_host(), env_options={"speed": "0"})
    with pytest.raises(DatasetError, match=r"--label 'a b': expected letters"):
        collect("fake:reach", 1, tmp_path / "d", host=fake_host(), label="a b")
    assert not (tmp_path / "d").exists()
    assert 0 != cli.main(
        ["collect", "--env", "fake:reach", "--episodes", "1", "--out", str(tmp_path / "d"), "--set", "agent.lr=1"]
    )
    assert "collect takes env options only" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
