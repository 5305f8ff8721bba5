"""The local CV leaderboard: ``files/leaderboard.csv`` (one row per finished run) and ``files/LEADERBOARD.md``."""

from __future__ import annotations

import fcntl
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from hms.io import atomic_write
from hms.paths import REPO_ROOT
from hms.paths import files_dir as default_files_dir

COLUMNS = ("experiment", "date", "git_commit", "config_hash", "seed", "folds", "model", "oof_kl_all", "oof_kl_golden",
           "bayes_floor", "class_prior_kl", "gap_left", "train_minutes", "sae_explained_variance", "sae_l0",
           "sae_dead_fraction", "notes")  # fmt: skip


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if out.returncode == 0 else "unknown"
    except OSError:
        return "unknown"


def append(row: dict, files_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Append one run under an exclusive lock (two runs finishing together never lose a row); re-render the .md."""
    files_dir = Path(files_dir) if files_dir else default_files_dir()
    files_dir.mkdir(parents=True, exist_ok=True)
    csv = files_dir / "leaderboard.csv"
    row = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"), "git_commit": git_commit()} | row
    with open(files_dir / ".leaderboard.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        table = pd.read_csv(csv) if csv.is_file() else pd.DataFrame(columns=list(COLUMNS))
        table = pd.concat([table, pd.DataFrame([{c: row.get(c) for c in COLUMNS}])], ignore_index=True)
        atomic_write(csv, lambda p: table.to_csv(p, index=False))
        atomic_write(files_dir / "LEADERBOARD.md", lambda p: p.write_text(render(table)))
    return table


def render(table: pd.DataFrame) -> str:
    ranked = table.reindex(columns=list(COLUMNS)).sort_values("oof_kl_golden", na_position="last")
    cols = ["experiment", "oof_kl_golden", "oof_kl_all", "gap_left", "bayes_floor", "class_prior_kl", "model",
            "folds", "seed", "train_minutes", "sae_explained_variance", "sae_l0", "sae_dead_fraction", "date",
            "git_commit"]  # fmt: skip
    intro = (
        "Out-of-fold KL divergence, eeg_id level (lower is better); golden = eeg_ids whose first row has >= 10 "
        "votes. gap_left = (model - Bayes floor) / (class prior - Bayes floor) on simulated data."
    )
    lines = ["# Local CV leaderboard", "", intro, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in ranked.iterrows():
        cells = ["" if pd.isna(r[c]) else f"{r[c]:.4f}" if isinstance(r[c], float) and c != "train_minutes"
                 else str(r[c]) for c in cols]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def show(files_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    csv = (Path(files_dir) if files_dir else default_files_dir()) / "leaderboard.csv"
    if not csv.is_file():
        raise FileNotFoundError(f"{csv}: no runs yet; train one with python -m hms train --config configs/quick.yaml")
    return pd.read_csv(csv).sort_values("oof_kl_golden", na_position="last")


def summary(files_dir: str | os.PathLike[str] | None = None) -> str:
    """``python -m hms leaderboard``: the main columns, best golden OOF KL first."""
    cols = ["experiment", "oof_kl_golden", "oof_kl_all", "gap_left", "bayes_floor", "class_prior_kl", "model", "seed",
            "train_minutes", "date", "git_commit"]  # fmt: skip
    return show(files_dir)[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}")
