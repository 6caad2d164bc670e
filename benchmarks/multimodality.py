"""The multimodality check: can a video model's reward rate two different expert modes above
their blurry mean?

Two tasks (``--env``) have two equally expert ways to solve them:

* ``lite:reach-two`` (the left or the right target): the mode is chosen once an episode, so it
  is plain from the frames after the first steps (the fork);
* ``lite:zigzag`` (up-left or up-right at every step of a climb): the choice is made anew at
  every step and nothing on screen predicts it, so every climbing step is a fork.

The script

1. records expert videos of both modes (the suite's expert, 50/50),
2. fits a ``vqgan`` tokenizer and each video model on them through ``viper-run`` (one workdir,
   one fit at a time; a finished stage with the same options is reused, not refitted),
3. rolls out four held-out policies at fixed seeds: mode A, mode B, the mean path (the average
   of the two modes: for reach-two straight up the middle to the midpoint of the targets,
   reaching neither; for zigzag straight up, a move no expert makes) and random actions,
4. relabels each rollout with the ``viper`` reward on each model and prints the mean per-step
   reward (transitions 1..T; frame 0 has no transition) per model and policy, over the whole
   episode and over the fork (its first ``--fork`` transitions: reach-two's first steps, where
   the modes part, or zigzag's whole climb).
5. prints the per-step view: at each early step of held-out expert episodes where mode A and
   mode B would move differently (reach-two: its first step; zigzag: every unforced climbing
   step), the reward of each candidate next frame (mode A's move, mode B's, their mean) from the
   same context, and how often the mean move is ranked first.

A likelihood model of both modes should rate mode A and mode B above the mean path; a
deterministic latent predictor regresses to the mean of the modes and need not.
``likelihood`` models report nats, ``latent-predictor`` its score (``2 cos - 2``).

    python benchmarks/multimodality.py [--env lite:reach-two|lite:zigzag]
        [--workdir runs/multimodality] [--episodes 60] [--preset quick] [--eval-episodes 8]
        [--models ar-transformer,maskgit,latent-predictor] [--fork N]
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Check:
    """A task of the check: its lite task name, its expert class (``goal`` 0, 1 or ``"mean"``),
    the two modes' labels and the default fork length."""

    task: str
    expert: str
    modes: tuple[str, str]
    fork: int
    fork_steps: int
    """Steps of a held-out expert episode at which the per-step view offers the three next frames."""


CHECKS = {
    # reach-two's mode is plain from the frames after its first step: one step where both are open
    "lite:reach-two": Check("reach-two", "viper.envs.lite.reach_two:ReachTwoExpert", ("left", "right"), 5, 1),
    # zigzag climbs for 15 or 16 steps (start jitter): its first 15 transitions are all forks
    "lite:zigzag": Check("zigzag", "viper.envs.lite.zigzag:ZigZagExpert", ("up-left", "up-right"), 15, 15),
}
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


def policies(check: Check) -> tuple[str, ...]:
    return (f"mode A ({check.modes[0]})", f"mode B ({check.modes[1]})", "mean path", "random")


def expert_class(check: Check) -> type:
    module, name = check.expert.split(":")
    return getattr(importlib.import_module(module), name)


def rollouts(check: Check, policy: str, episodes: int, size: int) -> np.ndarray:
    """``uint8[E, T+1, H, W, 3]`` frames of ``episodes`` held-out episodes of ``policy``."""
    from viper.envs.lite import LiteSuite

    expert = expert_class(check)
    env = LiteSuite().make(check.task, seed=EVAL_SEED, size=size)
    names = policies(check)
    goal = {names[0]: 0, names[1]: 1, names[2]: "mean"}.get(policy)
    actor = expert(env, goal=goal) if goal is not None else None
    out = []
    for e in range(episodes):
        obs, _ = env.reset(seed=EVAL_SEED + e)
        frames, done = [obs["image"]], False
        while not done:
            action = actor.act(obs) if actor else env.action_space.sample()
            obs, _, terminated, truncated, info = env.step(action)
            frames.append(obs["image"])
            done = terminated or truncated
        if goal in (0, 1) and info.get("mode", goal) != goal:
            raise RuntimeError(f"{policy} episode {e} reached mode {info['mode']}, not {goal}")
        out.append(np.stack(frames))
    return np.stack(out)


CANDIDATES = ("mode A's move", "mode B's move", "mean move")


def fork_clips(check: Check, episodes: int, size: int) -> dict[str, list[np.ndarray]]:
    """The per-step view's inputs: at each of the first ``check.fork_steps`` steps of held-out
    episodes of the suite's expert where mode A and mode B would move differently, the episode's
    frames so far followed by the next frame of each candidate move (mode A's, mode B's, their
    mean), all from the same state: ``{candidate: [uint8[t+2, H, W, 3], ...]}``."""
    from viper.envs.lite import LiteSuite

    expert = expert_class(check)
    env = LiteSuite().make(check.task, seed=EVAL_SEED, size=size)
    actors = [expert(env, goal=goal) for goal in (0, 1, "mean")]
    suite_expert = expert(env)
    clips: dict[str, list[np.ndarray]] = {c: [] for c in CANDIDATES}
    for e in range(episodes):
        obs, _ = env.reset(seed=EVAL_SEED + e)
        frames = [obs["image"]]
        for _ in range(check.fork_steps):
            moves = [actor.act(obs) for actor in actors]
            if not np.allclose(moves[0], moves[1]):
                for candidate, move in zip(CANDIDATES, moves):
                    twin = copy.deepcopy(env)
                    clips[candidate].append(np.stack([*frames, twin.step(move)[0]["image"]]))
            obs = env.step(suite_expert.act(obs))[0]
            frames.append(obs["image"])
    return clips


def fork_rewards(reward: object, model: object, clips: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    """``{candidate: float[N]}``: the viper reward of each clip's last transition. A frame's
    number depends on its context only, so each clip is cut to its last ``context`` frames (times
    the frame skip) plus the candidate, and clips of one length go in one call."""
    window = int(model.context) * int(getattr(model.config, "frame_skip", 1)) + 1
    out = {}
    for candidate, videos in clips.items():
        cut = [v[-window:] for v in videos]
        values = np.zeros(len(cut), np.float32)
        for length in sorted({len(v) for v in cut}):
            index = [i for i, v in enumerate(cut) if len(v) == length]
            batch = np.stack([cut[i] for i in index])
            values[index] = reward.relabel(batch, np.zeros(len(batch), np.int32))[:, -1]
        out[candidate] = values
    return out


def rewards(
    workdir: Path, tokenizer: object, stage: str, frames: dict[str, np.ndarray], fork: int, clips: dict
) -> tuple[str, dict, dict]:
    """``(units, {policy: (whole-episode mean, mean over the first fork transitions)},
    {candidate: fork-step rewards})`` for the model of ``stage``."""
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
    return score_units(model), out, fork_rewards(reward, model, clips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="lite:reach-two", choices=sorted(CHECKS))
    parser.add_argument("--workdir", type=Path, default=Path("runs/multimodality"))
    parser.add_argument("--episodes", type=int, default=60, help="expert episodes to train on")
    parser.add_argument("--eval-episodes", type=int, default=8, help="held-out episodes per policy")
    parser.add_argument("--models", default="ar-transformer,maskgit,latent-predictor")
    parser.add_argument("--preset", default="quick", help="preset of the tokenizer and every model")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument(
        "--fork", type=int, default=None, help="transitions counted as the fork (default: the task's own)"
    )
    parser.add_argument("--set", action="append", default=[], help="extra MODEL:KIND.FIELD=VALUE options")
    args = parser.parse_args()
    from viper.core.components import load_tokenizer

    check = CHECKS[args.env]
    fork = check.fork if args.fork is None else args.fork
    if fork < 1:
        parser.error(f"--fork {fork}: expected at least 1 transition")
    columns = policies(check)

    workdir, data = args.workdir, args.workdir.parent / f"{args.workdir.name}-data"
    start = time.time()
    if not data.exists():
        viper_run(
            "collect", "--env", args.env, "--episodes", str(args.episodes), "--out", str(data), "--size", str(args.size)
        )
    stages = {"tokenizer": fit(workdir, data, "tokenizer", "vqgan", args.preset, [])}
    for name in args.models.split(","):
        extra = [s.split(":", 1)[1] for s in args.set if s.startswith(f"{name}:")]
        stages[name] = fit(workdir, data, "video_model", name, args.preset, [x for s in extra for x in ("--set", s)])
    tokenizer = load_tokenizer(workdir)
    frames = {p: rollouts(check, p, args.eval_episodes, args.size) for p in columns}
    print(
        f"\n{args.env}: {args.episodes} expert episodes, preset {args.preset}, {args.eval_episodes} held-out episodes per policy"
    )
    print(f"mean viper reward per step, whole episode (fork: first {fork} transitions)\n")
    print("| model | units | " + " | ".join(columns) + " | both modes > mean path | fit s |")
    print("|---|---|" + "---|" * len(columns) + "---|---|")
    clips = fork_clips(check, args.eval_episodes, args.size)
    steps = {}
    for name in args.models.split(","):
        units, table, steps[name] = rewards(workdir, tokenizer, stages[name]["folder"], frames, fork, clips)
        cells = [f"{table[p][0]:.3f} ({table[p][1]:.3f})" for p in columns]
        mean = table[columns[2]]
        verdict = "yes" if all(table[p][0] > mean[0] for p in columns[:2]) else "no"
        verdict += " (yes)" if all(table[p][1] > mean[1] for p in columns[:2]) else " (no)"
        print(
            f"| {name} | {units.split(' of ')[0]} | "
            + " | ".join(cells)
            + f" | {verdict} | {stages[name]['seconds']:.0f} |"
        )
    print(
        f"\nper step: from the same held-out expert context ({len(clips[CANDIDATES[0]])} states in the first "
        f"{check.fork_steps} steps where the modes' moves differ), the reward of each candidate next frame\n"
    )
    print("| model | " + " | ".join(CANDIDATES) + " | mean move ranked first |")
    print("|---|" + "---|" * len(CANDIDATES) + "---|")
    for name, values in steps.items():
        best = values[CANDIDATES[2]] > np.maximum(values[CANDIDATES[0]], values[CANDIDATES[1]])
        cells = [f"{values[c].mean():.3f}" for c in CANDIDATES]
        print(f"| {name} | " + " | ".join(cells) + f" | {best.mean():.0%} |")
    print(f"\ntokenizer fit {stages['tokenizer']['seconds']:.0f} s; total wall time {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
