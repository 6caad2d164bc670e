"""``viper-run train``: train an agent on an env with a chosen reward (the workdir's ``agent`` stage)."""

from __future__ import annotations

import argparse
import math

from viper.core.config import parse_assignments

NAME = "train"
HELP = "train an agent (dreamer, drq, ...) on SUITE:TASK with a chosen reward (viper, task, ...)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, metavar="SUITE:TASK", help="environment, e.g. lite:reach")
    parser.add_argument("--agent", default="dreamer", help="agent component (default dreamer)")
    parser.add_argument(
        "--reward",
        default="viper",
        help="reward the agent maximises (default viper; `task` is the env's own reward, an oracle baseline)",
    )
    parser.add_argument("--explore", default=None, help="add an exploration bonus reward, e.g. rnd (needs --beta)")
    parser.add_argument("--beta", type=float, default=None, help="weight of the --explore bonus: reward + BETA * bonus")
    parser.add_argument("--workdir", default="runs/default", metavar="DIR", help="run folder (default runs/default)")
    parser.add_argument("--steps", type=int, default=None, metavar="N", help="env steps to train (default loop.steps)")
    parser.add_argument("--seed", type=int, default=0, help="seed of envs, agent and loop (default 0)")
    parser.add_argument("--size", type=int, default=64, help="frame height and width in pixels (default 64)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="option of the agent, reward, loop or env, e.g. --set agent.preset=small --set loop.num_envs=4 (repeatable)",
    )
    add_backend_flags(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_backend_flags(parser: argparse.ArgumentParser) -> None:
    """``--backend``, ``--num-workers``, ``--ray-address``: short for ``--set loop.FIELD=VALUE``."""
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default=None,
        help="where the training envs step: local (default) or ray (env workers as Ray actors, the reward "
        "stream in one more actor; pip install 'viper-core[ray]')",
    )
    parser.add_argument(
        "--num-workers", type=int, default=None, metavar="N", help="Ray env workers, 1 to loop.num_envs (default 1)"
    )
    parser.add_argument(
        "--ray-address", default=None, metavar="ADDR", help="Ray cluster to join (default: start one on this machine)"
    )


def backend_options(args: argparse.Namespace, options: dict[str, dict]) -> dict[str, dict]:
    """``options`` with the backend flags that were given put into its ``loop`` section."""
    flags = {"backend": args.backend, "num_workers": args.num_workers, "ray_address": args.ray_address}
    given = {key: value for key, value in flags.items() if value is not None}
    return {**options, "loop": {**options.get("loop", {}), **given}} if given else options


def run(args: argparse.Namespace) -> int:
    from viper.core.frameworks import configure_frameworks

    configure_frameworks()  # before the agent stage's imports can load jax
    from viper.core.stages.agent import train_stage

    metrics = train_stage(
        args.workdir,
        args.env,
        args.agent,
        args.reward,
        steps=args.steps,
        seed=args.seed,
        options=backend_options(args, parse_assignments(args.set)),
        size=args.size,
        progress=not args.no_progress,
        explore=args.explore,
        beta=args.beta,
    )
    best = metrics.get("eval_return_best", math.nan)
    print(
        f"agent {args.agent} on {args.env} with reward {args.reward}: {metrics['env_steps']} env steps, "
        f"{metrics['updates']} updates, eval return {metrics['eval_return']:.2f} (best {best:.2f}); "
        f"saved in {metrics['stage_dir']}"
    )
    return 0
