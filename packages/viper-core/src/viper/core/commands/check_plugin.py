"""``viper-run check-plugin NAME``: the contract kit's checks on an installed plugin, as a table.

NAME is a distribution (``viper-envs``: every component it provides) or a component name
(``vqgan``, ``lite``). Exit status 0 when nothing failed, 1 when a rule failed; a component whose
requirements are missing is listed as "not checked" (not a pass, not a failure).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from viper.core.config import parse_assignments
from viper.core.errors import ConfigError
from viper.core.plugins import get_host
from viper.core.spec import KINDS

NAME = "check-plugin"
HELP = "check an installed plugin's components against the contracts (pass/fail table)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="a distribution (e.g. viper-envs) or a component name (e.g. lite)")
    parser.add_argument("--kind", choices=tuple(KINDS), default=None, help="only components of this kind")
    parser.add_argument(
        "--tasks",
        default="3",
        metavar="all|N|A,B",
        help="env suite tasks to check: all, the first N (default 3) or a comma-separated list",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KIND.FIELD=VALUE",
        help="override an option of the checked components (applied after their tiny/debug preset)",
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    # The kit (gymnasium, the loop) is imported only when this command runs, not for `--help`.
    from viper.core.testing.plugin_checks import (
        FAILED,
        NOT_CHECKED,
        OK,
        Row,
        check_component,
        failed_plugin_rows,
        select,
    )

    host = get_host()
    records = select(host, args.name, args.kind)
    rows = failed_plugin_rows(host, args.name)
    if not records and not rows:
        known = sorted({c.plugin.distribution for c in host.components()} | {c.name for c in host.components()})
        raise ConfigError(
            f"check-plugin {args.name!r}: no installed distribution or component so named; known: {', '.join(known)}"
        )
    options = parse_assignments(args.set)
    if not args.json:
        print_row(Row("COMPONENT", "KIND", "ON", "RULE", "RESULT"))
        for row in rows:
            print_row(row)
    for record in records:
        for row in check_component(host, record, tasks=args.tasks, options=options.get(record.kind, {})):
            rows.append(row)
            if not args.json:
                print_row(row)
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
    else:
        counts = {result: sum(r.result == result for r in rows) for result in (OK, FAILED, NOT_CHECKED)}
        print(f"{counts[OK]} rules passed, {counts[FAILED]} failed, {counts[NOT_CHECKED]} not checked")
    return 1 if any(r.result == FAILED for r in rows) else 0


def print_row(row: Any) -> None:
    """One line per rule (a ``plugin_checks.Row``), printed as soon as it is known (fits take seconds)."""
    line = f"{row.component:<36} {row.kind:<11} {row.subject:<22} {row.rule:<24} {row.result}"
    print(line + (f": {row.message}" if row.message else ""), flush=True)
