"""Readers for train.csv, test.csv and sample_submission.csv with schema validation."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hms.constants import CONSENSUS_NAMES, SUBMISSION_COLUMNS, TEST_COLUMNS, TRAIN_COLUMNS, VOTE_COLS
from hms.data.errors import DataError

_INT_COLS = ("eeg_id", "eeg_sub_id", "spectrogram_id", "spectrogram_sub_id", "patient_id", *VOTE_COLS)
_FLOAT_COLS = ("eeg_label_offset_seconds", "spectrogram_label_offset_seconds")


def _read_csv(path: str | os.PathLike[str], what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} not found; check --data (the folder must hold the competition files)")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse {what} as CSV ({exc}); re-download or regenerate the file") from exc


def _check_columns(df: pd.DataFrame, expected: Sequence[str], path: Path, *, exact: bool) -> None:
    missing = [c for c in expected if c not in df.columns]
    extra = [c for c in df.columns if c not in expected]
    if missing or (exact and extra):
        raise DataError(
            f"{path}: wrong columns (missing {missing}, unexpected {extra}); expected exactly {list(expected)}"
        )


def _check_rows(df: pd.DataFrame, path: Path, what: str) -> None:
    if df.empty:
        raise DataError(f"{path}: no rows (header only); the file must list {what}")


_INT64 = np.iinfo(np.int64)


def _check_ints(df: pd.DataFrame, cols: Sequence[str], path: Path) -> None:
    """Each of ``cols`` holds integers that fit int64 (ids beyond it would silently wrap or vanish)."""
    for col in cols:
        if col not in df.columns:
            continue
        values = df[col]
        if values.isna().any() or not pd.api.types.is_numeric_dtype(values):
            whole = values.astype(str).str.strip().str.fullmatch(r"-?\d+") & values.notna()
            if whole.all():  # integers too long for any numeric column
                raise DataError(
                    f"{path}: column {col} holds values beyond the 64-bit integer range "
                    f"({values.head(3).tolist()}); ids must lie in 0..{_INT64.max}"
                )
            bad = values[~whole].head(3).tolist()
            raise DataError(f"{path}: column {col} must hold integers without gaps (found {bad}); fix those rows")
        numbers = values.to_numpy()
        if not np.array_equal(numbers, np.round(numbers)):
            raise DataError(f"{path}: column {col} holds non-integer values")
        if values.dtype.kind == "f" or values.dtype == np.uint64:
            outside = (numbers > _INT64.max) | (numbers < _INT64.min)
            if outside.any():
                raise DataError(
                    f"{path}: column {col} holds values beyond the 64-bit integer range "
                    f"({numbers[outside][:3].tolist()}); ids must lie in 0..{_INT64.max}"
                )
        df[col] = values.astype("int64")


def read_train_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate train.csv (one row per label window). ``label_id`` may be empty (rebuilt copies)."""
    path = Path(path)
    df = _read_csv(path, "train.csv")
    _check_columns(df, TRAIN_COLUMNS, path, exact=False)
    _check_rows(df, path, "label rows")
    _check_ints(df, _INT_COLS, path)
    for col in _FLOAT_COLS:
        if not pd.api.types.is_numeric_dtype(df[col]) or df[col].isna().any() or (df[col] < 0).any():
            raise DataError(f"{path}: column {col} must hold non-negative numbers of seconds")
        df[col] = df[col].astype("float64")
    if (df[list(VOTE_COLS)] < 0).any().any():
        raise DataError(f"{path}: vote columns must be non-negative counts")
    if (df[list(VOTE_COLS)].sum(axis=1) == 0).any():
        bad = df.loc[df[list(VOTE_COLS)].sum(axis=1) == 0, "eeg_id"].head(5).tolist()
        raise DataError(f"{path}: rows with zero votes (eeg_id {bad}); every label row needs at least one vote")
    unknown = set(df["expert_consensus"].unique()) - set(CONSENSUS_NAMES)
    if unknown:
        raise DataError(f"{path}: unknown expert_consensus values {sorted(unknown)}; expected {CONSENSUS_NAMES}")
    if df.duplicated(["eeg_id", "eeg_sub_id"]).any():
        raise DataError(f"{path}: duplicate (eeg_id, eeg_sub_id) pairs; each label row must be unique")
    return df[list(TRAIN_COLUMNS)].reset_index(drop=True)


def read_test_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate test.csv: exactly spectrogram_id, eeg_id, patient_id; eeg_ids unique."""
    path = Path(path)
    df = _read_csv(path, "test.csv")
    _check_columns(df, TEST_COLUMNS, path, exact=True)
    _check_rows(df, path, "test rows (one per eeg_id to predict)")
    _check_ints(df, TEST_COLUMNS, path)
    dup = df.loc[df["eeg_id"].duplicated(), "eeg_id"].tolist()
    if dup:
        raise DataError(f"{path}: duplicate eeg_ids {dup[:5]}; test.csv must list each eeg_id once")
    return df


def read_sample_submission(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read sample_submission.csv: eeg_id then the six ``*_vote`` columns in the competition's order."""
    path = Path(path)
    df = _read_csv(path, "sample_submission.csv")
    if tuple(df.columns) != SUBMISSION_COLUMNS:
        raise DataError(f"{path}: columns {list(df.columns)} differ from the competition's {list(SUBMISSION_COLUMNS)}")
    _check_ints(df, ("eeg_id",), path)
    return df
