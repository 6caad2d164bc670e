"""benchmarks/contrast.py: its second model is the workdir's video model refitted, on the same
tokenizer, on random-policy videos."""

from __future__ import annotations

from viper.core.components import parse_env
from viper.core.dataset import VideoDataset
from viper.core.stages import collect_stage, fit_tokenizer, fit_video_model
from viper.core.testing.fake_plugin import fake_host
from viper.core.workdir import Workdir


def test_the_random_play_model_shares_the_tokenizer_and_options_but_not_the_data(tmp_path, load_benchmark) -> None:
    bench, host = load_benchmark("contrast"), fake_host()
    wd = Workdir(tmp_path / "wd")
    data = collect_stage(wd, parse_env("fake:reach"), 3, seed=1, host=host)
    fit_tokenizer(data, wd.path, name="fake", host=host, progress=False)
    fit_video_model(wd.path, data, name="fake", options={"smoothing": 0.5}, host=host, progress=False)

    other = bench.contrast_workdir(wd, tmp_path / "wd-contrast", "fake:reach", 4, 1, 64, host)

    assert other.latest("tokenizer").name == wd.latest("tokenizer").name
    ours, theirs = (w.latest_info("video_model") for w in (wd, other))
    assert theirs["component"] == ours["component"] == "fake"
    assert theirs["config"]["component"] == ours["config"]["component"]
    assert theirs["config"]["data"] != ours["config"]["data"]
    random = VideoDataset(other.latest("random") / "dataset")
    assert random.manifest["source"]["policy"] == "random" and len(random.episodes) == 4
    # a second call finds both stages done and fits nothing again
    again = bench.contrast_workdir(wd, tmp_path / "wd-contrast", "fake:reach", 4, 1, 64, host)
    assert again.latest("video_model") == other.latest("video_model")
