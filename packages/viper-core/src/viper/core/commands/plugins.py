"""``viper-run plugins``: every component with its distribution, version and status;
``viper-run plugins --options NAME``: the ``--set`` options of component NAME."""

from __future__ import annotations

import argparse
import json

from viper.core.config import config_class, describe_options
from viper.core.errors import ConfigError
from viper.core.plugins import DISABLE_ENV, get_host

NAME = "plugins"
HELP = "list every registered component and the plugins that failed to load"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    parser.add_argument(
        "--options", metavar="NAME", help="list the --set options of component NAME (defaults, constraints, docs)"
    )


#: The ``--set`` section of each component kind.
SECTIONS = {
    "env_suite": "env",
    "tokenizer": "tokenizer",
    "video_model": "video_model",
    "reward": "reward",
    "agent": "agent",
}


def print_options(name: str) -> None:
    """Every ``--set`` option of each component called ``name``."""
    host = get_host()
    records = [c for c in host.components() if c.name == name]
    if not records:
        known = ", ".join(sorted({c.name for c in host.components()}))
        raise ConfigError(f"--options {name}: no component of that name; components: {known}")
    for record in records:
        section = SECTIONS.get(record.kind, record.kind)
        cls = config_class(host.load(record.kind, name))
        print(f"{record.kind} {name}:" + ("" if cls is not None else " takes no options"))
        for option, rule, doc in describe_options(cls, section) if cls is not None else []:
            print(f"  {option}" + (f"  ({rule})" if rule else ""))
            for line in doc.splitlines():
                print(f"      {line}")


def rows() -> tuple[list[dict], list[dict], list[dict]]:
    host = get_host()
    components = []
    for c in host.components():
        status = c.status
        detail = ""
        if status == "missing dependency":
            detail = c.install_hint()
        elif status == "duplicate":
            detail = "also registered by " + ", ".join(p.distribution for p in c.conflicts)
        components.append(
            {
                "kind": c.kind,
                "name": c.name,
                "distribution": c.plugin.distribution,
                "version": c.plugin.version,
                "framework": c.spec.framework,
                "status": status,
                "summary": c.spec.summary,
                "detail": detail,
            }
        )
    failed = [
        {
            "plugin": p.name,
            "distribution": p.distribution,
            "version": p.version,
            "status": "import error",
            "error": p.error_text,
        }
        for p in host.failed_plugins()
    ]
    disabled = [{"plugin": name, "distribution": dist} for name, dist in host.disabled]
    return components, failed, disabled


def run(args: argparse.Namespace) -> int:
    if args.options:
        print_options(args.options)
        return 0
    components, failed, disabled = rows()
    if args.json:
        print(json.dumps({"components": components, "failed_plugins": failed, "disabled_plugins": disabled}, indent=2))
        return 0
    headers = ["kind", "name", "distribution", "version", "framework", "status"]
    table = [[c[h] for h in headers] for c in components]
    widths = [max([len(h)] + [len(str(r[i])) for r in table]) for i, h in enumerate(headers)]
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths))
    print(line)
    for c, r in zip(components, table):
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)) + (f"  {c['summary']}" if c["summary"] else ""))
        if c["detail"]:
            print(" " * (sum(widths[:2]) + 4) + f"-> {c['detail']}")
    if not components:
        print("(no components registered: install viper-envs, viper-tokenizers, ...)")
    for f in failed:
        print(f"plugin {f['plugin']!r} ({f['distribution']} {f['version']}): import error: {f['error']}")
    for d in disabled:
        print(f"plugin {d['plugin']!r} ({d['distribution']}): disabled by {DISABLE_ENV}")
    return 0
