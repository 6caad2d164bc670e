"""``viper-run import-videos``: bring your own videos into a dataset folder."""

from __future__ import annotations

import argparse
import sys

from viper.core.importers import FORMATS, import_videos

NAME = "import-videos"
HELP = "import mp4/webm/gif files, folders of PNG frames or the official VIPER .npz release into a dataset"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--src", required=True, metavar="PATH", help="a video file or a folder searched recursively")
    parser.add_argument(
        "--task",
        metavar="NAME",
        help="task name of the imported episodes (required for videos; for viper-npz: import only this task, "
        "or name the task of a single task folder)",
    )
    parser.add_argument("--out", required=True, metavar="DATASET", help="dataset folder to create or add to")
    parser.add_argument(
        "--format", choices=FORMATS, default="videos", help="source layout: videos (default) or viper-npz"
    )
    parser.add_argument("--size", type=int, default=64, help="frame height and width after centre-crop + resize")
    parser.add_argument("--fps", type=float, default=None, help="subsample to at most this frame rate")
    parser.add_argument(
        "--src-fps",
        type=float,
        default=None,
        help="frame rate of PNG folders and .npz episodes, which carry none (needed with --fps)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    report = import_videos(
        args.src,
        args.out,
        task=args.task,
        size=args.size,
        fps=args.fps,
        src_fps=args.src_fps,
        format=args.format,
        progress=not args.quiet,
    )
    print(
        f"imported {report.imported} episodes ({report.frames} frames) into {args.out} "
        f"(tasks: {', '.join(report.tasks)}); {report.already_present} already there; "
        f"{len(report.failed)} skipped as unreadable"
    )
    for source, reason in report.failed:
        print(f"  skipped {source}: {reason}", file=sys.stderr)
    # Partial success still exits non-zero so scripts notice the skipped files.
    return 0 if report.ok else 1
