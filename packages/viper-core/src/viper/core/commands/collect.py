"""``viper-run collect``: record scripted-expert or random episodes into a dataset."""

from __future__ import annotations

import argparse

import numpy as np

from viper.core.collect import collect
from viper.core.config import parse_assignments
from viper.core.errors import ConfigError

NAME = "collect"
HELP = "record scripted-expert, random, idle or trained-agent episodes of SUITE:TASK into a dataset folder"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, metavar="SUITE:TASK", help="environment, e.g. lite:reach")
    parser.add_argument("--episodes", type=int, required=True, metavar="N", help="number of episodes to record")
    parser.add_argument("--out", required=True, metavar="DIR", help="dataset folder to create (must be new or empty)")
    parser.add_argument(
        "--policy",
        default="expert",
        metavar="expert|random|idle|agent:WORKDIR[@best]",
        help="who acts: the suite's scripted expert (default), uniform random actions, the zero / no-op action "
        "(idle), or the agent "
        "`viper-run train --workdir WORKDIR` trained (evaluation mode, on the env it trained on; @best: its best-evaluated "
        "agent, kept with --set loop.keep_best=true)",
    )
    parser.add_argument(
        "--noise", type=float, default=0.0, help="perturb the expert's (or agent's) actions with this noise level (0-1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="episode i is reset with seed SEED+i (default 0)")
    parser.add_argument("--size", type=int, default=64, help="frame height and width in pixels (default 64)")
    parser.add_argument(
        "--resume", action="store_true", help="top up an existing dataset in --out instead of refusing it"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="env.FIELD=VALUE",
        help="env option (repeatable), e.g. --set env.body=square (see `viper-run plugins --env lite:reach`)",
    )
    parser.add_argument(
        "--label",
        default=None,
        metavar="TASK",
        help="file the episodes under this task name (default the env's task): what a task-conditioned "
        "video model is conditioned on, e.g. --env lite:reach --set env.body=square --label reach",
    )


def run(args: argparse.Namespace) -> int:
    options = parse_assignments(args.set)
    other = sorted(set(options) - {"env"})
    if other:
        raise ConfigError(f"--set {other[0]}.*: collect takes env options only (--set env.FIELD=VALUE)")
    writer = collect(
        args.env,
        args.episodes,
        args.out,
        policy=args.policy,
        noise=args.noise,
        seed=args.seed,
        size=args.size,
        resume=args.resume,
        env_options=options.get("env", {}),
        label=args.label,
    )
    returns = [e["return"] for e in writer.manifest["episodes"] if "return" in e]
    print(
        f"wrote {len(writer)} episodes to {writer.root} "
        f"(mean task return {np.mean(returns):.2f}, frames {writer.image_size[0]}x{writer.image_size[1]})"
    )
    return 0
