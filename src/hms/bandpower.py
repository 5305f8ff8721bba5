"""``python -m hms bandpower``: the non-deep baseline (LightGBM on band powers per chain) on the CNN's folds."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from hms.baseline import score_table
from hms.constants import VOTE_COLS
from hms.data import Competition, dedupe_rows, eeg_level, read_folds, total_votes
from hms.features import table_features
from hms.gbm import fit_soft, predict
from hms.io import write_csv, write_parquet
from hms.signal.config import FrontEndConfig


def run_bandpower(data: str | Path | None, folds_csv: str | Path, out: str | Path, seed: int = 42) -> pd.DataFrame:
    started = time.perf_counter()
    comp = Competition.from_arg(data)
    train = comp.train()
    folds = read_folds(folds_csv, train)
    rows = dedupe_rows(train).merge(folds[["eeg_id", "fold"]], on="eeg_id")
    feats = table_features(comp, rows, FrontEndConfig())
    x = feats.to_numpy(dtype=float)
    votes = rows[list(VOTE_COLS)].to_numpy(dtype=float)
    targets = votes / votes.sum(axis=1, keepdims=True)
    weights = total_votes(rows).to_numpy(dtype=float)
    weights = weights / weights.mean()
    pred = np.zeros_like(targets)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for k in sorted(rows["fold"].unique()):
        valid = (rows["fold"] == k).to_numpy()
        booster = fit_soft(x[~valid], targets[~valid], weights[~valid], seed=seed)
        booster.save_model(str(out / f"fold{k}.txt"))
        pred[valid] = predict(booster, x[valid])
    frame = pd.DataFrame(pred * weights[:, None], columns=list(VOTE_COLS))
    frame["eeg_id"], frame["_w"] = rows["eeg_id"].to_numpy(), weights
    agg = frame.groupby("eeg_id").sum()
    probs = agg[list(VOTE_COLS)].div(agg["_w"], axis=0)
    eegs = eeg_level(train).merge(folds[["eeg_id", "fold"]], on="eeg_id")
    scores = score_table(eegs, probs.loc[eegs["eeg_id"]].to_numpy())
    oof = eegs[["eeg_id", "patient_id", "fold", "golden"]].join(probs, on="eeg_id")
    write_parquet(oof, out / "oof.parquet")
    write_csv(scores, out / "scores.csv")
    from hms import leaderboard
    from hms.train.run import simulated_references

    overall = scores.set_index("part").loc["oof"]
    refs = simulated_references(comp.root, eegs[eegs["golden"]])
    gap = float("nan")
    if refs and refs["class_prior_kl"] > refs["bayes_floor"]:
        gap = (overall["kl_golden"] - refs["bayes_floor"]) / (refs["class_prior_kl"] - refs["bayes_floor"])
    leaderboard.append({"experiment": f"bandpower_{out.name}", "seed": seed, "folds": "all", "model": "lightgbm",
                        "oof_kl_all": float(overall["kl_all"]), "oof_kl_golden": float(overall["kl_golden"]),
                        "bayes_floor": refs.get("bayes_floor"), "class_prior_kl": refs.get("class_prior_kl"),
                        "gap_left": gap, "train_minutes": round((time.perf_counter() - started) / 60, 2),
                        "notes": f"data={comp.root}"})  # fmt: skip
    return scores
