"""Votes -> probabilities, the eeg_id-level table, the golden subset, de-duplication of repeated rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hms.constants import CONSENSUS_NAMES, GOLDEN_MIN_VOTES, VOTE_COLS


def total_votes(df: pd.DataFrame) -> pd.Series:
    return df[list(VOTE_COLS)].sum(axis=1)


def vote_probabilities(df: pd.DataFrame, dtype: type = np.float64) -> np.ndarray:
    """Votes / row total (n, 6), computed in ``dtype``: the one place votes become probabilities."""
    votes = df[list(VOTE_COLS)].to_numpy(dtype=dtype)
    return votes / votes.sum(axis=1, keepdims=True)


def dedupe_rows(train: pd.DataFrame) -> pd.DataFrame:
    """Keep the first row of each run of rows that repeat the same vote vector within an eeg_id (shifted windows)."""
    return train.loc[~train.duplicated(["eeg_id", *VOTE_COLS])].reset_index(drop=True)


def eeg_level(train: pd.DataFrame) -> pd.DataFrame:
    """One row per eeg_id: votes summed over its label rows, the first row's total, and golden flag.

    Columns: eeg_id, patient_id, spectrogram_id, n_rows, first_total, total_votes, expert_consensus (of the
    summed votes), six ``*_vote`` columns holding summed vote counts.
    """
    train = train.copy()
    train["_total"] = total_votes(train)
    grouped = train.groupby("eeg_id", sort=False)
    out = grouped[list(VOTE_COLS)].sum()
    out["patient_id"] = grouped["patient_id"].first()
    out["spectrogram_id"] = grouped["spectrogram_id"].first()
    out["n_rows"] = grouped.size()
    out["first_total"] = grouped["_total"].first()
    out = out.reset_index()
    out["total_votes"] = out[list(VOTE_COLS)].sum(axis=1)
    out["golden"] = out["first_total"] >= GOLDEN_MIN_VOTES
    out["expert_consensus"] = np.asarray(CONSENSUS_NAMES)[out[list(VOTE_COLS)].to_numpy().argmax(axis=1)]
    cols = ["eeg_id", "patient_id", "spectrogram_id", "n_rows", "first_total", "total_votes", "golden"]
    return out[[*cols, "expert_consensus", *VOTE_COLS]]


def golden_mask(eeg_table: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the high-quality eeg_ids (first row has >= 10 votes)."""
    return eeg_table["first_total"].to_numpy() >= GOLDEN_MIN_VOTES


def eeg_average(eeg_ids: np.ndarray, values: np.ndarray, weights: np.ndarray) -> pd.DataFrame:
    """Weighted mean of row values per eeg_id (first-appearance order): row predictions -> eeg_id predictions,
    weighted by votes so they match the eeg_id-level target (votes summed over rows)."""
    frame = pd.DataFrame(np.concatenate([values * weights[:, None], weights[:, None]], axis=1))
    frame.insert(0, "eeg_id", np.asarray(eeg_ids))
    agg = frame.groupby("eeg_id", sort=False).sum()
    return agg.iloc[:, :-1].div(agg.iloc[:, -1], axis=0)


def golden_prior(eegs: pd.DataFrame) -> np.ndarray:
    """Mean target of the golden eeg_ids (all eeg_ids if none are golden): the best constant under KL."""
    part = eegs[eegs["golden"]] if eegs["golden"].any() else eegs
    votes = part[list(VOTE_COLS)].to_numpy(dtype=float)
    return (votes / votes.sum(axis=1, keepdims=True)).mean(axis=0)
