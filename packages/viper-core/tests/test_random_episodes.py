"""Random-policy episodes for the tokenizer: the ``random`` stage records them beside the expert
data, ``fit_tokenizer(extra_data=...)`` trains on them (never validates on them), the pipeline's
``--random-episodes N`` wires the two, and without them every folder keeps its name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from viper.core.components import parse_env
from viper.core.config import config_hash
from viper.core.dataset import DatasetWriter, VideoDataset
from viper.core.errors import DatasetError
from viper.core.stages import collect_stage, fit_tokenizer, random_stage
from viper.core.stages.data import RANDOM_SEED_OFFSET
from viper.core.testing.fake_plugin import fake_host
from viper.core.testing.fake_tokenizer import FakeTokenizer
from viper.core.workdir import Workdir


def _dataset(root: Path, episodes: int, level: int, size: int = 16, task: str = "reach") -> Path:
    """Episodes of ``size``-pixel frames filled with ``level`` (so a frame says which dataset it is from)."""
    writer = DatasetWriter(root)
    for i in range(episodes):
        frames = np.full((5, size, size, 3), level, np.uint8)
        frames[:, i % size, :2] = 255
        writer.add(task, frames, key=f"seed-{i}")
    return root


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """The frame levels of the episodes the fake tokenizer is fitted and validated on."""
    record: dict[str, list[int]] = {}
    fit = FakeTokenizer.fit

    def recording_fit(self, train, val, ctx):  # type: ignore[no-untyped-def]
        record["train"] = [int(np.median(a)) for a in train.arrays]
        record["val"] = [int(np.median(a)) for a in val.arrays]
        record["tasks"] = list(train.tasks)
        return fit(self, train, val, ctx)

    monkeypatch.setattr(FakeTokenizer, "fit", recording_fit)
    return record


def test_a_cached_stage_becomes_the_latest_again(tmp_path) -> None:
    """Re-running an earlier config reuses its folder and makes it the one later stages read."""
    wd, env, host = Workdir(tmp_path / "wd"), parse_env("fake:reach"), fake_host()
    first = collect_stage(wd, env, 2, seed=3, host=host)
    second = collect_stage(wd, env, 3, seed=3, host=host)
    assert second != first and wd.latest("data") / "dataset" == second
    assert collect_stage(wd, env, 2, seed=3, host=host) == first  # cached: nothing recorded again
    assert wd.latest("data") / "dataset" == first


def test_the_random_stage_records_random_episodes_in_its_own_folder_and_latest_entry(tmp_path) -> None:
    wd, env, host = Workdir(tmp_path / "wd"), parse_env("fake:reach"), fake_host()
    expert = collect_stage(wd, env, 2, seed=3, host=host)
    rand = random_stage(wd, env, 3, seed=3, size=16, host=host)
    assert rand.parent.name.startswith("random-") and rand.parent != expert.parent
    latest = json.loads((wd.path / "latest.json").read_text())
    assert latest["data"] == expert.parent.name and latest["random"] == rand.parent.name
    assert wd.latest("data") / "dataset" == expert  # what the video model and rewards read
    dataset = VideoDataset(rand)
    assert dataset.manifest["source"]["policy"] == "random" and dataset.image_size == (16, 16)
    first = 3 + RANDOM_SEED_OFFSET
    assert [e.key for e in dataset.episodes] == [f"seed-{first + i}" for i in range(3)]
    assert not {e.key for e in dataset.episodes} & {e.key for e in VideoDataset(expert).episodes}
    # the random policy acts, not the expert: the recorded actions are not the expert's on those seeds
    random_actions = dataset.load(dataset.episodes[0])["actions"][1:]
    assert np.abs(random_actions).max() > 0 and len({tuple(a) for a in random_actions}) > 1
    # a finished stage is reused; another episode count is another folder
    assert random_stage(wd, env, 3, seed=3, size=16, host=host) == rand
    assert json.loads((rand.parent / "stage.json").read_text())["attempts"] == 1
    assert random_stage(wd, env, 4, seed=3, size=16, host=host).parent != rand.parent


def test_extra_data_joins_the_training_split_only(tmp_path, seen) -> None:
    data = _dataset(tmp_path / "expert", 6, level=40)
    extra = _dataset(tmp_path / "random", 3, level=200, task="other")
    artifact = fit_tokenizer(data, tmp_path / "wd", name="fake", host=fake_host(), progress=False, extra_data=[extra])
    assert seen["val"] and set(seen["val"]) == {40}
    assert seen["train"].count(200) == 3 and seen["train"].count(40) == 6 - len(seen["val"])
    assert seen["tasks"] == ["reach", "other"]  # the extra dataset's own task is appended, not confused
    metrics = json.loads((artifact.parent / "stage.json").read_text())["metrics"]
    assert metrics["extra_episodes"] == 3 and "foreground_psnr" in metrics


def test_the_tokenizer_folder_changes_only_with_extra_data(tmp_path, seen) -> None:
    data = _dataset(tmp_path / "expert", 4, level=40)
    host = fake_host()
    plain = fit_tokenizer(data, tmp_path / "wd", name="fake", host=host, progress=False).parent
    config = json.loads((plain / "stage.json").read_text())["config"]
    assert set(config) == {"component", "data", "masks", "seed", "val_fraction"}
    assert plain.name == f"tokenizer-{config_hash('tokenizer', 'fake', config)}"
    mixed = fit_tokenizer(
        data, tmp_path / "wd", name="fake", host=host, progress=False, extra_data=[_dataset(tmp_path / "r", 2, 200)]
    ).parent
    assert mixed != plain
    extra_config = json.loads((mixed / "stage.json").read_text())["config"]
    assert {k: v for k, v in extra_config.items() if k != "extra_data"} == config
    assert len(extra_config["extra_data"]) == 1
    other = fit_tokenizer(
        data, tmp_path / "wd", name="fake", host=host, progress=False, extra_data=[_dataset(tmp_path / "r3", 3, 200)]
    ).parent
    assert other not in (plain, mixed)  # other extra episodes, another folder
    assert fit_tokenizer(data, tmp_path / "wd", name="fake", host=host, progress=False).parent == plain


def test_a_missing_empty_or_misfit_extra_dataset_is_refused_naming_the_flag(tmp_path) -> None:
    data = _dataset(tmp_path / "expert", 2, level=40)
    host = fake_host()

    def fit(extra: Path) -> None:
        fit_tokenizer(data, tmp_path / "wd", name="fake", host=host, progress=False, extra_data=[extra])

    with pytest.raises(DatasetError, match=f"^--extra-data {tmp_path / 'nowhere'}: no such dataset folder"):
        fit(tmp_path / "nowhere")
    (tmp_path / "junk").mkdir()
    with pytest.raises(DatasetError, match=f"^--extra-data {tmp_path / 'junk'}: no dataset.json"):
        fit(tmp_path / "junk")
    DatasetWriter(tmp_path / "empty")
    with pytest.raises(DatasetError, match=f"^--extra-data {tmp_path / 'empty'}: the dataset holds no episodes"):
        fit(tmp_path / "empty")
    small = _dataset(tmp_path / "small", 1, level=200, size=8)
    with pytest.raises(DatasetError, match=f"^--extra-data {small}: frames are 8x8, the training data's .* are 16x16"):
        fit(small)
    assert not list((tmp_path / "wd").glob("tokenizer-*"))  # refused before any stage started


def test_fit_tokenizer_command_takes_repeatable_extra_data(tmp_path, capsys, monkeypatch) -> None:
    from viper.core import cli, plugins

    monkeypatch.setattr(plugins, "_default_host", fake_host())  # viper-core alone: the fake components
    data = _dataset(tmp_path / "expert", 2, level=40)
    missing = tmp_path / "missing"
    argv = ["fit-tokenizer", "--tokenizer", "fake", "--data", str(data), "--workdir", str(tmp_path / "wd")]
    assert cli.main([*argv, "--extra-data", str(data), "--extra-data", str(missing)]) == 2
    assert f"--extra-data {missing}: no such dataset folder" in capsys.readouterr().err


def test_run_flag_random_episodes(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from viper.core import cli, plugins
    from viper.core.commands import run as run_command
    from viper.core.pipeline import PIPELINE_PRESETS, PipelineConfig

    assert all(preset["random_episodes"] == 0 for preset in PIPELINE_PRESETS.values())
    assert PipelineConfig().random_episodes is None
    assert cli.main(["--random-episodes", "-1", "--check"]) == 2
    assert capsys.readouterr().err.strip() == "viper-run: error: --random-episodes -1: expected an integer >= 0"
    plans = []
    monkeypatch.setattr(run_command, "run_pipeline", lambda plan: plans.append(plan) or {"report": "r"})
    monkeypatch.setattr(plugins, "_default_host", fake_host())  # viper-core alone: the fake components
    fakes = ["--env", "fake:reach", "--tokenizer", "fake", "--model", "fake", "--reward", "fake", "--agent", "fake"]
    assert cli.main(["--random-episodes", "7", "--workdir", "unused", *fakes]) == 0
    assert plans[0].config.random_episodes == 7


class _Stop(Exception):
    pass


@pytest.mark.parametrize("episodes", [None, 3])
def test_the_pipeline_hands_its_random_episodes_to_the_tokenizer(tmp_path, monkeypatch, episodes) -> None:
    import viper.core.stages as stages
    from viper.core.pipeline import PipelineConfig, resolve, run_pipeline

    calls = []

    def fit_tokenizer_stub(data, workdir, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((Path(data), list(kwargs["extra_data"])))
        raise _Stop

    monkeypatch.setattr(stages, "fit_tokenizer", fit_tokenizer_stub)
    fakes = dict(tokenizer="fake", model="fake", reward="fake", agent="fake")
    config = PipelineConfig(
        env="fake:reach", workdir=str(tmp_path), episodes=2, random_episodes=episodes, seed=5, **fakes
    )
    with pytest.raises(_Stop):
        run_pipeline(resolve(config, fake_host()))
    wd = Workdir(tmp_path)
    ((data, extra),) = calls
    assert data == wd.latest("data") / "dataset"
    if episodes is None:  # the preset's 0: no random stage, nothing extra
        assert extra == [] and not list(tmp_path.glob("random-*"))
    else:
        assert extra == [wd.latest("random") / "dataset"]
        assert len(VideoDataset(extra[0])) == 3 and VideoDataset(extra[0]).image_size == VideoDataset(data).image_size
