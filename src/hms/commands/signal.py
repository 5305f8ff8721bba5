"""Commands of the front-end: organizer spectrograms, their fidelity, the training cache, plots.

Each declares its name, its arguments and what it runs; ``hms.__main__`` only collects them. Each run imports its
stage when it runs (``python -m hms score`` must not pay for torch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hms.commands.common import Command, frontend_args, load_frontend
from hms.errors import DataError
from hms.paths import files_dir, writable


def _args_spectrogram(p: argparse.ArgumentParser) -> None:
    p.add_argument("--eeg", required=True, help="EEG parquet (20 columns, 200 Hz)")
    p.add_argument("--out", required=True, help="output parquet")


def _run_spectrogram(args: argparse.Namespace) -> int:
    from hms.io import check_output  # deferred: the stage's heavy imports
    from hms.signal.organizer import write_organizer_parquet

    check_output(args.out, "spectrogram", [args.eeg])
    table = write_organizer_parquet(Path(args.eeg), Path(args.out))
    first, last = table["time"].iloc[0], table["time"].iloc[-1]
    print(f"wrote {args.out}: {len(table)} rows x 400 columns (time {first}..{last} s)")
    return 0


def _args_fidelity(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sample", default=None, help="real competition sample (default ../shared/hms_sample)")


def _run_fidelity(args: argparse.Namespace) -> int:
    from hms.paths import SHARED_SAMPLE_DIR  # deferred: the stage's heavy imports
    from hms.signal.fidelity import fidelity_report

    sample = Path(args.sample) if args.sample else SHARED_SAMPLE_DIR
    if not (sample / "train.csv").is_file():
        raise DataError(f"{sample}: no real competition sample (train.csv, train_eegs/, ...); pass --sample DIR")
    print(fidelity_report(sample))
    return 0


def _args_prepare(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None)
    p.add_argument("--cache", default=str(writable("cache")), help="default: cache/ of the work dir")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--kinds",
        default="eeg,spec",
        help="cache files to write: eeg,spec (spectrogram images, the default), wave (waveform families' signals)",
    )
    frontend_args(p)


def _run_prepare(args: argparse.Namespace) -> int:
    from hms.signal.prepare import KINDS, cache_dir, prepare  # deferred: the stage's heavy imports

    cfg = load_frontend(args)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    if not set(kinds) <= set(KINDS):
        raise SystemExit(f"--kinds {args.kinds!r}: choose from {', '.join(KINDS)}, comma-separated")
    counts = prepare(args.data, args.cache, cfg, workers=args.workers, kinds=kinds)
    print(
        f"{cache_dir(args.cache, cfg)}: {counts['done']} computed, {counts['cached']} already cached, "
        f"{counts['errors']} failed"
        + (" (see errors.txt there)" if counts["errors"] else "")
        + (
            f", {counts['files with missing samples']} with missing (NaN/inf) samples (see missing_samples.txt)"
            if counts["files with missing samples"]
            else ""
        )
    )
    return 0


def _args_plot(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None)
    p.add_argument("--eeg-id", type=int, default=None, help="default: the first row with files")
    p.add_argument("--split", choices=("train", "test"), default="train")
    p.add_argument("--out", default=str(files_dir() / "plots"), help="default: files/plots of the work dir")
    frontend_args(p)


def _run_plot(args: argparse.Namespace) -> int:
    from hms.data import Competition  # deferred: the stage's heavy imports
    from hms.plots import plot_label_row

    paths = plot_label_row(
        Competition.from_arg(args.data), args.split, args.eeg_id, load_frontend(args), Path(args.out)
    )
    print("wrote " + " and ".join(str(p) for p in paths))
    return 0


COMMANDS = [
    Command(
        "spectrogram",
        "organizer-format spectrogram (time + 400 columns) from a raw EEG >= 10 s",
        _args_spectrogram,
        _run_spectrogram,
    ),
    Command(
        "fidelity",
        "leave-one-file-out choice of the organizer recipe on the real pairs (~1 min)",
        _args_fidelity,
        _run_fidelity,
    ),
    Command(
        "prepare", "cache every recording's spectrograms for fast training (resumable)", _args_prepare, _run_prepare
    ),
    Command("plot", "stacked image and montage traces of one label window, as PNGs", _args_plot, _run_plot),
]
