"""``viper-run [OPTIONS]``: the main pipeline, from expert videos to a trained agent and a report."""

from __future__ import annotations

import argparse

from viper.core.commands.train import add_backend_flags, backend_options
from viper.core.config import parse_assignments
from viper.core.pipeline import PipelineConfig, resolve, run_pipeline

NAME = "run"
HELP = "run the whole pipeline (the default when no command is given)"


def configure(parser: argparse.ArgumentParser) -> None:
    d = PipelineConfig()
    parser.add_argument("--env", default=d.env, metavar="SUITE:TASK", help=f"environment to learn (default {d.env})")
    parser.add_argument("--tokenizer", default=d.tokenizer, help=f"tokenizer component (default {d.tokenizer})")
    parser.add_argument("--model", default=d.model, help=f"video model component (default {d.model})")
    parser.add_argument("--reward", default=d.reward, help=f"reward component the agent maximises (default {d.reward})")
    parser.add_argument("--agent", default=d.agent, help=f"agent component (default {d.agent})")
    parser.add_argument("--explore", default=None, help="add an exploration bonus reward, e.g. rnd (with --beta)")
    parser.add_argument("--beta", type=float, default=None, help="weight of the --explore bonus: reward + BETA * bonus")
    parser.add_argument(
        "--workdir", default=d.workdir, metavar="DIR", help=f"where every stage writes (default {d.workdir})"
    )
    parser.add_argument("--data", default=None, metavar="DIR", help="use this expert dataset instead of collecting one")
    parser.add_argument(
        "--episodes", type=int, default=None, metavar="N", help="expert episodes to collect (default from --preset)"
    )
    parser.add_argument(
        "--expert",
        default=d.expert,
        metavar="expert|agent:WORKDIR[@best]",
        help="who records the expert videos and plays the expert in the score: the suite's scripted expert "
        "(default) or the agent `viper-run train --workdir WORKDIR` trained (tasks without a scripted expert; @best: its "
        "best-evaluated agent, kept with --set loop.keep_best=true)",
    )
    parser.add_argument(
        "--random-episodes",
        type=int,
        default=None,
        metavar="N",
        help="random-policy episodes to record for the tokenizer's training split only, so it also draws frames "
        "the expert never shows (default from --preset: 0)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        metavar="N",
        help="agent env steps (default from --preset; 0: no agent, the run ends with the reward's score and "
        "its report)",
    )
    parser.add_argument(
        "--preset",
        default=d.preset,
        choices=tuple(PipelineConfig.PRESETS),
        help="sizes: quick (2-core CPU, default) or paper (GPU)",
    )
    parser.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KIND.FIELD=VALUE",
        help=(
            "override an option of a section (env, tokenizer, video_model, reward, explore, agent, loop), "
            "e.g. --set tokenizer.codebook_size=512 --set loop.num_envs=4 --set env.episode_length=100 (repeatable; "
            "`viper-run plugins --options NAME` lists the options of component NAME)"
        ),
    )
    add_backend_flags(parser)
    parser.add_argument("--check", action="store_true", help="resolve and validate every component, then stop")


def run(args: argparse.Namespace) -> int:
    config = PipelineConfig(
        env=args.env,
        tokenizer=args.tokenizer,
        model=args.model,
        reward=args.reward,
        agent=args.agent,
        explore=args.explore,
        beta=args.beta,
        workdir=args.workdir,
        data=args.data,
        expert=args.expert,
        episodes=args.episodes,
        random_episodes=args.random_episodes,
        steps=args.steps,
        preset=args.preset,
        seed=args.seed,
        options=backend_options(args, parse_assignments(args.set)),
    )
    plan = resolve(config)
    if plan.loop.get("backend") == "ray":
        from viper.core.loop.ray_backend import import_ray

        import_ray()  # before the first stage, not after the video model trained
    print(plan.describe())
    if args.check:
        return 0
    result = run_pipeline(plan)
    print(f"report: {result['report']}")
    return 0
