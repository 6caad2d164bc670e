"""Encode/decode throughput and FLOPs of the vqgan presets (random weights), side by side.

    python packages/viper-tokenizers/benchmarks/tokenizer_speed.py [--batch 64] [--seconds 5]

Prints, per preset: GFLOP per frame of encode and decode (XLA's cost analysis of the compiled
function), frames per second at the given batch size, the achieved GFLOP/s and that as a
fraction of a dense float32 matmul timed in the same process.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from viper.tokenizers.vqgan import PRESETS, Config, VQGANTokenizer


def gflops(compiled: jax.stages.Compiled) -> float:
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"]) / 1e9


def timed(fn, seconds: float) -> float:
    """Calls per second of ``fn`` (which blocks), after one warm-up call."""
    fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls / (time.perf_counter() - start)


def matmul_gflops(seconds: float, n: int = 2048) -> float:
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    return timed(lambda: f(a).block_until_ready(), seconds) * 2 * n**3 / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="frames per encode/decode call")
    parser.add_argument("--seconds", type=float, default=5.0, help="timing window per measurement")
    parser.add_argument("--presets", default="paper,quick")
    args = parser.parse_args()

    peak = matmul_gflops(args.seconds)
    print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}; dense matmul {peak:.1f} GFLOP/s")
    print(f"{'preset':<8} {'op':<7} {'GFLOP/frame':>11} {'frames/s':>9} {'GFLOP/s':>8} {'of matmul':>9}")
    for name in args.presets.split(","):
        tok = VQGANTokenizer(Config(**PRESETS[name]))
        frames = np.random.default_rng(0).integers(0, 256, (args.batch, *tok.image_size, 3), dtype=np.uint8)
        codes = tok.encode(frames)
        for op, fn, x in (("encode", tok._encode, frames), ("decode", tok._decode, codes)):
            one = gflops(fn.lower(tok.params, tok.embedding, x[:1]).compile())
            x = jnp.asarray(x)
            rate = timed(lambda fn=fn, x=x, t=tok: fn(t.params, t.embedding, x).block_until_ready(), args.seconds)
            fps = rate * args.batch
            print(f"{name:<8} {op:<7} {one:>11.3f} {fps:>9.1f} {fps * one:>8.1f} {fps * one / peak:>9.0%}")


if __name__ == "__main__":
    main()
