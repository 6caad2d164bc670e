"""Peak memory of training's data path as the dataset grows: episodes loaded into memory against
episodes read from an on-disk clip table (``VideoDataset.store(on_disk=...)``).

Builds two synthetic datasets of 64x64 frames, ``--episodes`` and ``--scale`` times as many
episodes, then for each size and each path runs, in a fresh process: open the dataset, take the
training split (``val_fraction`` 0.1) as the tokenizer stage does (``memory``: every episode
decoded into RAM; ``disk``: written once into a clip table, one episode at a time, then
memory-mapped), and ``--steps`` sampler steps of ``--batch`` frames drawn exactly as
``fit-tokenizer`` draws them (generator seeded by ``(seed, step, 0)``). It reports the process's
peak resident memory (``getrusage`` maxrss, imports included), the load and sampling times, and a
digest of every sampled batch, which must be the same for both paths (the same clips).

    python benchmarks/dataset_memory.py [--episodes 60] [--scale 10] [--length 100] [--steps 200]
        [--batch 64] [--root /tmp/viper-dataset-memory] [--out benchmarks/results/dataset_memory.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def build_dataset(root: Path, episodes: int, length: int, size: int = 64) -> Path:
    """``episodes`` episodes of a square moving over a bordered background (reused if present)."""
    from viper.core.dataset import DatasetWriter, VideoDataset
    from viper.tokenizers.testing import synthetic_episode

    if (root / "dataset.json").exists() and len(VideoDataset(root)) == episodes:
        return root
    writer = DatasetWriter(root, source={"env": "synthetic:squares"})
    rng = np.random.default_rng(0)
    for _ in range(episodes):
        writer.add("squares", synthetic_episode(rng, length, size))
    return root


def child(data: Path, mode: str, tables: Path, steps: int, batch: int, seed: int = 0) -> dict:
    """One measurement (run in its own process, so the peak is this path's alone)."""
    from viper.core.dataset import VideoDataset

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    dataset = VideoDataset(data)
    train_episodes, _ = dataset.split(0.1)
    train = dataset.store(train_episodes, on_disk=tables if mode == "disk" else None)
    loaded = time.perf_counter()
    digest = hashlib.sha256()
    for step in range(steps):
        rng = np.random.default_rng([seed, step, 0])
        clips, _ = train.sample_clips(rng, batch, 1)
        frames = clips[:, 0].astype(np.float32) / 127.5 - 1.0  # what a step feeds the model
        digest.update(clips.tobytes())
        del frames
    done = time.perf_counter()
    return {
        "mode": mode,
        "episodes": len(dataset),
        "train_frames": int(train.num_frames),
        "dataset_mb": round(train.num_frames * 64 * 64 * 3 / 2**20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "baseline_rss_mb": round(baseline, 1),
        "load_s": round(loaded - started, 2),
        "steps_s": round(done - loaded, 2),
        "batches_sha256": digest.hexdigest()[:16],
    }


def measure(data: Path, mode: str, tables: Path, steps: int, batch: int) -> dict:
    command = [sys.executable, __file__, "--child", str(data), "--mode", mode, "--tables", str(tables)]
    command += ["--steps", str(steps), "--batch", str(batch)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--root", type=Path, default=Path("/tmp/viper-dataset-memory"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "dataset_memory.json")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("memory", "disk"), help=argparse.SUPPRESS)
    parser.add_argument("--tables", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.mode, args.tables, args.steps, args.batch)))
        return

    rows = []
    for episodes in (args.episodes, args.episodes * args.scale):
        data = build_dataset(args.root / f"data-{episodes}", episodes, args.length)
        tables = args.root / f"clips-{episodes}-{time.time_ns()}"  # a fresh table: its writing is measured
        for mode in ("memory", "disk"):
            row = measure(data, mode, tables, args.steps, args.batch)
            rows.append(row)
            print(json.dumps(row), flush=True)
    for episodes in {row["episodes"] for row in rows}:
        digests = {row["batches_sha256"] for row in rows if row["episodes"] == episodes}
        assert len(digests) == 1, f"{episodes} episodes: the two paths sampled different clips"

    from viper.core.atomic import atomic_write_json

    settings = {k: getattr(args, k) for k in ("episodes", "scale", "length", "steps", "batch")}
    atomic_write_json(args.out, {"settings": settings, "rows": rows})
    print(f"\n| episodes | frames (MB) | path | peak RSS (MB) | load (s) | {args.steps} steps (s) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['episodes']} | {row['train_frames']} ({row['dataset_mb']}) | {row['mode']} | "
            f"{row['peak_rss_mb']} | {row['load_s']} | {row['steps_s']} |"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
