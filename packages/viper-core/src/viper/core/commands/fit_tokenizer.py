"""``viper-run fit-tokenizer``: train a frame tokenizer on a video dataset."""

from __future__ import annotations

import argparse

from viper.core.config import parse_assignments
from viper.core.stages.data import require_data
from viper.core.stages.tokenizer import fit_tokenizer
from viper.core.workdir import Workdir

NAME = "fit-tokenizer"
HELP = "train a tokenizer (default vqgan) on a dataset's frames"


def add_fit_arguments(parser: argparse.ArgumentParser, kind: str, default: str) -> None:
    parser.add_argument(
        "--data", default=None, metavar="DIR", help="dataset folder (default: the workdir's collected data)"
    )
    parser.add_argument("--workdir", default="runs/default", metavar="DIR", help="run folder (default runs/default)")
    parser.add_argument(
        f"--{'model' if kind == 'video_model' else kind}",
        dest="component",
        default=default,
        help=f"component (default {default})",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar=f"{kind}.FIELD=VALUE", help="component option (repeatable)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--val-fraction", type=float, default=0.1, help="share of episodes held out per task (default 0.1)"
    )
    parser.add_argument(
        "--mask-suite",
        default=None,
        help="take per-task image masks from this env suite (default: the suite that made the data)",
    )


def configure(parser: argparse.ArgumentParser) -> None:
    add_fit_arguments(parser, "tokenizer", "vqgan")
    parser.add_argument(
        "--preset",
        default=None,
        metavar="NAME",
        help="the tokenizer's named option set applied before --set, e.g. quick (a CPU in minutes) or paper "
        "(default: the tokenizer's own defaults, the paper's for vqgan)",
    )
    parser.add_argument(
        "--extra-data",
        action="append",
        default=[],
        metavar="DIR",
        help="a further dataset whose episodes join the training split only, e.g. random-policy episodes from "
        "`viper-run collect --policy random` so the tokenizer also draws frames the expert never shows "
        "(repeatable; validation stays on --data)",
    )


def run(args: argparse.Namespace) -> int:
    workdir = Workdir(args.workdir)
    options = parse_assignments(args.set)
    artifact = fit_tokenizer(
        require_data(args.data, workdir),
        workdir.path,
        name=args.component,
        options=options.get("tokenizer"),
        seed=args.seed,
        val_fraction=args.val_fraction,
        mask_suite=args.mask_suite,
        preset=args.preset,
        extra_data=args.extra_data,
    )
    print(f"tokenizer saved in {artifact}")
    return 0
