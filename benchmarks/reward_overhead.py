"""What the online ``viper`` reward costs on top of the video model's own stream.

Runs, side by side on the same frames and the same batch of envs (16 by default), interleaved in
rounds so background load hits all of them alike:

* ``stream``: ``video_model.stream(E).step(codes, is_first)`` on codes encoded beforehand;
* ``encode+stream``: ``tokenizer.encode(frames)`` then that step (the work the reward cannot skip);
* ``reward``: ``ViperReward(...).stream(E).step(StepBatch)``, the online form an RL loop calls
  (input checks, masks, encoding, the stream, the NaN check, normalisation).

Prints per-step milliseconds (median of rounds) and the ratios ``reward / encode+stream`` (the
reward's own overhead, target <= 1.10) and ``reward / stream``. Untrained random-weight
``vqgan`` and ``ar-transformer`` instances are enough for speed.

    python benchmarks/reward_overhead.py [--preset quick|paper] [--envs 16] [--steps 40] [--rounds 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=("quick", "paper"), default="quick", help="size of both models")
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=40, help="env steps per round and variant")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", choices=("conditional", "joint"), default="conditional")
    args = parser.parse_args()

    from viper.core.config import build_config
    from viper.core.protocols import RewardContext, StepBatch
    from viper.rewards.likelihood import Config as RewardConfig
    from viper.rewards.likelihood import ViperReward
    from viper.tokenizers.vqgan.config import PRESETS as TOKENIZER_PRESETS
    from viper.tokenizers.vqgan.config import Config as TokenizerConfig
    from viper.tokenizers.vqgan.model import VQGANTokenizer
    from viper.videomodels.artransformer.config import PRESETS as MODEL_PRESETS
    from viper.videomodels.artransformer.config import Config as ModelConfig
    from viper.videomodels.artransformer.model import ARTransformer

    tokenizer = VQGANTokenizer(build_config(TokenizerConfig, TOKENIZER_PRESETS[args.preset]))
    model = ARTransformer(build_config(ModelConfig, MODEL_PRESETS[args.preset]))
    model.initialize(tokenizer.vocab_size, tokenizer.code_grid, ("reach",), seed=0)
    context = RewardContext(tasks=("reach",), image_size=tokenizer.image_size)
    reward = ViperReward(RewardConfig(mode=args.mode), context, tokenizer=tokenizer, video_model=model)

    envs, steps = args.envs, args.steps
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (steps, envs, *tokenizer.image_size, 3), dtype=np.uint8)
    codes = np.stack([tokenizer.encode(f) for f in frames])
    firsts = np.zeros((steps, envs), bool)
    firsts[0] = True
    firsts[steps // 2, ::3] = True  # some envs start new episodes mid-way, as in training
    task_ids = np.zeros(envs, np.int32)
    zeros = np.zeros(envs, np.float32)

    def run_stream() -> None:
        stream = model.stream(envs, task_ids)
        for t in range(steps):
            np.asarray(stream.step(codes[t], firsts[t]))

    def run_encode_stream() -> None:
        stream = model.stream(envs, task_ids)
        for t in range(steps):
            np.asarray(stream.step(tokenizer.encode(frames[t]), firsts[t]))

    def run_reward() -> None:
        stream = reward.stream(envs, task_ids)
        for t in range(steps):
            stream.step(StepBatch(frames[t], firsts[t], zeros, task_ids))

    variants = {"stream": run_stream, "encode+stream": run_encode_stream, "reward": run_reward}
    for fn in variants.values():  # compile every shape first
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) / steps * 1000.0)

    median = {name: float(np.median(values)) for name, values in times.items()}
    print(
        f"viper reward overhead: preset {args.preset}, mode {args.mode}, {envs} envs, "
        f"{steps} steps x {args.rounds} rounds, incremental={reward.incremental}"
    )
    for name, value in median.items():
        spread = f"{min(times[name]):.2f}-{max(times[name]):.2f}"
        print(f"  {name:<14} {value:8.2f} ms/step  ({envs / value * 1000:8.0f} frames/s; rounds {spread} ms)")
    print(f"  reward / encode+stream = {median['reward'] / median['encode+stream']:.3f}  (target <= 1.10)")
    print(f"  reward / stream        = {median['reward'] / median['stream']:.3f}")


if __name__ == "__main__":
    main()
