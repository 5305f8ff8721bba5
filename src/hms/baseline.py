"""Class-prior baseline: predict the training folds' golden class prior for every eeg_id; scored out of fold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hms.constants import CLASSES, VOTE_COLS
from hms.data.labels import eeg_level
from hms.io import write_csv, write_json, write_parquet
from hms.metric import kl_per_class, score_arrays


def golden_prior(eegs: pd.DataFrame) -> np.ndarray:
    """Mean target of the golden eeg_ids (all eeg_ids if none are golden): the best constant under KL."""
    part = eegs[eegs["golden"]] if eegs["golden"].any() else eegs
    votes = part[list(VOTE_COLS)].to_numpy(dtype=float)
    return (votes / votes.sum(axis=1, keepdims=True)).mean(axis=0)


def score_table(eegs: pd.DataFrame, pred: np.ndarray) -> pd.DataFrame:
    """Scores per fold and out of fold, on all eeg_ids and on the golden subset, with per-class KL (golden)."""
    votes = eegs[list(VOTE_COLS)].to_numpy(dtype=float)
    solution = votes / votes.sum(axis=1, keepdims=True)
    rows = []
    folds = sorted(eegs["fold"].unique())
    for name, mask in [
        *((f"fold{k}", (eegs["fold"] == k).to_numpy()) for k in folds),
        ("oof", np.ones(len(eegs), bool)),
    ]:
        golden = mask & eegs["golden"].to_numpy()
        row: dict[str, float | int | str] = {
            "part": name,
            "n_eegs": int(mask.sum()),
            "n_golden": int(golden.sum()),
            "kl_all": score_arrays(solution[mask], pred[mask]),
            "kl_golden": score_arrays(solution[golden], pred[golden]) if golden.any() else float("nan"),
        }
        if golden.any():
            row.update(
                {
                    f"kl_{c}": float(v)
                    for c, v in zip(CLASSES, kl_per_class(solution[golden], pred[golden]), strict=True)
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)


def run_baseline(train: pd.DataFrame, folds: pd.DataFrame, out: str | Path) -> pd.DataFrame:
    """Write prior.json (fitted on all training eeg_ids), oof.parquet and scores.csv into ``out``."""
    out = Path(out)
    eegs = eeg_level(train).merge(folds[["eeg_id", "fold"]], on="eeg_id", how="left")
    if eegs["fold"].isna().any():
        raise ValueError("some eeg_ids of train.csv have no fold; rebuild folds with python -m hms folds")
    eegs["fold"] = eegs["fold"].astype(int)
    pred = np.zeros((len(eegs), len(CLASSES)))
    for k in sorted(eegs["fold"].unique()):
        valid = (eegs["fold"] == k).to_numpy()
        pred[valid] = golden_prior(eegs[~valid])
    oof = eegs[["eeg_id", "patient_id", "fold", "golden"]].copy()
    oof[list(VOTE_COLS)] = pred
    write_parquet(oof, out / "oof.parquet")
    scores = score_table(eegs, pred)
    write_csv(scores, out / "scores.csv")
    write_json({"model": "class_prior", "prior": dict(zip(VOTE_COLS, golden_prior(eegs).tolist(), strict=True))},
               out / "prior.json")  # fmt: skip
    return scores
