"""``python -m hms COMMAND``: the command-line entry point. It collects the command table (``hms.commands``: each
command declares its name, arguments and run next to the work it starts), parses, and turns every user error into one
``error: ...`` line and exit code 2; no logic lives here."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from hms.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hms", description="HMS harmful brain activity toolkit")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help)
        command.arguments(p)
        p.set_defaults(func=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except (ValueError, OSError) as exc:  # HmsError and DataError are ValueErrors; OSError: paths, disk, permissions
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
