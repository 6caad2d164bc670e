"""``--backend/--num-workers/--ray-address`` without Ray installed: checked before any work,
kept out of the agent stage's folder name, and the env slices the Ray workers would hold."""

from __future__ import annotations

import sys

import pytest

from viper.core import ComponentSpec, cli, plugins
from viper.core.config import to_dict
from viper.core.errors import ConfigError
from viper.core.loop import LoopConfig
from viper.core.loop.ray_backend import worker_slices
from viper.core.testing.spec_plugin import make_plugin


@pytest.fixture(autouse=True)
def _private_host(host, monkeypatch):
    host.register(
        make_plugin(
            viper_register_agents=[ComponentSpec("recorder", "viper.core.testing.loop_fakes:RecordingAgent", "agent")],
            viper_register_rewards=[ComponentSpec("frames", "viper.core.testing.loop_fakes:FrameReward", "reward")],
        ),
        name="loop-test",
        distribution="loop-test-dist",
        version="1.0",
    )
    monkeypatch.setattr(plugins, "_default_host", host)
    monkeypatch.setenv("VIPER_PROGRESS", "0")


def test_backend_options_leave_the_loop_config_hash_alone() -> None:
    assert to_dict(LoopConfig(backend="local", num_workers=1, ray_address="")) == to_dict(LoopConfig())
    assert "backend" not in to_dict(LoopConfig())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"backend": "ray", "num_envs": 2, "num_workers": 3}, "loop.num_workers=3: expected at most loop.num_envs (2)"),
        ({"backend": "ray", "num_workers": 0}, "loop.num_workers=0: expected an integer >= 1"),
        ({"num_envs": 4, "num_workers": 2}, "loop.num_workers=2: expected 1 unless loop.backend=ray"),
        ({"ray_address": "10.0.0.5:6379"}, "expected empty unless loop.backend=ray"),
        ({"backend": "spark"}, "loop.backend='spark': expected one of"),
    ],
)
def test_bad_backend_options_are_refused(options, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LoopConfig(**options)


def test_workers_hold_contiguous_slices_of_the_envs() -> None:
    assert worker_slices(4, 2) == [slice(0, 2), slice(2, 4)]
    assert worker_slices(5, 3) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert worker_slices(3, 3) == [slice(0, 1), slice(1, 2), slice(2, 3)]
    with pytest.raises(ConfigError, match="--num-workers 5: expected an integer from 1 to loop.num_envs \\(4\\)"):
        worker_slices(4, 5)


def test_train_command_names_the_missing_ray_before_training_and_shares_the_local_folder(
    tmp_path, capsys, monkeypatch
) -> None:
    argv = ["train", "--env", "dots:right", "--agent", "recorder", "--reward", "frames", "--workdir", str(tmp_path),
            "--steps", "20", "--size", "16", "--no-progress", "--set", "loop.eval_every=0", "--set", "loop.num_envs=2", "--set", "loop.parallel=false"]  # fmt: skip
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert cli.main([*argv, "--backend", "local", "--num-workers", "1"]) == 0  # same folder, cached
    assert "agent: cached in" in capsys.readouterr().out
    assert len(list(tmp_path.glob("agent-*"))) == 1
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if Ray were not installed
    assert cli.main([*argv, "--backend", "ray", "--num-workers", "2", "--steps", "40"]) == 2
    err = capsys.readouterr().err
    assert "--backend ray) needs Ray, which is not installed: pip install 'viper-core[ray]'" in err
    assert cli.main([*argv, "--backend", "ray", "--num-workers", "3"]) == 2
    assert "--set loop.num_workers=3: expected at most loop.num_envs (2)" in capsys.readouterr().err
