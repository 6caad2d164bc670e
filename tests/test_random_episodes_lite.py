"""``--random-episodes`` on a real suite: the random stage of ``lite:reach`` shows what the expert
rarely does (the point away from the target), which is why the tokenizer trains on it."""

from __future__ import annotations

import json

import numpy as np

from viper.core.components import parse_env
from viper.core.dataset import VideoDataset
from viper.core.stages import collect_stage, random_stage
from viper.core.workdir import Workdir


def test_random_episodes_of_lite_reach_are_their_own_stage_and_not_the_experts(tmp_path) -> None:
    wd, env = Workdir(tmp_path), parse_env("lite:reach")
    expert = VideoDataset(collect_stage(wd, env, 2, seed=0))
    rand = VideoDataset(random_stage(wd, env, 2, seed=0, size=64))
    assert rand.image_size == expert.image_size == (64, 64)
    latest = json.loads((tmp_path / "latest.json").read_text())
    assert latest["data"].startswith("data-") and latest["random"].startswith("random-")
    returns = {
        name: np.mean([e.episode_return for e in d.episodes]) for name, d in (("expert", expert), ("random", rand))
    }
    assert returns["random"] < returns["expert"] / 2
