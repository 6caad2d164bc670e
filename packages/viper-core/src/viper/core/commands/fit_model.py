"""``viper-run fit-model``: train the video model on the tokenizer's codes."""

from __future__ import annotations

import argparse

from viper.core.commands.fit_tokenizer import add_fit_arguments
from viper.core.config import parse_assignments
from viper.core.stages.data import require_data
from viper.core.stages.video_model import fit_video_model
from viper.core.workdir import Workdir

NAME = "fit-model"
HELP = "train a video model (default ar-transformer) on the codes of the workdir's tokenizer"


def configure(parser: argparse.ArgumentParser) -> None:
    add_fit_arguments(parser, "video_model", "ar-transformer")
    parser.add_argument(
        "--preset",
        default=None,
        metavar="NAME",
        help="the model's named option set applied before --set, e.g. quick (a CPU in minutes) or paper "
        "(default: the model's own defaults, the paper's for ar-transformer)",
    )


def run(args: argparse.Namespace) -> int:
    workdir = Workdir(args.workdir)
    options = parse_assignments(args.set)
    artifact = fit_video_model(
        workdir.path,
        require_data(args.data, workdir),
        name=args.component,
        options=options.get("video_model"),
        seed=args.seed,
        val_fraction=args.val_fraction,
        mask_suite=args.mask_suite,
        preset=args.preset,
    )
    print(f"video model saved in {artifact}")
    return 0
