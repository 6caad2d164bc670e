"""The multimodality check: can a video model's reward rate two different expert modes above
their blurry mean?

``lite:reach-two`` has two equally expert ways to solve it (the left or the right target). The
script

1. records expert videos of both modes (the suite's expert picks one per episode, 50/50),
2. fits a ``vqgan`` tokenizer and each video model on them through ``viper-run`` (one workdir,
   one fit at a time; a finished stage with the same options is reused, not refitted),
3. rolls out four held-out policies at fixed seeds: mode A (always the left target), mode B
   (always the right one), the mean path (the average of the two modes' paths: straight up the
   middle to the midpoint of the targets, reaching neither) and random actions,
4. relabels each rollout with the ``viper`` reward on each model and prints the mean per-step
   reward (transitions 1..T; frame 0 has no transition) per model and policy, over the whole
   episode and over the fork (its first ``--fork`` transitions, where the modes part; a mode is
   plain from the frames afterwards, and the point rests on its target for the second half).

A likelihood model of both modes should rate mode A and mode B above the mean path; a
deterministic latent predictor regresses to the mean of the modes and need not.
``likelihood`` models report nats, ``latent-predictor`` its score (``2 cos - 2``).

    python benchmarks/multimodality.py [--workdir runs/multimodality] [--episodes 60]
        [--models ar-transformer,maskgit,latent-predictor] [--preset quick] [--eval-episodes 8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ENV = "lite:reach-two"
POLICIES = ("mode A (left)", "mode B (right)", "mean path", "random")
EVAL_SEED = 100_000  # held-out episodes start here (training episodes use seeds 0..N-1)


def viper_run(*args: str) -> None:
    command = [shutil.which("viper-run") or "viper-run", *args]
    print("$", " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True)


def wait_for_other_fits(poll: float = 15.0) -> None:
    """This machine fits one model at a time: wait while another ``viper-run fit-`` runs."""
    while True:
        found = subprocess.run(["pgrep", "-f", "viper-run fit-"], capture_output=True, text=True).stdout.split()
        others = [p for p in found if int(p) != os.getpid()]
        if not others:
            return
        print(f"waiting for another fit ({', '.join(others)})", file=sys.stderr, flush=True)
        time.sleep(poll)


def fit(workdir: Path, data: Path, kind: str, component: str, preset: str, extra: list[str]) -> dict:
    """Fit (or reuse) one stage; returns its ``stage.json``."""
    wait_for_other_fits()
    if kind == "tokenizer":
        viper_run("fit-tokenizer", "--workdir", str(workdir), "--data", str(data), "--preset", preset, *extra)
    else:
        viper_run(
            "fit-model",
            "--workdir",
            str(workdir),
            "--data",
            str(data),
            "--model",
            component,
            "--preset",
            preset,
            *extra,
        )
    latest = json.loads((workdir / "latest.json").read_text())[kind]
    info = json.loads((workdir / latest / "stage.json").read_text())
    info["folder"] = latest
    return info


def rollouts(policy: str, episodes: int, size: int) -> np.ndarray:
    """``uint8[E, T+1, H, W, 3]`` frames of ``episodes`` held-out episodes of ``policy``."""
    from viper.envs.lite import LiteSuite
    from viper.envs.lite.reach_two import ReachTwoExpert

    env = LiteSuite().make("reach-two", seed=EVAL_SEED, size=size)
    goal = {POLICIES[0]: 0, POLICIES[1]: 1, POLICIES[2]: "mean"}.get(policy)
    actor = ReachTwoExpert(env, goal=goal) if goal is not None else None
    out = []
    for e in range(episodes):
        obs, _ = env.reset(seed=EVAL_SEED + e)
        frames, done = [obs["image"]], False
        while not done:
            action = actor.act(obs) if actor else env.action_space.sample()
            obs, _, terminated, truncated, info = env.step(action)
            frames.append(obs["image"])
            done = terminated or truncated
        if goal in (0, 1) and info["mode"] != goal:
            raise RuntimeError(f"{policy} episode {e} reached mode {info['mode']}, not {goal}")
        out.append(np.stack(frames))
    return np.stack(out)


def rewards(workdir: Path, tokenizer: object, stage: str, frames: dict[str, np.ndarray], fork: int) -> tuple[str, dict]:
    """``(units, {policy: (whole-episode mean, mean over the first fork transitions)})`` for the
    model of ``stage``."""
    from viper.core.plugins import get_host
    from viper.core.protocols import RewardContext, score_units
    from viper.rewards.likelihood import Config, ViperReward

    info = json.loads((workdir / stage / "stage.json").read_text())
    model = get_host().load("video_model", info["component"]).load(workdir / stage / "artifact")
    context = RewardContext(tasks=tuple(model.tasks), image_size=tuple(tokenizer.image_size))
    reward = ViperReward(Config(), context, tokenizer=tokenizer, video_model=model)
    out = {}
    for policy, video in frames.items():
        r = reward.relabel(video, np.zeros(len(video), np.int32))[:, 1:]
        out[policy] = (float(r.mean()), float(r[:, :fork].mean()))
    return score_units(model), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs/multimodality"))
    parser.add_argument("--episodes", type=int, default=60, help="expert episodes to train on")
    parser.add_argument("--eval-episodes", type=int, default=8, help="held-out episodes per policy")
    parser.add_argument("--models", default="ar-transformer,maskgit,latent-predictor")
    parser.add_argument("--preset", default="quick", help="preset of the tokenizer and every model")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--fork", type=int, default=5, help="transitions counted as the fork")
    parser.add_argument("--set", action="append", default=[], help="extra MODEL:KIND.FIELD=VALUE options")
    args = parser.parse_args()
    from viper.core.components import load_tokenizer

    workdir, data = args.workdir, args.workdir.parent / f"{args.workdir.name}-data"
    start = time.time()
    if not data.exists():
        viper_run(
            "collect", "--env", ENV, "--episodes", str(args.episodes), "--out", str(data), "--size", str(args.size)
        )
    stages = {"tokenizer": fit(workdir, data, "tokenizer", "vqgan", args.preset, [])}
    for name in args.models.split(","):
        extra = [s.split(":", 1)[1] for s in args.set if s.startswith(f"{name}:")]
        stages[name] = fit(workdir, data, "video_model", name, args.preset, [x for s in extra for x in ("--set", s)])
    tokenizer = load_tokenizer(workdir)
    frames = {p: rollouts(p, args.eval_episodes, args.size) for p in POLICIES}
    print(
        f"\n{ENV}: {args.episodes} expert episodes, preset {args.preset}, {args.eval_episodes} held-out episodes per policy"
    )
    print(f"mean viper reward per step, whole episode (fork: first {args.fork} transitions)\n")
    print("| model | units | " + " | ".join(POLICIES) + " | both modes > mean path | fit s |")
    print("|---|---|" + "---|" * len(POLICIES) + "---|---|")
    for name in args.models.split(","):
        units, table = rewards(workdir, tokenizer, stages[name]["folder"], frames, args.fork)
        cells = [f"{table[p][0]:.3f} ({table[p][1]:.3f})" for p in POLICIES]
        mean = table[POLICIES[2]]
        verdict = "yes" if all(table[p][0] > mean[0] for p in POLICIES[:2]) else "no"
        verdict += " (yes)" if all(table[p][1] > mean[1] for p in POLICIES[:2]) else " (no)"
        print(
            f"| {name} | {units.split(' of ')[0]} | "
            + " | ".join(cells)
            + f" | {verdict} | {stages[name]['seconds']:.0f} |"
        )
    print(f"\ntokenizer fit {stages['tokenizer']['seconds']:.0f} s; total wall time {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
