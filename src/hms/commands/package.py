"""Commands of blending experiments and packaging them for Kaggle.

Each declares its name, its arguments and what it runs; ``hms.__main__`` only collects them. Each run imports its
stage when it runs (``python -m hms score`` must not pay for torch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hms.commands.common import Command, models_root_arg
from hms.paths import files_dir


def _args_blend(p: argparse.ArgumentParser) -> None:
    p.add_argument("--solution", default=None, help="eeg_id [+ eeg_sub_id] + six *_vote columns (counts or probs)")
    p.add_argument("--oof", action="append", metavar="NAME=PRED.csv", help="a model's OOF predictions (repeat)")
    p.add_argument("--train", default=None, help="train.csv: patient_id for grouped folds, vote totals")
    p.add_argument("--experiments", default=None, help="shortcut: comma list of experiments, their own OOF files")
    p.add_argument("--data", default=None, help="with --experiments: the data root they were trained on")
    models_root_arg(p)
    p.add_argument("--min-votes", type=int, default=10, help="fit and score on rows with at least this many votes")
    p.add_argument("--folds", type=int, default=5, help="outer folds of the nested cross-validation")
    p.add_argument(
        "--out",
        default=str(files_dir() / "blend"),
        help="output folder: blend.json, models.csv, weights.png (default: files/blend of the work dir)",
    )


def _run_blend(args: argparse.Namespace) -> int:
    from hms.blend.fit import experiment_oofs, run_blend  # deferred: the stage's heavy imports

    out = Path(args.out)
    if args.experiments:
        if args.solution or args.oof:
            raise ValueError("blend: give either --experiments or --solution with --oof, not both")
        solution, oofs, train = experiment_oofs(args.experiments.split(","), args.data, out, args.models_root)
    else:
        if not args.solution or not args.oof:
            raise ValueError("blend needs --solution SOL.csv and --oof NAME=PRED.csv (twice or more), or --experiments")
        solution, train, oofs = args.solution, args.train, {}
        for item in args.oof:
            name, sep, path = item.partition("=")
            if not sep or not name or not path:
                raise ValueError(f"--oof {item!r}: expected NAME=PRED.csv")
            if name in oofs:
                raise ValueError(f"--oof: the name {name!r} is given twice")
            oofs[name] = path
    blend, table = run_blend(solution, oofs, train, args.min_votes, out, args.folds)
    s = blend.scores
    print(table.round(4).to_string(index=False))
    print(
        f"nested CV: {s['folds']} patient-grouped folds over {s['rows']} rows with >= {args.min_votes} votes; "
        f"in-sample fit {s['blend_in_sample']:.4f}; wrote {out / 'blend.json'}, models.csv, weights.png"
    )
    print(
        f"blend={s['blend']:.4f} equal_weights={s['equal_weights']:.4f} best_single={s['best_single']:.4f} "
        f"({s['best_single_name']})"
    )
    return 0


def _args_kaggle_package(p: argparse.ArgumentParser) -> None:
    p.add_argument("--experiment", action="append", help="an experiment to ship (repeat to blend)")
    p.add_argument("--train", action="store_true", help="a training kernel instead: code + notebook 04_train")
    p.add_argument("--config", default="configs/kaggle_b0.yaml", help="with --train: the experiment config")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="with --train: config overrides")
    p.add_argument("--blend", default=None, help="blend.json of python -m hms blend (default: equal weights)")
    p.add_argument(
        "--out",
        required=True,
        help="output folder: OUT/dataset and OUT/kernel; a new or empty folder, or one kaggle-package wrote before "
        "(rebuilt); a folder holding other files is refused, never emptied",
    )
    models_root_arg(p)
    p.add_argument("--user", default="USERNAME", help="your Kaggle user name (for the dataset and kernel ids)")
    p.add_argument("--stack", default=None, help="feature set to ship (default: each experiment's stack/best.json)")
    p.add_argument("--gpu", action="store_true", help="ask for a GPU in kernel-metadata.json")


def _run_kaggle_package(args: argparse.Namespace) -> int:
    from hms.kaggle import package, package_training  # deferred: the stage's heavy imports

    if args.train:
        out = package_training(args.out, args.user, args.config, gpu=True, overrides=args.set)
        print(f"dataset: {out['dataset']}  (kaggle datasets create -p {out['dataset']})")
        print(f"kernel:  {out['kernel']}  (kaggle kernels push -p {out['kernel']}; models/ land in its output)")
        return 0
    if not args.experiment:
        raise ValueError("kaggle-package needs --experiment NAME (a submission kernel) or --train (a training kernel)")
    out = package(args.experiment, args.out, args.models_root, args.user, args.stack, args.gpu, args.blend)
    print(f"dataset: {out['dataset']}  (kaggle datasets create -p {out['dataset']})")
    print(f"kernel:  {out['kernel']}  (kaggle kernels push -p {out['kernel']})")
    return 0


COMMANDS = [
    Command(
        "blend",
        "fit blend weights on OOF predictions; nested CV vs equal weights and best single",
        _args_blend,
        _run_blend,
    ),
    Command(
        "kaggle-package",
        "Kaggle dataset (code + weights) and offline submission kernel folders",
        _args_kaggle_package,
        _run_kaggle_package,
    ),
]
