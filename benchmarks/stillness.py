"""Does the reward rate doing nothing, or the trained agent, like the expert?

The score stage ranks the expert, noisy experts and a random policy; an agent can still find
behaviour outside that set which the reward rates like the expert: holding still is the usual
one, since a frame that does not change is easy to predict and every expert video has still
stretches (its start, its end). For a finished workdir this rolls out the scripted expert, the
``idle`` policy (the zero / no-op action) and a random policy on the same reset seeds, adds the
agent's kept evaluation episodes (the newest agent stage's ``eval_episodes.npz``, or
``--agent STAGE``), scores all of them with the workdir's reward and prints, per policy, the mean
true return, the mean reward return and its **position** between random (0) and the expert (1):
near 1 for a policy that does not do the task means the reward cannot tell it from the expert.
It also prints each policy's discounted return from the first step at the given ``--discounts``:
an agent with that discount prefers whichever policy has the highest, so a still policy above the
expert there is an optimum the agent is right to settle in (the reward's ``--set`` options, e.g.
``normalize=symlog``, and the discount change which wins).

``--cross WORKDIR ...`` asks whether an agent's look-alike fools only its own model: the other
workdirs (the same env, other seeds) add their rewards and their agents' kept episodes (policy
``agent@NAME``), and a second table gives every policy's position under each workdir's reward and
under an ensemble of them, the mean and the minimum of the per-step rewards after each model's are
mapped to random 0 / expert 1 (the pessimistic reward an ensemble would give).

    MUJOCO_GL=egl python benchmarks/stillness.py --workdir runs/arm-reach/seed0 --env arm:reach \\
        [--episodes 5] [--reward viper] [--set normalize=symlog] [--discounts 0.99 0.997] \\
        [--agent agent-xxxx] [--cross runs/arm-reach/seed1 runs/arm-reach/seed2] [--json out.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_write_json
from viper.core.components import EnvName, resolve_env
from viper.core.diagnostics import EVAL_EPISODES_FILE, load_episodes
from viper.core.errors import ConfigError, WorkdirError
from viper.core.plugins import get_host
from viper.core.rewarding import build_reward, expert_dataset, reward_context
from viper.core.stages.score import ScoreConfig, score_episodes
from viper.core.stages.score import rollouts as score_rollouts
from viper.core.workdir import Workdir

POLICIES = ("expert", "idle", "random")


def rollouts(suite: Any, name: EnvName, episodes: int, seed: int, size: int) -> list[dict[str, Any]]:
    """``episodes`` episodes of each of :data:`POLICIES` on the score stage's policy and reset
    seeds, so the expert and random rows match its table."""
    config = ScoreConfig(env=str(name), episodes=episodes, seed=seed, size=size, videos=0)
    plan = [(kind, kind, 0.0) for kind in POLICIES]
    return score_rollouts(suite, name.task, config, progress=False, plan=plan)[0]


def agent_episodes(wd: Workdir, stage: str | None) -> tuple[str | None, list[dict[str, Any]]]:
    """The kept evaluation episodes of agent stage ``stage`` (default: the newest) and that
    stage's folder name, or ``(None, [])`` where there are none."""
    try:
        directory = wd.path / stage if stage else wd.latest("agent")
    except WorkdirError:  # no agent stage in this workdir
        return None, []
    path = directory / EVAL_EPISODES_FILE
    if stage and not path.exists():
        raise ConfigError(f"--agent {stage}: no {EVAL_EPISODES_FILE} in {directory}")
    return (directory.name, load_episodes(path)) if path.exists() else (None, [])


def model_stages(wd: Workdir) -> dict[str, str]:
    """The stage folders the reward was built from (it reads each kind's newest), so a recorded
    table names the models behind it."""
    used = {}
    for kind in ("data", "tokenizer", "video_model"):
        try:
            used[kind] = wd.latest(kind).name
        except WorkdirError:
            continue
    return used


def discounted(rewards: np.ndarray, discount: float) -> float:
    return float(np.sum(rewards * discount ** np.arange(len(rewards))))


def summarize(
    episodes: list[dict[str, Any]], values: list[np.ndarray], discounts: list[float]
) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, float]] = {}
    for policy in dict.fromkeys(e["policy"] for e in episodes):
        picked = [(e, v) for e, v in zip(episodes, values) if e["policy"] == policy]
        returns = np.array([v[1:].sum() for _, v in picked])
        rows[policy] = {
            "episodes": len(picked),
            "true_return": float(np.mean([e["task_reward"][1:].sum() for e, _ in picked])),
            "reward_return": float(returns.mean()),
            "reward_return_std": float(returns.std()),
            "reward_per_step": float(np.mean([v[1:].mean() for _, v in picked])),
            "discounted": {str(g): float(np.mean([discounted(v[1:], g) for _, v in picked])) for g in discounts},
        }
    low, high = rows["random"]["reward_return"], rows["expert"]["reward_return"]
    for row in rows.values():
        row["position"] = (row["reward_return"] - low) / (high - low) if high != low else float("nan")
    return rows


def per_step_positions(episodes: list[dict[str, Any]], values: list[np.ndarray]) -> list[np.ndarray]:
    """``values`` mapped so that the random policy's mean reward per step is 0 and the expert's 1,
    which puts rewards from different models on one scale."""
    low, high = (
        np.mean([v[1:].mean() for e, v in zip(episodes, values) if e["policy"] == p]) for p in ("random", "expert")
    )
    return [(v - low) / (high - low) for v in values]


def cross_positions(episodes: list[dict[str, Any]], scores: dict[str, list[np.ndarray]]) -> dict[str, dict[str, float]]:
    """Each policy's position under each reward in ``scores`` and under their ensemble mean and
    minimum (per step, after :func:`per_step_positions`)."""
    scaled = [per_step_positions(episodes, values) for values in scores.values()]
    combined = {
        name: [reduce(np.stack([model[i] for model in scaled]), axis=0) for i in range(len(episodes))]
        for name, reduce in (("mean", np.mean), ("min", np.min))
    }
    return {
        name: {policy: row["position"] for policy, row in summarize(episodes, values, []).items()}
        for name, values in (scores | combined).items()
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a script that scores policies with a workdir's fitted reward (this one and
    ``push_partial.py``)."""
    parser.add_argument("--workdir", type=Path, required=True, help="a workdir with a fitted reward")
    parser.add_argument("--episodes", type=int, default=5, help="episodes per policy (default 5)")
    parser.add_argument("--reward", default="viper", help="reward component to score (default viper)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="an option of the reward")
    parser.add_argument("--discounts", type=float, nargs="+", default=[0.99, 0.997], help="discounts to compare at")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=64, help="frame size the reward was fitted on (default 64)")
    parser.add_argument("--json", type=Path, default=None, help="also write the table here")


def fitted_reward(args: argparse.Namespace, env: str) -> tuple[EnvName, Any, Workdir, Any, dict[str, str]]:
    """``(name, suite, workdir, reward, options)`` for :func:`add_arguments`' options, checked
    before any rollout so that bad input fails fast."""
    if args.episodes < 1:
        raise SystemExit(f"--episodes {args.episodes}: expected at least 1")
    if not args.workdir.is_dir():
        raise SystemExit(f"--workdir {args.workdir}: not a folder")
    if any("=" not in item for item in args.set) or not all(0 < g <= 1 for g in args.discounts):
        raise SystemExit("--set: expected FIELD=VALUE; --discounts: expected values in (0, 1]")
    options = dict(item.split("=", 1) for item in args.set)
    host = get_host()
    name, suite = resolve_env(env, host)
    wd = Workdir(args.workdir)
    context = reward_context(
        wd, suite, name.task, size=args.size, seed=args.seed, host=host, expert_data=expert_dataset(wd, None)
    )
    return name, suite, wd, build_reward(args.reward, context, options, host), options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--env", required=True, help="SUITE:TASK the reward was fitted for")
    parser.add_argument("--agent", default=None, help="agent stage folder (default: the newest)")
    parser.add_argument(
        "--cross",
        type=Path,
        nargs="+",
        default=[],
        metavar="WORKDIR",
        help="other workdirs of the same env to cross-score",
    )
    args = parser.parse_args()
    name, suite, wd, reward, options = fitted_reward(args, args.env)
    here = f"{args.workdir.parent.name}/{args.workdir.name}"
    others = {}
    for other in args.cross:  # every model loads before any rollout, so a bad path fails fast
        key = f"{other.parent.name}/{other.name}"
        key = str(other) if key in others or key == here else key  # e.g. the same seed under another root
        others[key] = fitted_reward(argparse.Namespace(**vars(args) | {"workdir": other}), args.env)[2:4]
    agent, kept = agent_episodes(wd, args.agent)
    episodes = rollouts(suite, name, args.episodes, args.seed, args.size) + kept
    for key, (other_wd, _) in others.items():
        episodes += [e | {"policy": f"agent@{key}"} for e in agent_episodes(other_wd, None)[1]]
    values = score_episodes({args.reward: reward}, episodes, 8, progress=True)[args.reward]
    rows = summarize(episodes, values, args.discounts)

    stages = model_stages(wd) | ({"agent": agent} if agent else {})
    record = {"env": args.env, "reward": args.reward, "options": options, "stages": stages}
    if others:
        scores = {here: values} | {
            key: score_episodes({args.reward: r}, episodes, 8, progress=True)[args.reward]
            for key, (_, r) in others.items()
        }
        record["cross"] = cross_positions(episodes, scores)
        record["cross_workdirs"] = {key: str(path) for key, path in zip(others, args.cross)}
    report(args, args.env, rows, record)


def report(args: argparse.Namespace, env: str, rows: dict[str, dict[str, Any]], record: dict[str, Any]) -> None:
    """Print the table of :func:`summarize`'s rows; with ``--json``, write them beside ``record``."""
    shown = " ".join([args.reward, *args.set])
    print(f"\n{env}, {args.workdir}: {shown} return; position 0 = random, 1 = expert\n")
    gammas = "".join(f" discounted, {g:g} |" for g in args.discounts)
    print(f"| policy | episodes | true return | return | per step | position |{gammas}")
    print("|---|---:|---:|---:|---:|---:|" + "---:|" * len(args.discounts))
    for policy, row in rows.items():
        values = "".join(f" {v:.0f} |" for v in row["discounted"].values())
        print(
            f"| {policy} | {row['episodes']} | {row['true_return']:.1f} | {row['reward_return']:.0f} "
            f"± {row['reward_return_std']:.0f} | {row['reward_per_step']:.2f} | {row['position']:.2f} |{values}"
        )
    if "cross" in record:
        models = list(record["cross"])
        print("\nposition under each workdir's reward and their ensemble (per step, random 0 / expert 1)\n")
        print("| policy | " + " | ".join(models) + " |\n|---|" + "---:|" * len(models))
        for policy in rows:
            print(f"| {policy} | " + " | ".join(f"{record['cross'][m][policy]:.2f}" for m in models) + " |")
    if args.json:
        atomic_write_json(args.json, record | {"workdir": str(args.workdir), "rows": rows})
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
