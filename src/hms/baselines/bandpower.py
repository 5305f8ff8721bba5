"""``python -m hms bandpower``: the non-deep baseline (LightGBM on band powers per chain) on the CNN's folds."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from hms import leaderboard
from hms.constants import VOTE_COLS
from hms.data import Competition, dedupe_rows, eeg_level, read_folds, total_votes
from hms.data.labels import eeg_average, vote_probabilities
from hms.evaluation import record_run, score_table
from hms.experiment import ExperimentDir
from hms.gbm import fit_soft, predict, save_text
from hms.io import write_csv, write_parquet
from hms.signal.bands import table_band_powers
from hms.signal.config import FrontEndConfig


def run_bandpower(data: str | Path | None, folds_csv: str | Path, out: str | Path, seed: int = 42) -> pd.DataFrame:
    started = time.perf_counter()
    ExperimentDir(Path(out)).refuse_models("band-power baseline", networks_only=True)
    leaderboard.check()  # before any work: the run's row must have a leaderboard to join
    comp = Competition.from_arg(data)
    train = comp.train()
    folds = read_folds(folds_csv, train)
    rows = dedupe_rows(train).merge(folds[["eeg_id", "fold"]], on="eeg_id")
    feats = table_band_powers(comp, rows, FrontEndConfig())
    x = feats.to_numpy(dtype=float)
    targets = vote_probabilities(rows)
    weights = total_votes(rows).to_numpy(dtype=float)
    weights = weights / weights.mean()
    pred = np.zeros_like(targets)
    exp = ExperimentDir(Path(out))
    exp.root.mkdir(parents=True, exist_ok=True)
    for k in sorted(rows["fold"].unique()):
        valid = (rows["fold"] == k).to_numpy()
        booster = fit_soft(x[~valid], targets[~valid], weights[~valid], seed=seed)
        save_text(booster, exp.lgbm_model(k))
        pred[valid] = predict(booster, x[valid])
    probs = eeg_average(rows["eeg_id"].to_numpy(), pred, weights)
    probs.columns = list(VOTE_COLS)
    eegs = eeg_level(train).merge(folds[["eeg_id", "fold"]], on="eeg_id")
    scores = score_table(eegs, probs.loc[eegs["eeg_id"]].to_numpy())
    oof = eegs[["eeg_id", "patient_id", "fold", "golden"]].join(probs, on="eeg_id")
    write_parquet(oof, exp.oof_parquet)
    write_csv(scores, exp.scores_csv)
    minutes = (time.perf_counter() - started) / 60
    name = exp.name if exp.name.startswith("bandpower") else f"bandpower_{exp.name}"
    record_run(name, scores, comp.root, eegs[eegs["golden"]], minutes, seed=seed, folds="all", model="lightgbm")
    return scores
