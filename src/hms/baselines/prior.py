"""Class-prior baseline: predict the training folds' golden class prior for every eeg_id; scored out of fold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hms.constants import CLASSES, VOTE_COLS
from hms.data.labels import eeg_level, golden_prior
from hms.evaluation import score_table
from hms.experiment import ExperimentDir
from hms.io import write_csv, write_parquet


def run_baseline(train: pd.DataFrame, folds: pd.DataFrame, out: str | Path) -> pd.DataFrame:
    """Write prior.json (fitted on all training eeg_ids), oof.parquet and scores.csv into the folder ``out``."""
    exp = ExperimentDir(Path(out))
    exp.refuse_models("class-prior baseline")
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
    write_parquet(oof, exp.oof_parquet)
    scores = score_table(eegs, pred)
    write_csv(scores, exp.scores_csv)
    exp.write_prior(golden_prior(eegs))
    return scores
