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
   same context, and how often the mean move is ranked first; for the ``latent-predictor`` also
   where its one prediction lies: its squared distance (unit vectors, ``2 - 2 cos``) to the
   target embeddings of mode A's, mode B's and the mean move's frames and to the midpoint of the
   two modes' embeddings, and how often that midpoint is nearer than both modes (a model that
   regresses to the mean of two modes predicts that midpoint).

``--env-set FIELD=VALUE`` sets an env option (``--set env.FIELD=VALUE`` of ``viper-run``, e.g.
``step=0.25``: zigzag's moves of one 8x8 code cell) for the recorded data and every held-out
rollout; the workdir records the env and its options and refuses another setting, and the
default workdir names them, so each setting has its own data, tokenizer and models.

A likelihood model of both modes should rate mode A and mode B above the mean path; a
deterministic latent predictor regresses to the mean of the modes and need not.
``likelihood`` models report nats, ``latent-predictor`` its score (``2 cos - 2``).

    python benchmarks/multimodality.py [--env lite:reach-two|lite:zigzag] [--env-set step=0.25]
        [--workdir runs/multimodality-TASK[-FIELD-VALUE]] [--episodes 60] [--preset quick]
        [--eval-episodes 8] [--models ar-transformer,maskgit,latent-predictor] [--fork N]
        [--json benchmarks/results/multimodality-TASK.json]
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
    step: float | None = None
    """The task's own move per step where its ``step`` option sets the move: the fork is then
    ``fork * step / option`` transitions (a climb of as many moves)."""

    def fork_for(self, options: dict) -> int:
        """The default fork length under env ``options``."""
        if self.step is None or options.get("step") is None:
            return self.fork
        return max(1, round(self.fork * self.step / float(options["step"])))


CHECKS = {
    # reach-two's mode is plain from the frames after its first step: one step where both are open
    "lite:reach-two": Check("reach-two", "viper.envs.lite.reach_two:ReachTwoExpert", ("left", "right"), 5, 1),
    # zigzag climbs for 15 or 16 steps (start jitter): its first 15 transitions are all forks
    "lite:zigzag": Check("zigzag", "viper.envs.lite.zigzag:ZigZagExpert", ("up-left", "up-right"), 15, 15, 0.1),
}
EVAL_SEED = 100_000  # held-out episodes start here (training episodes use seeds 0..N-1)


def viper_run(*args: str) -> str:
    """Runs ``viper-run ARGS`` (its progress on stderr shows); returns its stdout, echoed."""
    command = [shutil.which("viper-run") or "viper-run", *args]
    print("$", " ".join(command), file=sys.stderr, flush=True)
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    print(out, end="", flush=True)
    return out


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
        out = viper_run("fit-tokenizer", "--workdir", str(workdir), "--data", str(data), "--preset", preset, *extra)
    else:
        out = viper_run(
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
    # The stage's own folder, from the "... saved in FOLDER/artifact" line: a reused (cached)
    # stage need not be the workdir's latest, so latest.json could name another model's.
    saved = [line.rsplit(" saved in ", 1)[1] for line in out.splitlines() if " saved in " in line]
    if not saved:
        raise RuntimeError(f"viper-run fit of {component} printed no 'saved in FOLDER/artifact' line")
    folder = Path(saved[-1].strip()).parent
    info = json.loads((folder / "stage.json").read_text())
    info["folder"] = folder.name
    return info


def policies(check: Check) -> tuple[str, ...]:
    return (f"mode A ({check.modes[0]})", f"mode B ({check.modes[1]})", "mean path", "random")


def expert_class(check: Check) -> type:
    module, name = check.expert.split(":")
    return getattr(importlib.import_module(module), name)


def env_options(check: Check, settings: list[str]) -> dict:
    """``--env-set FIELD=VALUE`` items as the lite suite's checked options (Python values)."""
    from viper.core.components import literal_options
    from viper.core.errors import ConfigError
    from viper.envs.lite import LiteSuite

    options = {}
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--env-set {item!r}: expected FIELD=VALUE, e.g. step=0.25")
        options[name] = value
    options = literal_options(options)
    try:
        LiteSuite().options(check.task, options)  # a bad name or value fails here, before any work
    except ConfigError as exc:
        raise SystemExit(f"--env-set: {exc}") from None
    return options


def claim_workdir(workdir: Path, record: dict) -> None:
    """Record the env settings of ``workdir`` (and its data) once; refuse a run with others, whose
    cached data, tokenizer and models would be of another task."""
    path = workdir / "multimodality.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if stored != record:
            raise SystemExit(f"{path}: this workdir holds a run with {stored}, not {record}; pass another --workdir")
        return
    workdir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(record, indent=1) + "\n")
    partial.replace(path)


def rollouts(check: Check, policy: str, episodes: int, size: int, options: dict) -> np.ndarray:
    """``uint8[E, T+1, H, W, 3]`` frames of ``episodes`` held-out episodes of ``policy``."""
    from viper.envs.lite import LiteSuite

    expert = expert_class(check)
    env = LiteSuite().make(check.task, seed=EVAL_SEED, size=size, **options)
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


def fork_clips(check: Check, episodes: int, size: int, options: dict) -> dict[str, list[np.ndarray]]:
    """The per-step view's inputs: at each of the first ``check.fork_steps`` steps of held-out
    episodes of the suite's expert where mode A and mode B would move differently, the episode's
    frames so far followed by the next frame of each candidate move (mode A's, mode B's, their
    mean), all from the same state: ``{candidate: [uint8[t+2, H, W, 3], ...]}``."""
    from viper.envs.lite import LiteSuite

    expert = expert_class(check)
    env = LiteSuite().make(check.task, seed=EVAL_SEED, size=size, **options)
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


def latent_distances(reward: object, model: object, clips: dict[str, list[np.ndarray]]) -> dict[str, float]:
    """Where a ``latent-predictor``'s prediction lies at the fork steps: the mean squared distance
    of the unit prediction to the unit target embeddings of each candidate's next frame and to
    the midpoint of the two modes' (``to midpoint``), the modes' own distance (``A to B``), and
    the share of states whose prediction is nearer the midpoint than both modes. The three clips
    of a state share their context, so the prediction is one per state."""
    import jax.numpy as jnp

    network, params = model.network, model.device_params()
    window = int(model.context) + 1
    targets, predicted = {}, []
    for c, candidate in enumerate(CANDIDATES):
        out = []
        for video in clips[candidate]:
            cut = video[-window:]
            codes = reward.encode(cut, np.zeros(len(cut), np.int32)).reshape(1, len(cut), -1)
            codes = jnp.asarray(codes)
            out.append(np.asarray(network.embed(params["target"], codes[:, -1]))[0])
            if c == 0:
                online = params["online"]
                context = network.windows(online, network.embed(online["encoder"], codes))[:, -1]
                predicted.append(np.asarray(network.predict(online, context, jnp.zeros(1, jnp.int32)))[0])
        targets[candidate] = np.stack(out)

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.sqrt(np.sum(x * x, -1, keepdims=True) + 1e-12)

    def distance(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.sum((unit(u) - unit(v)) ** 2, -1)

    p, a, b = np.stack(predicted), targets[CANDIDATES[0]], targets[CANDIDATES[1]]
    middle = unit(a) + unit(b)
    near = distance(p, middle) < np.minimum(distance(p, a), distance(p, b))
    out = {f"to {c}": float(distance(p, targets[c]).mean()) for c in CANDIDATES}
    out.update(
        {
            "to midpoint": float(distance(p, middle).mean()),
            "A to B": float(distance(a, b).mean()),
            "midpoint nearest": float(near.mean()),
        }
    )
    return out


def rewards(
    workdir: Path, tokenizer: object, stage: str, frames: dict[str, np.ndarray], fork: int, clips: dict
) -> tuple[str, dict, dict, dict | None]:
    """``(units, {policy: (whole-episode mean, mean over the first fork transitions)},
    {candidate: fork-step rewards}, latent distances or None)`` for the model of ``stage``."""
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
    deterministic = getattr(model, "likelihood", True) is False and hasattr(model, "network")
    distances = latent_distances(reward, model, clips) if deterministic else None
    return score_units(model), out, fork_rewards(reward, model, clips), distances


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="lite:reach-two", choices=sorted(CHECKS))
    parser.add_argument(
        "--env-set", action="append", default=[], metavar="FIELD=VALUE", help="env option (e.g. step=0.25)"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="default: runs/multimodality-TASK plus the env options"
    )
    parser.add_argument("--episodes", type=int, default=60, help="expert episodes to train on")
    parser.add_argument("--eval-episodes", type=int, default=8, help="held-out episodes per policy")
    parser.add_argument("--models", default="ar-transformer,maskgit,latent-predictor")
    parser.add_argument("--preset", default="quick", help="preset of the tokenizer and every model")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument(
        "--fork", type=int, default=None, help="transitions counted as the fork (default: the task's own)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        help="extra MODEL:KIND.FIELD=VALUE options (MODEL: a model name, or tokenizer)",
    )
    parser.add_argument(
        "--model-seed",
        type=int,
        default=0,
        help="seed of every model fit (the tokenizer keeps seed 0, so a replicate reuses it)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the tables to this JSON file")
    args = parser.parse_args()
    from viper.core.collect import collect
    from viper.core.components import load_tokenizer

    check = CHECKS[args.env]
    options = env_options(check, args.env_set)
    fork = check.fork_for(options) if args.fork is None else args.fork
    if fork < 1:
        parser.error(f"--fork {fork}: expected at least 1 transition")
    columns = policies(check)

    workdir = args.workdir
    if workdir is None:
        workdir = Path("runs") / "-".join(["multimodality", check.task, *(f"{k}-{v}" for k, v in options.items())])
    data = workdir.parent / f"{workdir.name}-data"
    claim_workdir(workdir, {"env": args.env, "env_options": options, "episodes": args.episodes, "size": args.size})
    start = time.time()
    # episode i has seed i, so topping up an interrupted collection equals an uninterrupted one
    collect(args.env, args.episodes, data, size=args.size, env_options=options, resume=data.exists())
    extra = [s.split(":", 1)[1] for s in args.set if s.startswith("tokenizer:")]
    stages = {
        "tokenizer": fit(workdir, data, "tokenizer", "vqgan", args.preset, [x for s in extra for x in ("--set", s)])
    }
    for name in args.models.split(","):
        extra = [x for s in args.set if s.startswith(f"{name}:") for x in ("--set", s.split(":", 1)[1])]
        seed = ["--seed", str(args.model_seed)] if args.model_seed else []  # 0: the stages of older runs
        stages[name] = fit(workdir, data, "video_model", name, args.preset, extra + seed)
    tokenizer = load_tokenizer(workdir)
    frames = {p: rollouts(check, p, args.eval_episodes, args.size, options) for p in columns}
    setting = "".join(f", env.{k}={v}" for k, v in options.items())
    setting += f", model seed {args.model_seed}" if args.model_seed else ""
    print(
        f"\n{args.env}{setting}: {args.episodes} expert episodes, preset {args.preset}, "
        f"{args.eval_episodes} held-out episodes per policy"
    )
    print(f"mean viper reward per step, whole episode (fork: first {fork} transitions)\n")
    print("| model | units | " + " | ".join(columns) + " | both modes > mean path | fit s |")
    print("|---|---|" + "---|" * len(columns) + "---|---|")
    clips = fork_clips(check, args.eval_episodes, args.size, options)
    steps, distances, results = {}, {}, {}
    for name in args.models.split(","):
        units, table, steps[name], distances[name] = rewards(
            workdir, tokenizer, stages[name]["folder"], frames, fork, clips
        )
        cells = [f"{table[p][0]:.3f} ({table[p][1]:.3f})" for p in columns]
        mean = table[columns[2]]
        verdict = "yes" if all(table[p][0] > mean[0] for p in columns[:2]) else "no"
        verdict += " (yes)" if all(table[p][1] > mean[1] for p in columns[:2]) else " (no)"
        results[name] = {
            "units": units,
            "fit_seconds": stages[name]["seconds"],
            "episode": {p: table[p][0] for p in columns},
            "fork": {p: table[p][1] for p in columns},
        }
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
        results[name]["per_step"] = {c: float(values[c].mean()) for c in CANDIDATES}
        results[name]["per_step"]["mean move ranked first"] = float(best.mean())
    for name, found in distances.items():
        if found is None:
            continue
        results[name]["prediction"] = found
        print(
            f"\n{name}'s prediction at those states: squared distance (2 - 2 cos) to the target embedding of "
            "each candidate's next frame and to the midpoint of the two modes' embeddings\n"
        )
        print("| " + " | ".join(found) + " |")
        print("|" + "---|" * len(found))
        print("| " + " | ".join(f"{v:.0%}" if k == "midpoint nearest" else f"{v:.4f}" for k, v in found.items()) + " |")
    wall = time.time() - start
    print(f"\ntokenizer fit {stages['tokenizer']['seconds']:.0f} s; total wall time {wall:.0f} s")
    if args.json is not None:
        record = {
            "env": args.env,
            "env_options": options,
            "episodes": args.episodes,
            "eval_episodes": args.eval_episodes,
            "preset": args.preset,
            "model_seed": args.model_seed,
            "fork": fork,
            "fork_states": len(clips[CANDIDATES[0]]),
            "tokenizer_fit_seconds": stages["tokenizer"]["seconds"],
            "wall_seconds": wall,
            "models": results,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        partial = args.json.with_suffix(".tmp")
        partial.write_text(json.dumps(record, indent=1) + "\n")
        partial.replace(args.json)


if __name__ == "__main__":
    main()
