"""What the gymnasium wrappers cost against viper's own loop, on ``lite:reach`` with the ``viper`` reward.

For each env count (1 and 8 by default), side by side and interleaved in rounds so background
load hits all variants alike, rewarded env steps per second (summed over envs) of:

* ``env``: the vector env alone, random actions (no reward; the ceiling);
* ``loop``: the loop's :class:`~viper.core.loop.driver.Driver` with the reward stream, i.e.
  ``observe`` (one batched ``stream.step``) + ``step``, as ``viper-run train`` drives it;
* ``wrapper``: :class:`~viper.rewards.wrappers.VectorRewardWrapper` over the same vector env
  (``RewardWrapper`` around one env for ``--envs 1``).

The reward is the same object in both (a ``viper`` reward on random-weight ``vqgan`` and
``ar-transformer`` models of the ``quick`` preset: speed does not depend on the weights). Prints
medians over rounds and the ratio ``wrapper / loop`` (1.0: no overhead).

    python benchmarks/wrapper_overhead.py [--envs 1,8] [--steps 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def build_reward():
    from viper.core.config import build_config
    from viper.core.protocols import RewardContext
    from viper.core.rewarding import WeightedSum
    from viper.rewards.likelihood import ViperReward
    from viper.tokenizers.vqgan.config import PRESETS as TOKENIZER_PRESETS
    from viper.tokenizers.vqgan.config import Config as TokenizerConfig
    from viper.tokenizers.vqgan.model import VQGANTokenizer
    from viper.videomodels.artransformer.config import PRESETS as MODEL_PRESETS
    from viper.videomodels.artransformer.config import Config as ModelConfig
    from viper.videomodels.artransformer.model import ARTransformer

    tokenizer = VQGANTokenizer(build_config(TokenizerConfig, TOKENIZER_PRESETS["quick"]))
    model = ARTransformer(build_config(ModelConfig, MODEL_PRESETS["quick"]))
    model.initialize(tokenizer.vocab_size, tokenizer.code_grid, ("reach",), seed=0)
    context = RewardContext(tasks=("reach",), image_size=tokenizer.image_size)
    # What build_training_reward hands the loop: the reward inside a one-part weighted sum.
    return WeightedSum([("viper", ViperReward(None, context, tokenizer=tokenizer, video_model=model), 1.0)])


def vector_env(n: int):
    import gymnasium as gym

    from viper.core.components import make_env

    return gym.vector.SyncVectorEnv([lambda: make_env("lite:reach")] * n, autoreset_mode="NextStep")


def rate(run, steps: int, n: int) -> float:
    started = time.perf_counter()
    run(steps)
    return steps * n / (time.perf_counter() - started)


def variants(reward, n: int, rng: np.random.Generator) -> dict:
    from viper.core.components import make_env
    from viper.core.loop.driver import Driver
    from viper.rewards.wrappers import RewardWrapper, VectorRewardWrapper

    def actions(steps: int) -> np.ndarray:
        return rng.uniform(-1, 1, (steps, n, 2)).astype(np.float32)

    plain = vector_env(n)
    plain.reset(seed=list(range(n)))
    driver = Driver(vector_env(n), np.zeros(n, np.int32))
    driver.reset(list(range(n)), reward.stream(n, np.zeros(n, np.int32)))
    if n == 1:
        wrapped = RewardWrapper(make_env("lite:reach"), reward)
        wrapped.reset(seed=0)
    else:
        wrapped = VectorRewardWrapper(vector_env(n), reward)
        wrapped.reset(seed=list(range(n)))

    def run_env(steps: int) -> None:
        for a in actions(steps):
            plain.step(a)

    def run_loop(steps: int) -> None:
        for a in actions(steps):
            driver.observe()
            driver.step(a)

    def run_wrapper(steps: int) -> None:
        for a in actions(steps):
            _, _, terminated, truncated, _ = wrapped.step(a[0] if n == 1 else a)
            if n == 1 and (terminated or truncated):
                wrapped.reset()

    return {"env": run_env, "loop": run_loop, "wrapper": run_wrapper}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", default="1,8", help="comma-separated env counts")
    parser.add_argument("--steps", type=int, default=100, help="vector steps per round and variant")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from viper.core.frameworks import configure_frameworks

    configure_frameworks()
    reward = build_reward()
    rng = np.random.default_rng(0)
    rows = []
    for n in (int(x) for x in args.envs.split(",")):
        runs = variants(reward, n, rng)
        for run in runs.values():
            run(5)  # compile and warm up
        rates: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                rates[name].append(rate(run, args.steps, n))
        medians = {name: float(np.median(values)) for name, values in rates.items()}
        rows.append((n, medians))
        print(
            f"envs {n:2d}: env {medians['env']:8.0f}  loop {medians['loop']:7.1f}  wrapper {medians['wrapper']:7.1f} "
            f"steps/s  (wrapper / loop {medians['wrapper'] / medians['loop']:.3f})",
            flush=True,
        )
    print("\n| envs | env only | loop (Driver + stream) | wrapper | wrapper / loop |\n|---|---|---|---|---|")
    for n, m in rows:
        print(f"| {n} | {m['env']:.0f} | {m['loop']:.1f} | {m['wrapper']:.1f} | {m['wrapper'] / m['loop']:.3f} |")


if __name__ == "__main__":
    main()
