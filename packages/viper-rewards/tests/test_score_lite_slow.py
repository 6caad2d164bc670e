"""End to end on the built-in suite: expert videos -> vqgan -> ar-transformer -> ``score``.

The VIPER return of episodes of mixed quality must rank them like the true return (Spearman
>= 0.8 over 30 episodes) and order the policies expert > noisy > random. Trains both models on a
CPU with their ``quick`` presets (several minutes on 2 cores); marked slow. Needs viper-envs,
viper-tokenizers and viper-videomodels, which viper-rewards does not depend on: without them it
is skipped, saying which is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

MISSING = [
    dist
    for dist, module in (
        ("viper-envs", "viper.envs.lite"),
        ("viper-tokenizers", "viper.tokenizers.vqgan"),
        ("viper-videomodels", "viper.videomodels.artransformer"),
    )
    if importlib.util.find_spec(module) is None
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} installed (the lite suite and real models)"),
]

TASK = os.environ.get("VIPER_SCORE_TASK", "reach")


def test_viper_return_ranks_lite_episodes_like_the_true_return(tmp_path):
    from viper.core.collect import collect
    from viper.core.fitting import fit_tokenizer, fit_video_model
    from viper.core.plugins import get_host
    from viper.core.scoring import ScoreConfig, score
    from viper.tokenizers.vqgan.config import PRESETS as TOKENIZER_PRESETS
    from viper.videomodels.artransformer.config import PRESETS as MODEL_PRESETS

    host = get_host()
    env = f"lite:{TASK}"
    workdir = tmp_path / "run"
    data = tmp_path / "expert"
    collect(env, 40, data, seed=0, progress=False, host=host)
    fit_tokenizer(data, workdir, name="vqgan", options=dict(TOKENIZER_PRESETS["quick"]), progress=False, host=host)
    fit_video_model(
        workdir, data, name="ar-transformer", options=dict(MODEL_PRESETS["quick"]), progress=False, host=host
    )

    config = ScoreConfig(env=env, episodes=6, rewards=("viper", "task"), noise=(0.1, 0.3, 0.6), seed=1, videos=1)
    result = score(workdir, config, host=host, progress=False)
    print(result.table())
    summary = json.loads((result.directory / "score.json").read_text())
    assert len(summary["episodes"]) == 30
    assert result.spearman("task") == pytest.approx(1.0)  # the oracle ranks by the true return itself
    means = {p: row["reward_return_mean"]["viper"] for p, row in summary["policies"].items()}
    noisy = [v for p, v in means.items() if p.startswith("noisy-")]
    assert means["expert"] > sum(noisy) / len(noisy) > means["random"], means
    assert result.spearman("viper") >= 0.8, result.table()
    assert result.plot.exists() and result.video is not None
