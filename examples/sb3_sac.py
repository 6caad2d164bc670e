"""Stable-Baselines3 SAC learning ``lite:reach`` from the VIPER reward alone, through ``RewardWrapper``.

The agent observes the env's ``state`` vector; the reward is the log-likelihood of each new 64x64
frame under the video model of a viper workdir (standardised by its running mean and std, as
``viper-run`` does); the env's own reward is never used for training, only for the evaluation.

    pip install torch==2.13.0                          # the CPU wheel first (or your CUDA build)
    pip install -e 'packages/viper-rewards[sb3]'       # stable-baselines3
    python examples/sb3_sac.py --workdir runs/default  # reuse what `viper-run` trained there

A workdir without a trained tokenizer and video model is built first with the ``quick`` preset
(``viper-run collect``, ``fit-tokenizer``, ``fit-model``: about 5 minutes on 2 CPU cores). At
the end the script prints the agent's true return over ``--eval-episodes`` evaluation episodes
next to the scripted expert's on the same seeds (``--json FILE`` writes them too).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

from viper.core.components import load_suite, make_env
from viper.core.errors import WorkdirError
from viper.core.workdir import Workdir
from viper.rewards import RewardWrapper

ENV = "lite:reach"
EVAL_SEED = 10_000  # evaluation episodes use seeds the training episodes never draw


def ensure_models(workdir: Path, episodes: int, seed: int) -> None:
    """Collect expert videos and fit the tokenizer and video model unless the workdir has them."""
    try:
        wd = Workdir(workdir, create=False)
        wd.latest("tokenizer"), wd.latest("video_model")
        return
    except WorkdirError:
        pass
    data = workdir / "expert-videos"
    viper_run = [sys.executable, "-m", "viper.core.cli"]
    steps = [
        ["collect", "--env", ENV, "--episodes", str(episodes), "--out", str(data), "--seed", str(seed), "--resume"],
        ["fit-tokenizer", "--data", str(data), "--workdir", str(workdir), "--preset", "quick", "--seed", str(seed)],
        ["fit-model", "--data", str(data), "--workdir", str(workdir), "--preset", "quick", "--seed", str(seed)],
    ]
    for step in steps:
        print("$ viper-run", " ".join(step), flush=True)
        subprocess.run([*viper_run, *step], check=True)


def state_only(env: gym.Env) -> gym.Env:
    """The ``state`` vector as a flat Box, what SB3's MlpPolicy takes."""
    return gym.wrappers.FlattenObservation(gym.wrappers.FilterObservation(env, ["state"]))


def make_training_env(workdir: Path, seed: int, normalize: str = "symlog") -> gym.Env:
    # task= names the env for the reward (its image mask, the video model's task); the env's own
    # reward is kept in info["task_reward"] and never reaches the agent.
    # data: the expert videos collected here, when this script built the workdir (else the workdir's).
    data = workdir / "expert-videos" if (workdir / "expert-videos").is_dir() else None
    env = RewardWrapper(make_env(ENV, seed=seed), "viper", workdir, task=ENV, data=data, normalize=normalize, seed=seed)
    return state_only(env)


def true_return(policy, episodes: int) -> float:
    """Mean of the env's own return over ``episodes`` episodes (seeds ``EVAL_SEED + i``)."""
    env = make_env(ENV)
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=EVAL_SEED + i)
        policy.reset(env)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy.act(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


class AgentPolicy:
    """The SAC actor, deterministic, on the ``state`` observation."""

    def __init__(self, model) -> None:
        self.model = model

    def reset(self, env: gym.Env) -> None:
        pass

    def act(self, obs: dict) -> np.ndarray:
        return self.model.predict(obs["state"], deterministic=True)[0]


class ExpertPolicy:
    """The suite's scripted expert (it reads the env it drives)."""

    def reset(self, env: gym.Env) -> None:
        self.expert = load_suite("lite").expert("reach", env)
        self.expert.reset()

    def act(self, obs: dict) -> np.ndarray:
        return np.asarray(self.expert.act(obs), np.float32)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs/sb3"), help="viper workdir (built if missing)")
    parser.add_argument("--steps", type=int, default=20_000, help="env steps of training (default 20000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument(
        "--eval-every", type=int, default=5_000, help="env steps between evaluations (0: only at the end)"
    )
    parser.add_argument("--episodes", type=int, default=60, help="expert episodes to collect if the workdir is new")
    parser.add_argument(
        "--normalize",
        default="symlog",
        choices=("none", "symlog", "running"),
        help="the VIPER reward's scaling (default symlog: it squashes the far-off states' large negative "
        "log-likelihoods more than the few-nat differences near the expert)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)

    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback, EveryNTimesteps

    torch.set_num_threads(args.threads)
    started = time.time()
    ensure_models(args.workdir, args.episodes, args.seed)
    fitted = time.time()
    env = make_training_env(args.workdir, args.seed, args.normalize)
    model = SAC("MlpPolicy", env, seed=args.seed, learning_starts=1_000, verbose=0)
    curve: list[tuple[int, float]] = []

    class Evaluate(BaseCallback):
        def _on_step(self) -> bool:
            curve.append((self.num_timesteps, true_return(AgentPolicy(self.model), args.eval_episodes)))
            print(f"step {self.num_timesteps}: true return {curve[-1][1]:.1f}", flush=True)
            return True

    callback = EveryNTimesteps(args.eval_every, Evaluate()) if args.eval_every else None
    model.learn(total_timesteps=args.steps, callback=callback)
    trained = time.time()
    result = {
        "env": ENV,
        "seed": args.seed,
        "steps": args.steps,
        "eval_episodes": args.eval_episodes,
        "eval_return": true_return(AgentPolicy(model), args.eval_episodes),
        "expert_return": true_return(ExpertPolicy(), args.eval_episodes),
        "curve": curve,
        "fit_seconds": round(fitted - started, 1),
        "train_seconds": round(trained - fitted, 1),
        "steps_per_second": round(args.steps / (trained - fitted), 1),
    }
    result["fraction_of_expert"] = result["eval_return"] / result["expert_return"]
    print(
        f"SAC on the viper reward: true return {result['eval_return']:.1f} vs the expert's {result['expert_return']:.1f} "
        f"({100 * result['fraction_of_expert']:.0f}%), {args.steps} steps in {result['train_seconds']:.0f} s"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
