"""The ``viper-run`` console script.

``viper-run [OPTIONS]`` runs the main pipeline; ``viper-run COMMAND ...`` runs one command.
Each command lives in its own module under :mod:`viper.core.commands` exposing ``NAME``,
``HELP``, ``configure(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from viper.core.errors import ViperError

#: Command modules, in the order ``--help`` lists them. ``run`` is the default command.
COMMANDS = (
    "run",
    "plugins",
    "check-plugin",
    "collect",
    "import-videos",
    "fit-tokenizer",
    "fit-model",
    "score",
    "train",
    "experiment",
)


def _load_commands() -> dict[str, object]:
    return {name: importlib.import_module(f"viper.core.commands.{name.replace('-', '_')}") for name in COMMANDS}


def build_parser() -> argparse.ArgumentParser:
    commands = _load_commands()
    run = commands["run"]
    parser = argparse.ArgumentParser(
        prog="viper-run",
        description=(
            "Video prediction models as rewards for RL. With no COMMAND, runs the whole pipeline "
            "(collect expert videos, fit tokenizer, fit video model, score the reward, train an agent "
            "on it, evaluate, report). Run `viper-run COMMAND --help` for one command."
        ),
        epilog="commands:\n" + "\n".join(f"  {name:<16}{mod.HELP}" for name, mod in commands.items()),  # type: ignore[attr-defined]
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.configure(parser)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from viper.core.loop import configure_frameworks

    configure_frameworks()  # JAX must not grab the GPU a torch agent shares (before jax is imported)
    try:
        commands = _load_commands()
        if argv and argv[0] in commands:
            name, rest = argv[0], argv[1:]
            module = commands[name]
            parser = argparse.ArgumentParser(prog=f"viper-run {name}", description=module.HELP)  # type: ignore[attr-defined]
            module.configure(parser)  # type: ignore[attr-defined]
        else:
            if argv and not argv[0].startswith("-"):
                known = ", ".join(commands)
                print(f"viper-run: error: unknown command {argv[0]!r}; commands: {known}", file=sys.stderr)
                return 2
            module, rest, parser = commands["run"], argv, build_parser()
        args = parser.parse_args(rest)
        return int(module.run(args) or 0)  # type: ignore[attr-defined]
    except ViperError as exc:
        print(f"viper-run: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("viper-run: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
