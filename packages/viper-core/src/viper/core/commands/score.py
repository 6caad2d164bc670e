"""``viper-run score``: check a reward against the true return before training on it."""

from __future__ import annotations

import argparse

from viper.core.config import parse_assignments
from viper.core.errors import ConfigError
from viper.core.stages.score import ScoreConfig, score

NAME = "score"
HELP = "roll out expert / noisy / random policies and check that the reward ranks them like the true return"


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--noise {text!r}: expected comma-separated numbers, e.g. 0.1,0.3,0.6") from None


def configure(parser: argparse.ArgumentParser) -> None:
    d = ScoreConfig(env="lite:reach")
    parser.add_argument("--workdir", default="runs/default", metavar="DIR", help="run folder with a trained model")
    parser.add_argument("--env", required=True, metavar="SUITE:TASK", help="environment, e.g. lite:reach")
    parser.add_argument(
        "--episodes", type=int, default=d.episodes, metavar="N", help=f"episodes per policy (default {d.episodes})"
    )
    parser.add_argument(
        "--reward",
        action="append",
        default=None,
        metavar="NAME",
        help="reward to score (repeatable; default viper), e.g. --reward viper --reward task",
    )
    parser.add_argument(
        "--noise",
        default=",".join(f"{n:g}" for n in d.noise),
        metavar="LEVELS",
        help=f"action-noise levels of the noisy experts (default {','.join(f'{n:g}' for n in d.noise)})",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="REWARD.FIELD=VALUE",
        help="option of one scored reward, e.g. --set viper.mode=joint (reward.FIELD means the first --reward), "
        "or of the env, e.g. --set env.action_set=minimal",
    )
    parser.add_argument(
        "--expert",
        default=d.expert,
        metavar="expert|agent:WORKDIR[@best]",
        help="who plays the expert and the noisy experts: the suite's scripted expert (default) or the agent "
        "`viper-run train --workdir WORKDIR` trained (for tasks without a scripted expert; @best: its best-evaluated agent)",
    )
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--size", type=int, default=d.size, help=f"frame height and width (default {d.size})")
    parser.add_argument(
        "--videos", type=int, default=d.videos, metavar="N", help="episodes per policy in the mp4 (0: none)"
    )
    parser.add_argument(
        "--no-idle",
        dest="idle",
        action="store_false",
        help="skip the idle probe (the zero / no-op action: what the reward pays for doing nothing)",
    )
    parser.add_argument("--max-steps", type=int, default=None, metavar="N", help="cut episodes after N steps")
    parser.add_argument("--data", default=None, metavar="DIR", help="expert videos for amp (default: the workdir's)")
    parser.add_argument("--force", action="store_true", help="score again even if this configuration was scored")


def run(args: argparse.Namespace) -> int:
    rewards = tuple(args.reward or ["viper"])
    options = parse_assignments(args.set)
    if "reward" in options:
        options.setdefault(rewards[0], {}).update(options.pop("reward"))
    env_options = options.pop("env", {})
    config = ScoreConfig(
        env=args.env,
        episodes=args.episodes,
        rewards=rewards,
        options=options,
        noise=_floats(args.noise),
        expert=args.expert,
        seed=args.seed,
        size=args.size,
        videos=args.videos,
        idle=args.idle,
        max_steps=args.max_steps,
        data=args.data,
        env_options=env_options,
    )
    result = score(args.workdir, config, force=args.force)
    print(result.table())
    files = ", ".join(str(result.directory / f) for f in result.summary.get("files", {}).values())
    print(
        f"{'cached in' if result.cached else 'wrote'} {result.directory / 'score.json'}"
        + (f" ({files})" if files else "")
    )
    return 0
