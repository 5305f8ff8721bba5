"""Commands of training an experiment and the two baselines.

Each declares its name, its arguments and what it runs; ``hms.__main__`` only collects them. Each run imports its
stage when it runs (``python -m hms score`` must not pay for torch)."""

from __future__ import annotations

import argparse

from hms.commands.common import Command, models_root_arg
from hms.paths import MODELS_DIR, writable


def _args_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="configs/NAME.yaml")
    p.add_argument("--data", default=None)
    models_root_arg(p)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. train.epochs_stage1=2")
    p.add_argument("--resume", action="store_true", help="continue each fold from its last saved epoch")


def _run_train(args: argparse.Namespace) -> int:
    from hms.experiment import load_config  # deferred: the stage's heavy imports
    from hms.train.run import run_experiment

    scores = run_experiment(load_config(args.config, args.set), args.data, args.models_root, resume=args.resume)
    if not scores.empty:
        print(scores.round(4).to_string(index=False))
    return 0


def _args_baseline(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help="data root (default: Kaggle input if present, else sample_data/)")
    p.add_argument("--folds", default=str(writable("files/folds.csv")), help="default: files/folds.csv of the work dir")
    p.add_argument("--out", default=str(MODELS_DIR / "baseline"), help="default: models/baseline of the work dir")


def _run_baseline(args: argparse.Namespace) -> int:
    from hms.baselines.prior import run_baseline  # deferred: the stage's heavy imports
    from hms.data import Competition, read_folds

    train = Competition.from_arg(args.data).train(require_files=False)
    scores = run_baseline(train, read_folds(args.folds, train), args.out)
    print(scores.round(4).to_string(index=False))
    print(f"wrote {args.out}")
    return 0


def _args_bandpower(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None)
    p.add_argument("--folds", required=True, help="folds.csv (e.g. models/<experiment>/folds.csv)")
    p.add_argument("--out", default=str(MODELS_DIR / "bandpower"), help="default: models/bandpower of the work dir")
    p.add_argument("--seed", type=int, default=42)


def _run_bandpower(args: argparse.Namespace) -> int:
    from hms.baselines.bandpower import run_bandpower  # deferred: the stage's heavy imports

    print(run_bandpower(args.data, args.folds, args.out, args.seed).round(4).to_string(index=False))
    return 0


COMMANDS = [
    Command("train", "train every fold of an experiment (works under torchrun too)", _args_train, _run_train),
    Command("baseline", "class-prior baseline, scored out of fold", _args_baseline, _run_baseline),
    Command(
        "bandpower", "non-deep baseline: LightGBM on band powers per chain, same folds", _args_bandpower, _run_bandpower
    ),
]
