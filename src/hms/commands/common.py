"""What a command of ``python -m hms`` is (:class:`Command`), and the arguments several commands share. Flags mean
one thing everywhere: ``--models-root`` is the folder holding experiments, ``--experiment NAME`` one experiment in
it, ``--data`` the competition data root (``submission.py --experiment-dir`` is one experiment folder)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hms import config
from hms.paths import MODELS_DIR


@dataclass(frozen=True)
class Command:
    """One subcommand: its name and one-line help, what adds its arguments to its parser, and what it runs (the
    parsed arguments -> exit code)."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class _Renamed(argparse.Action):
    """A flag that was renamed: using it is an error naming the new flag."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option=None):
        parser.error(
            f"{option} was renamed --models-root (the folder holding the experiments); --models now means one "
            "experiment folder, in submission.py only"
        )


def models_root_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--models-root",
        dest="models_root",
        default=MODELS_DIR,
        help="folder holding the experiments, models/<experiment>/ (default: models/ of the work dir: "
        "$HMS_WORK_DIR, /kaggle/working on Kaggle, else the repo)",
    )
    p.add_argument("--models", action=_Renamed, help=argparse.SUPPRESS)


def frontend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frontend", default=None, help="YAML with front-end settings (or a 'frontend:' section)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one front-end setting")


def load_frontend(args: argparse.Namespace) -> Any:
    from hms.signal.config import FrontEndConfig  # deferred: the front-end's imports (torch) only when used

    return config.load(FrontEndConfig, args.frontend, args.set, section="frontend")
