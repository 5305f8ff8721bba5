"""The competition metric: KL divergence of the submission from the vote distribution, averaged over rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hms.constants import VOTE_COLS

EPSILON = 1e-15


class MetricError(ValueError):
    """Solution or submission is not a valid probability table."""


def _check_probabilities(p: np.ndarray, name: str) -> None:
    if p.ndim != 2 or p.shape[1] != len(VOTE_COLS):
        raise MetricError(f"{name}: expected shape (n, {len(VOTE_COLS)}), got {p.shape}")
    if not np.isfinite(p).all():
        raise MetricError(f"{name}: contains NaN or infinite values")
    if (p < 0).any() or (p > 1).any():
        raise MetricError(f"{name}: all values must lie in [0, 1]")
    if not np.allclose(p.sum(axis=1), 1.0):
        worst = float(np.abs(p.sum(axis=1) - 1).max())
        raise MetricError(f"{name}: every row must sum to 1 (worst row is off by {worst:.3g}); normalise first")


def kl_rows(solution: np.ndarray, submission: np.ndarray) -> np.ndarray:
    """Per-row KL(solution || clip(submission)); terms where solution is 0 count 0."""
    q = np.clip(submission, EPSILON, 1 - EPSILON)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(solution > 0, solution * np.log(solution / q), 0.0)
    return terms.sum(axis=1)


def kl_per_class(solution: np.ndarray, submission: np.ndarray) -> np.ndarray:
    """Mean KL contribution of each class column (sums to the score)."""
    q = np.clip(submission, EPSILON, 1 - EPSILON)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(solution > 0, solution * np.log(solution / q), 0.0)
    return terms.mean(axis=0)


def score_arrays(solution: np.ndarray, submission: np.ndarray) -> float:
    """The competition score from arrays of probabilities (n, 6). Neither side is renormalised."""
    solution = np.asarray(solution, dtype=np.float64)
    submission = np.asarray(submission, dtype=np.float64)
    _check_probabilities(solution, "solution")
    _check_probabilities(submission, "submission")
    if solution.shape != submission.shape:
        raise MetricError(f"solution has shape {solution.shape}, submission {submission.shape}")
    return float(kl_rows(solution, submission).mean())


def votes_to_solution(df: pd.DataFrame) -> pd.DataFrame:
    """Turn vote counts (or probabilities) into the solution table: each row divided by its total."""
    out = df.copy()
    votes = out[list(VOTE_COLS)].to_numpy(dtype=np.float64)
    totals = votes.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        raise MetricError("solution rows with zero votes cannot be normalised")
    out[list(VOTE_COLS)] = votes / totals
    return out


def score(solution: pd.DataFrame, submission: pd.DataFrame, id_column: str = "eeg_id") -> float:
    """Competition metric on two tables with ``id_column`` + six ``*_vote`` columns, joined on ``id_column``.

    ``solution`` holds vote counts or probabilities (divided by the row total here); ``submission`` holds
    probabilities, clipped to [1e-15, 1 - 1e-15] and not renormalised.
    """
    for name, df in (("solution", solution), ("submission", submission)):
        missing = [c for c in (id_column, *VOTE_COLS) if c not in df.columns]
        if missing:
            raise MetricError(f"{name}: missing columns {missing}")
        if df[id_column].duplicated().any():
            raise MetricError(f"{name}: duplicate {id_column} values")
        for column in VOTE_COLS:
            if not pd.api.types.is_numeric_dtype(df[column]):
                numbers = pd.to_numeric(df[column], errors="coerce")
                bad = df.loc[numbers.isna() & df[column].notna(), column].head(3).tolist()
                raise MetricError(f"{name}: column {column} holds values that are not numbers ({bad}); fix those rows")
    extra = sorted(set(submission[id_column]) - set(solution[id_column]))
    if extra:
        raise MetricError(
            f"submission holds {len(extra)} {id_column}s that are not in the solution ({extra[:5]}); "
            "it must hold exactly the solution's ids, as Kaggle requires"
        )
    sol = votes_to_solution(solution)
    merged = sol[[id_column, *VOTE_COLS]].merge(
        submission[[id_column, *VOTE_COLS]], on=id_column, how="left", suffixes=("_true", "_pred")
    )
    pred_cols = [f"{c}_pred" for c in VOTE_COLS]
    if merged[pred_cols].isna().any().any():
        n = int(merged[pred_cols].isna().any(axis=1).sum())
        raise MetricError(f"submission lacks {n} {id_column}s of the solution (or holds NaN for them)")
    return score_arrays(merged[[f"{c}_true" for c in VOTE_COLS]].to_numpy(), merged[pred_cols].to_numpy())


def score_files(solution_csv: str | Path, submission_csv: str | Path) -> float:
    """``python -m hms score``: :func:`score` of two csv files; errors name the file."""
    tables = []
    for what, path in (("solution", solution_csv), ("submission", submission_csv)):
        if not Path(path).is_file():
            raise MetricError(f"{path}: {what} file not found")
        try:
            tables.append(pd.read_csv(path))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise MetricError(f"{path}: cannot parse the {what} as CSV ({exc})") from exc
    try:
        return score(*tables)
    except MetricError as exc:
        raise MetricError(f"{submission_csv} scored against {solution_csv}: {exc}") from exc
