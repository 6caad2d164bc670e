"""viper.core.testing: the fakes keep every contract, and each check names the rule a broken
component breaks."""

from __future__ import annotations

import json
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from viper.core import ConfigError, ContractError
from viper.core.testing import (
    FakeAgent,
    FakeReward,
    FakeSuite,
    FakeTokenizer,
    FakeVideoModel,
    RuleFailure,
    check_agent,
    check_env_suite,
    check_reward,
    check_tokenizer,
    check_video_model,
    fake_host,
    fit_tokenizer,
    fit_video_model,
    preflight_env,
    reward_context,
)
from viper.core.testing.plugin_checks import pick_tasks


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[FakeTokenizer, FakeVideoModel]:
    tmp = tmp_path_factory.mktemp("fit")
    tokenizer = fit_tokenizer(FakeTokenizer(), tmp / "tokenizer")
    return tokenizer, fit_video_model(FakeVideoModel(), tokenizer, tmp / "video_model")


# -- the fakes pass -------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["reach", "steer"])
def test_fake_suite_keeps_the_env_contract(task: str) -> None:
    passed = check_env_suite(FakeSuite(), task)
    assert {"frames-uint8", "task-reward", "seeding", "expert", "image-mask", "driver"} <= set(passed)


def test_fake_tokenizer_and_video_model_keep_their_contracts(trained: Any) -> None:
    tokenizer, model = trained
    assert "save-load" in check_tokenizer(tokenizer)
    assert {"stream-equals-log-prob", "stream-is-first-resets", "save-load"} <= set(check_video_model(model))


def test_fake_reward_and_the_workdir_context(tmp_path) -> None:
    assert "stream-equals-relabel" in check_reward(FakeReward())
    context = reward_context(tmp_path)
    assert context.tasks == ("reach", "steer") and context.image_masks["steer"].dtype == bool
    tokenizer = context.host.load("tokenizer", "fake").load(context.workdir.latest("tokenizer") / "artifact")
    assert tokenizer.image_size == (16, 16)


@pytest.mark.parametrize("task", ["reach", "steer"])
def test_fake_agent_keeps_the_agent_contract(task: str) -> None:
    assert check_agent(FakeAgent, None, task=task)[-2:] == ["save-load", "load-rejects-missing"]


def test_fake_host_resolves_every_kind() -> None:
    host = fake_host()
    assert all(host.names(kind) == ["fake"] for kind in ("env_suite", "tokenizer", "video_model", "reward", "agent"))


# -- broken components are named by rule ---------------------------------------------------------


class _FloatFrames(gym.ObservationWrapper):
    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.observation_space = gym.spaces.Dict({"image": gym.spaces.Box(0, 1, env.observation_space["image"].shape)})

    def observation(self, obs: dict) -> dict:
        return {"image": obs["image"].astype(np.float32) / 255}


class _NoTaskReward(gym.Wrapper):
    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {}


class _Wrapped(FakeSuite):
    def __init__(self, wrapper: type) -> None:
        super().__init__()
        self.wrapper = wrapper

    def make(self, task: str, **kwargs: Any) -> gym.Env:
        return self.wrapper(super().make(task, **kwargs))


def test_float_frames_break_the_observation_rule() -> None:
    with pytest.raises(RuleFailure, match=r"rule 'observation-space' broken: .*Box\(uint8") as info:
        check_env_suite(_Wrapped(_FloatFrames), "reach")
    assert isinstance(info.value, ContractError) and info.value.passed == ["tasks", "unknown-task", "make"]


def test_a_step_info_without_task_reward_is_refused_before_training() -> None:
    with pytest.raises(RuleFailure, match=r"rule 'task-reward' broken: every step info must carry"):
        preflight_env(_Wrapped(_NoTaskReward), "reach")
    assert preflight_env(FakeSuite(), "reach")[-1] == "image-mask"  # a reset info of {} is fine


def test_int64_codes_break_the_tokenizer_boundary(trained: Any) -> None:
    class Int64Codes(FakeTokenizer):
        def encode(self, frames: np.ndarray) -> np.ndarray:
            return super().encode(frames).astype(np.int64)

    tokenizer = Int64Codes()
    tokenizer._set_size(trained[0].image_size)
    with pytest.raises(RuleFailure, match=r"'encode-codes-int32' broken: .*expected int32\[6, 4, 4\], got int64"):
        check_tokenizer(tokenizer)


def test_a_stream_that_ignores_is_first_is_caught(trained: Any, tmp_path) -> None:
    class Forgetful(FakeVideoModel):
        def stream(self, num_envs: int, task: Any = None) -> Any:
            inner = super().stream(num_envs, task)
            step = inner.step
            inner.step = lambda codes, is_first: step(codes, np.zeros_like(is_first) | (inner.last is None))
            return inner

    trained[1].save(tmp_path)
    model = Forgetful.load(tmp_path)
    with pytest.raises(RuleFailure, match=r"'stream-is-first-resets' broken"):
        check_video_model(model)


def test_float64_rewards_break_the_reward_boundary() -> None:
    class Float64(FakeReward):
        def brightness(self, frames: np.ndarray) -> np.ndarray:
            return super().brightness(frames).astype(np.float64)

    with pytest.raises(RuleFailure, match=r"'relabel-float32' broken: .*float32\[2, 8\], got float64"):
        check_reward(Float64())


def test_an_agent_that_forgets_its_checkpoint_is_caught() -> None:
    class Amnesiac(FakeAgent):
        def load(self, directory: Any) -> None:
            pass

    with pytest.raises(RuleFailure, match=r"'save-load' broken: a loaded agent acts differently"):
        check_agent(Amnesiac, FakeAgent.Config(train_start=4, learning_rate=0.5))


def test_task_selection_for_check_plugin() -> None:
    assert pick_tasks(["a", "b", "c"], "2") == ["a", "b"]
    assert pick_tasks(["a", "b", "c"], "all") == ["a", "b", "c"]
    assert pick_tasks(["a", "b", "c"], "c,a") == ["c", "a"]
    with pytest.raises(ConfigError, match=r"--tasks x: unknown task 'x'; tasks: a, b, c"):
        pick_tasks(["a", "b", "c"], "x")


# -- check-plugin ---------------------------------------------------------------------------------


def test_check_plugin_runs_every_kind_of_a_host(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from viper.core import cli
    from viper.core.commands import check_plugin

    monkeypatch.setattr(check_plugin, "get_host", fake_host)
    assert cli.main(["check-plugin", "fake", "--tasks", "steer", "--set", "agent.train_start=4"]) == 0
    out = capsys.readouterr().out
    for kind, subject in [("env_suite", "steer"), ("tokenizer", "fake frames"), ("video_model", "fake tokenizer")]:
        assert any(kind in line and subject in line for line in out.splitlines())
    assert "reward" in out and "fake:steer" in out and " 0 failed, 0 not checked" in out


def test_check_plugin_reports_a_broken_rule_and_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from viper.core import ComponentSpec, cli, hookimpl
    from viper.core.commands import check_plugin

    class Plugin:
        @staticmethod
        @hookimpl
        def viper_register_env_suites() -> list[ComponentSpec]:
            return [ComponentSpec("floaty", "contract_kit_tests:FloatFramesSuite")]

    # pytest's importlib mode names this module after its path ("packages.viper-core.tests..."),
    # which is no valid target: give it an importable alias
    monkeypatch.setitem(sys.modules, "contract_kit_tests", sys.modules[__name__])
    host = fake_host()
    host.register(Plugin, name="floaty", distribution="floaty-dist")
    monkeypatch.setattr(check_plugin, "get_host", lambda: host)
    assert cli.main(["check-plugin", "floaty-dist", "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert rows[-1]["rule"] == "observation-space" and rows[-1]["result"] == "FAILED"
    assert {r["subject"] for r in rows} == {"reach", "steer"}


class FloatFramesSuite(_Wrapped):
    def __init__(self) -> None:
        super().__init__(_FloatFrames)


class NoTaskRewardSuite(_Wrapped):
    def __init__(self) -> None:
        super().__init__(_NoTaskReward)


def test_the_pipeline_checks_what_the_loop_requires_before_any_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    from viper.core import ComponentSpec, hookimpl
    from viper.core.pipeline import PipelineConfig, resolve

    class Plugin:
        @staticmethod
        @hookimpl
        def viper_register_env_suites() -> list[ComponentSpec]:
            return [ComponentSpec("quiet", "contract_kit_tests:NoTaskRewardSuite")]

    monkeypatch.setitem(sys.modules, "contract_kit_tests", sys.modules[__name__])
    host = fake_host()
    host.register(Plugin, name="quiet", distribution="quiet-dist")
    fakes = dict(tokenizer="fake", model="fake", reward="fake", agent="fake")
    assert resolve(PipelineConfig(env="fake:reach", **fakes), host).env.task == "reach"  # a reset info of {} is fine
    with pytest.raises(
        ConfigError, match=r"--env quiet:reach: .*rule 'task-reward' broken: every step info must carry"
    ):
        resolve(PipelineConfig(env="quiet:reach", **fakes), host)
