"""Validate and write submission.csv: the columns and order of sample_submission.csv, rows summing to 1, atomic."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from hms.constants import SUBMISSION_COLUMNS, VOTE_COLS
from hms.io import write_csv


class SubmissionError(ValueError):
    pass


def validate_submission(sub: pd.DataFrame, test: pd.DataFrame, sample: pd.DataFrame | None = None) -> None:
    """Raise SubmissionError unless ``sub`` is exactly what Kaggle accepts for ``test``."""
    columns = tuple(sample.columns) if sample is not None else SUBMISSION_COLUMNS
    if tuple(sub.columns) != columns:
        raise SubmissionError(f"submission columns {list(sub.columns)} differ from {list(columns)}")
    if len(sub) != len(test) or not np.array_equal(sub["eeg_id"].to_numpy(), test["eeg_id"].to_numpy()):
        raise SubmissionError("submission must hold one row per test.csv eeg_id, in test.csv order")
    probs = sub[list(VOTE_COLS)].to_numpy(dtype=float)
    if not np.isfinite(probs).all():
        raise SubmissionError("submission holds NaN or infinite probabilities")
    if (probs < 0).any() or (probs > 1).any():
        raise SubmissionError("submission probabilities must lie in [0, 1]")
    worst = float(np.abs(probs.sum(axis=1) - 1).max()) if len(probs) else 0.0
    if worst > 1e-6:
        raise SubmissionError(f"submission rows must sum to 1 (worst is off by {worst:.3g})")


def make_submission(eeg_ids: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum(axis=1, keepdims=True)
    sub = pd.DataFrame(probs, columns=list(VOTE_COLS))
    sub.insert(0, "eeg_id", np.asarray(eeg_ids, dtype=np.int64))
    return sub


def write_submission(
    sub: pd.DataFrame, test: pd.DataFrame, out: str | os.PathLike[str], sample: pd.DataFrame | None = None
) -> Path:
    validate_submission(sub, test, sample)
    return write_csv(sub, out)
