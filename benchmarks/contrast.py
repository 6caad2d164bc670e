"""Does subtracting a random-play model's likelihood stop the reward from paying for predictability?

A conditional log-likelihood is high wherever the next frame is easy to predict, expert-like or
not: a still body is predictable in any pose. A second video model, the same architecture and
budget fitted on random-policy videos of the same env, estimates how predictable a frame is
without the expert; the difference ``log p_expert - log p_random`` (a log density ratio, as a
discriminator reward would be) keeps what is specific to the expert. This fits that second model
(in ``WORKDIR-contrast``, on the workdir's tokenizer) and scores the expert, doing nothing, random
play, the workdir's newest trained agent's kept evaluation episodes (``--agent STAGE`` for
another) and, on ``lite:push``, ``push_partial.py``'s scripted halves, under four rewards: the
expert model alone and the difference, each raw and through symlog. Each row places a policy
between random (0) and the expert (1) as ``stillness.py`` does: a reward that cannot be fooled
rates the agent that failed the task below the expert.

    MUJOCO_GL=egl python benchmarks/contrast.py --workdir runs/arm-reach/seed0 --env arm:reach \\
        [--random-episodes 120] [--episodes 5] [--set mode=joint] [--json out.json]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stillness import add_arguments, agent_episodes, fitted_reward, model_stages, rollouts, summarize  # noqa: E402

from viper.core.atomic import atomic_write_json  # noqa: E402
from viper.core.plugins import PluginHost, get_host  # noqa: E402
from viper.core.rewarding import build_reward, reward_context  # noqa: E402
from viper.core.stages import fit_video_model, random_stage  # noqa: E402
from viper.core.stages.score import score_episodes  # noqa: E402
from viper.core.workdir import Workdir  # noqa: E402
from viper.rewards.normalize import symlog  # noqa: E402

#: Raw rewards: the difference is taken in nats, then squashed.
RAW = {"normalize": "none", "offset": "none"}


def contrast_workdir(
    wd: Workdir, path: Path, env: str, episodes: int, seed: int, size: int, host: PluginHost | None = None
) -> Workdir:
    """A workdir at ``path`` holding ``wd``'s tokenizer and a video model fitted, with the same
    component and options as ``wd``'s newest, on ``episodes`` random-policy episodes of ``env``."""
    tokenizer = wd.latest("tokenizer")
    out = Workdir(path)
    if not (out.path / tokenizer.name).exists():
        shutil.copytree(tokenizer, out.path / tokenizer.name)
    out.set_latest("tokenizer", tokenizer.name)
    stage = wd.latest_info("video_model")
    data = random_stage(out, env, episodes, seed=seed, size=size, host=host)
    component, options = stage["component"], stage["config"]["component"]
    fit_video_model(out.path, data, name=component, options=options, seed=seed, host=host, progress=False)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--env", required=True, help="SUITE:TASK the reward was fitted for")
    parser.add_argument("--agent", default=None, help="agent stage folder (default: the newest)")
    parser.add_argument("--random-episodes", type=int, default=120, help="random-play videos for the second model")
    args = parser.parse_args()
    if args.reward != "viper":
        raise SystemExit(f"--reward {args.reward}: this compares video-model likelihoods; use --reward viper")
    if args.random_episodes < 1:
        raise SystemExit(f"--random-episodes {args.random_episodes}: expected at least 1")
    args.set = [*args.set, *(f"{k}={v}" for k, v in RAW.items())]
    name, suite, wd, expert_reward, options = fitted_reward(args, args.env)

    host = get_host()
    other = contrast_workdir(
        wd, Path(f"{wd.path}-contrast"), args.env, args.random_episodes, args.seed, args.size, host
    )
    context = reward_context(other, suite, name.task, size=args.size, seed=args.seed, host=host, expert_data=None)
    random_reward = build_reward("viper", context, options, host)

    agent, kept = agent_episodes(wd, args.agent)
    episodes = rollouts(suite, name, args.episodes, args.seed, args.size) + kept[: args.episodes]
    if args.env == "lite:push":
        from push_partial import scripted

        for target in ("block", "ring"):
            episodes += scripted(suite, name.task, target, args.episodes, args.seed, args.size)
    scored = score_episodes({"expert": expert_reward, "random": random_reward}, episodes, 8, progress=True)
    ratio = [e - r for e, r in zip(scored["expert"], scored["random"])]
    variants = {
        "log p_expert": scored["expert"],
        "log p_expert - log p_random": ratio,
        "symlog(log p_expert)": [symlog(v) for v in scored["expert"]],
        "symlog(log p_expert - log p_random)": [symlog(v) for v in ratio],
    }
    tables = {label: summarize(episodes, values, args.discounts) for label, values in variants.items()}

    policies = list(next(iter(tables.values())))
    print(f"\n{args.env}, {args.workdir}: position of each policy (0 = random, 1 = expert) under each reward\n")
    print("| reward | " + " | ".join(policies) + " |")
    print("|---|" + "---:|" * len(policies))
    for label, rows in tables.items():
        print(f"| {label} | " + " | ".join(f"{rows[p]['position']:.2f}" for p in policies) + " |")
    if args.json:
        stages = (
            model_stages(wd) | ({"agent": agent} if agent else {}) | {"random_model": other.latest("video_model").name}
        )
        record = {"env": args.env, "options": options, "stages": stages, "workdir": str(args.workdir)}
        atomic_write_json(args.json, record | {"random_episodes": args.random_episodes, "tables": tables})
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
