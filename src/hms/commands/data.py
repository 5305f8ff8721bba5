"""Commands of the simulator, folds, the metric, train.csv statistics and the leaderboard.

Each declares its name, its arguments and what it runs; ``hms.__main__`` only collects them. Each run imports its
stage when it runs (``python -m hms score`` must not pay for torch)."""

from __future__ import annotations

import argparse

from hms.commands.common import Command
from hms.paths import writable


def _args_synth(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=None, help="output folder (train.csv, train_eegs/, ..., oracle.csv)")
    p.add_argument("--n-patients", type=int, default=20, help="training patients (default 20)")
    p.add_argument("--n-test-patients", type=int, default=None, help="test patients (default n_patients // 6, >= 2)")
    p.add_argument("--max-eegs-per-patient", type=int, default=15, help="cap on EEGs per patient (0: no cap)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--force", action="store_true", help="rebuild even if --out already holds this simulation")
    p.add_argument("--dry-run", action="store_true", help="labels only: print statistics, write nothing (any size)")
    p.add_argument(
        "--shortcut",
        action="append",
        default=[],
        metavar="CLASS=ARTIFACT",
        help="plant ARTIFACT (blink, muscle, pop, ekg) into the training-split episodes of CLASS only (repeatable)",
    )
    p.add_argument(
        "--shortcut-strength", type=float, default=0.8, help="chance an episode of the class gets it (default 0.8)"
    )


def _run_synth(args: argparse.Namespace) -> int:
    from hms.synth import SynthConfig, dry_run, format_summary, simulate  # deferred: the stage's heavy imports

    cap = args.max_eegs_per_patient or None  # 0: no cap
    cfg = SynthConfig(
        args.n_patients, args.n_test_patients, args.seed, cap, tuple(args.shortcut), args.shortcut_strength
    )
    if args.dry_run:
        print(format_summary(dry_run(cfg)))
        return 0
    if args.out is None:
        raise ValueError("synth needs --out DIR (or --dry-run)")
    summary = simulate(args.out, cfg, workers=args.workers, force=args.force)
    print(format_summary(summary))
    print(f"wrote {args.out}")
    return 0


def _args_folds(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train", required=True, help="train.csv")
    p.add_argument("--out", default=str(writable("files/folds.csv")), help="default: files/folds.csv of the work dir")
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)


def _run_folds(args: argparse.Namespace) -> int:
    from hms.data import fold_summary, make_folds, read_train_csv  # deferred: the stage's heavy imports
    from hms.io import check_output, write_csv

    check_output(args.out, "folds table", [args.train])
    train = read_train_csv(args.train)
    folds = make_folds(train, args.n_folds, args.seed)
    write_csv(folds, args.out)
    print(fold_summary(folds, train))
    print(f"wrote {args.out}")
    return 0


def _args_score(p: argparse.ArgumentParser) -> None:
    p.add_argument("--solution", required=True, help="csv with eeg_id + six *_vote columns (counts or probabilities)")
    p.add_argument("--submission", required=True, help="csv with eeg_id + six *_vote probabilities")


def _run_score(args: argparse.Namespace) -> int:
    from hms.metric import score_files  # deferred: the stage's heavy imports

    print(f"{score_files(args.solution, args.submission):.6f}")
    return 0


def _args_stats(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train", required=True)


def _run_stats(args: argparse.Namespace) -> int:
    from hms.data.stats import real_comparison  # deferred: the stage's heavy imports
    from hms.synth.params import REAL_REFERENCE

    print(real_comparison(args.train, REAL_REFERENCE).to_string(float_format=lambda v: f"{v:.3f}"))
    return 0


def _args_leaderboard(p: argparse.ArgumentParser) -> None:
    pass


def _run_leaderboard(args: argparse.Namespace) -> int:
    from hms import leaderboard  # deferred: the stage's heavy imports

    print(leaderboard.summary())
    return 0


COMMANDS = [
    Command(
        "synth", "simulate a competition dataset in the exact real layout (+ ground truth)", _args_synth, _run_synth
    ),
    Command("folds", "patient-grouped, consensus-stratified folds (one row per eeg_id)", _args_folds, _run_folds),
    Command("score", "competition metric; the score is the last line printed", _args_score, _run_score),
    Command("stats", "structure and label statistics of a train.csv next to the real ones", _args_stats, _run_stats),
    Command("leaderboard", "the local CV leaderboard, best first", _args_leaderboard, _run_leaderboard),
]
