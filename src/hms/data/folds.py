"""Patient-grouped, consensus-stratified folds: one row per eeg_id (eeg_id, patient_id, fold)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

from hms.data.errors import DataError
from hms.data.labels import eeg_level

log = logging.getLogger(__name__)


def make_folds(train: pd.DataFrame, n_folds: int = 5, seed: int = 42) -> pd.DataFrame:
    """StratifiedGroupKFold on the eeg_id-level table: grouped by patient_id, stratified by expert_consensus."""
    eegs = eeg_level(train)
    if eegs["patient_id"].nunique() < n_folds:
        raise DataError(f"only {eegs['patient_id'].nunique()} patients for {n_folds} folds; lower --n-folds")
    y, groups = eegs["expert_consensus"], eegs["patient_id"]
    if y.value_counts().max() >= n_folds:
        splits = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(eegs, y, groups)
    else:  # tiny data: no class fills every fold, so stratifying is impossible
        log.warning("every class has fewer than %d eeg_ids: folds are patient-grouped but not stratified", n_folds)
        splits = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(eegs, y, groups)
    fold = np.full(len(eegs), -1, dtype=np.int64)
    for k, (_, valid) in enumerate(splits):
        fold[valid] = k
    out = eegs[["eeg_id", "patient_id"]].copy()
    out["fold"] = fold
    return out.sort_values(["fold", "eeg_id"]).reset_index(drop=True)


def fold_class_shares(folds: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """Class shares (eeg_id level, by expert_consensus) per fold, plus an ``all`` row."""
    eegs = eeg_level(train)[["eeg_id", "expert_consensus"]].merge(folds[["eeg_id", "fold"]], on="eeg_id")
    shares = pd.crosstab(eegs["fold"], eegs["expert_consensus"], normalize="index")
    shares.loc["all"] = eegs["expert_consensus"].value_counts(normalize=True)
    return shares


def read_folds(path: str | os.PathLike[str], train: pd.DataFrame | None = None) -> pd.DataFrame:
    """Read folds.csv; with ``train`` check it covers every eeg_id of that train.csv (else it was built for another)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"{path}: folds file not found; build it with: python -m hms folds --train TRAIN_CSV --out {path}"
        )
    folds = pd.read_csv(path)
    need = {"eeg_id", "patient_id", "fold"}
    if not need <= set(folds.columns):
        raise DataError(f"{path}: folds file needs columns {sorted(need)}, has {list(folds.columns)}")
    if folds["eeg_id"].duplicated().any():
        raise DataError(f"{path}: duplicate eeg_ids; rebuild with python -m hms folds")
    if train is not None:
        missing = set(train["eeg_id"].unique()) - set(folds["eeg_id"])
        if missing:
            raise DataError(
                f"{path}: {len(missing)} eeg_ids of train.csv have no fold (e.g. {sorted(missing)[:3]}); the folds "
                f"were built for another train.csv: rebuild with python -m hms folds --train ... --out {path}"
            )
    return folds


def fold_summary(folds: pd.DataFrame, train: pd.DataFrame) -> str:
    """Class shares per fold and the largest gap to the overall share (what ``python -m hms folds`` prints)."""
    shares = fold_class_shares(folds, train)
    spread = (shares.drop(index="all") - shares.loc["all"]).abs().to_numpy().max() * 100
    return (
        shares.round(3).to_string() + f"\n{folds['fold'].nunique()} folds, {len(folds)} eeg_ids, "
        f"{folds['patient_id'].nunique()} patients; largest class-share gap to the overall share: "
        f"{spread:.2f} points"
    )
