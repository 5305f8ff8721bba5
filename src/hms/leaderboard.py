"""The local CV leaderboard: ``files/leaderboard.csv`` (one row per finished run) and ``files/LEADERBOARD.md``."""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from hms.errors import DataError
from hms.io import write_csv, write_text
from hms.paths import REPO_ROOT
from hms.paths import files_dir as default_files_dir

log = logging.getLogger(__name__)

COLUMNS = (
    "experiment",
    "date",
    "git_commit",
    "config_hash",
    "seed",
    "folds",
    "model",
    "oof_kl_all",
    "oof_kl_golden",
    "bayes_floor",
    "class_prior_kl",
    "gap_left",
    "train_minutes",
    "sae_explained_variance",
    "sae_l0",
    "sae_dead_fraction",
    "notes",
)

#: the columns of LEADERBOARD.md, in order; ``python -m hms leaderboard`` prints those of ``SUMMARY_COLUMNS``
PAGE_COLUMNS = [
    "experiment",
    "oof_kl_golden",
    "oof_kl_all",
    "gap_left",
    "bayes_floor",
    "class_prior_kl",
    "model",
    "folds",
    "seed",
    "train_minutes",
    "sae_explained_variance",
    "sae_l0",
    "sae_dead_fraction",
    "date",
    "git_commit",
]
SUMMARY_COLUMNS = set(PAGE_COLUMNS) - {"folds", "sae_explained_variance", "sae_l0", "sae_dead_fraction"}


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if out.returncode == 0 else "unknown"
    except OSError:
        return "unknown"


def _csv(files_dir: str | os.PathLike[str] | None) -> Path:
    return (Path(files_dir) if files_dir else default_files_dir()) / "leaderboard.csv"


def read(csv: str | os.PathLike[str]) -> pd.DataFrame:
    """The leaderboard table, checked: a readable CSV with the experiment and score columns (``DataError`` naming
    the file and the fix otherwise)."""
    csv = Path(csv)
    fix = f"move it aside (mv {csv} {csv}.bad): the next run starts a new leaderboard"
    try:
        table = pd.read_csv(csv)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{csv}: the leaderboard is not a readable CSV ({' '.join(str(exc).split())}); {fix}") from exc
    missing = [c for c in ("experiment", "oof_kl_golden") if c not in table.columns]
    if missing:
        raise DataError(f"{csv}: the leaderboard lacks its columns {missing}; {fix}")
    if not pd.api.types.is_numeric_dtype(table["oof_kl_golden"]):
        raise DataError(f"{csv}: the leaderboard's oof_kl_golden column holds values that are not numbers; {fix}")
    return table


def check(files_dir: str | os.PathLike[str] | None = None) -> None:
    """Before a run's work: the leaderboard its row will join is readable (or absent)."""
    if _csv(files_dir).is_file():
        read(_csv(files_dir))


def append(row: dict, files_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Append one run under an exclusive lock (two runs finishing together never lose a row); re-render the .md. A
    leaderboard that became unreadable during the run is moved aside (kept, named in a warning), never lost, and the
    row starts a new one."""
    csv = _csv(files_dir)
    csv.parent.mkdir(parents=True, exist_ok=True)
    row = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"), "git_commit": git_commit()} | row
    with open(csv.parent / ".leaderboard.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        table = pd.DataFrame(columns=list(COLUMNS))
        if csv.is_file():
            try:
                table = read(csv)
            except DataError as exc:
                aside = csv.with_name(f"leaderboard.unreadable-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.csv")
                os.replace(csv, aside)
                log.warning("%s; kept as %s, and this run's row starts a new leaderboard", exc, aside)
        table = pd.concat([table, pd.DataFrame([{c: row.get(c) for c in COLUMNS}])], ignore_index=True)
        write_csv(table, csv)
        write_text(render(table), csv.parent / "LEADERBOARD.md")
    return table


def render(table: pd.DataFrame) -> str:
    ranked = table.reindex(columns=list(COLUMNS)).sort_values("oof_kl_golden", na_position="last")
    cols = PAGE_COLUMNS
    intro = (
        "Out-of-fold KL divergence, eeg_id level (lower is better); golden = eeg_ids whose first row has >= 10 "
        "votes. gap_left = (model - Bayes floor) / (class prior - Bayes floor) on simulated data."
    )
    lines = ["# Local CV leaderboard", "", intro, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in ranked.iterrows():
        cells = [
            "" if pd.isna(r[c]) else f"{r[c]:.4f}" if isinstance(r[c], float) and c != "train_minutes" else str(r[c])
            for c in cols
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def show(files_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    csv = _csv(files_dir)
    if not csv.is_file():
        raise FileNotFoundError(f"{csv}: no runs yet; train one with python -m hms train --config configs/quick.yaml")
    return read(csv).sort_values("oof_kl_golden", na_position="last")


def summary(files_dir: str | os.PathLike[str] | None = None) -> str:
    """``python -m hms leaderboard``: the main columns, best golden OOF KL first."""
    cols = [c for c in PAGE_COLUMNS if c in SUMMARY_COLUMNS]
    return show(files_dir).reindex(columns=cols).to_string(index=False, float_format=lambda v: f"{v:.4f}")
