"""``python -m hms stack --experiment NAME``: a LightGBM stacker per fold on that fold's CNN outputs, with an ablation
over feature sets on the CNN's own patient-grouped folds.

Fold k's stacker is trained on the label rows of fold k's TRAINING part, with features from fold k's CNN (and fold
k's SAE), and predicts fold k's validation rows; at test time each fold's CNN -> SAE -> LightGBM chain runs and the
folds are averaged. So a stacker always sees features from the same CNN/SAE coordinate system it will be applied to.
(The CNN's outputs on its own training rows are in-sample, i.e. more confident than on unseen rows; the ablation
shows what that costs.)

Soft labels: LightGBM minimises the cross-entropy to each row's vote distribution (``hms.gbm``'s custom objective).
Rows are weighted so that every eeg_id counts once (within an eeg_id, by its rows' vote totals, as in the eeg_id-level
target)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hms import leaderboard
from hms.constants import VOTE_COLS
from hms.data import Competition, DataError, eeg_level, total_votes
from hms.data.labels import eeg_average, vote_probabilities
from hms.embed import EmbeddingCache
from hms.evaluation import record_run, score_table
from hms.experiment import ExperimentDir
from hms.gbm import fit_soft, predict
from hms.io import write_csv, write_parquet
from hms.paths import MODELS_DIR
from hms.sae.model import SparseAutoencoder
from hms.sae.position_codes import PositionCodes
from hms.sae.positions import PositionSettings
from hms.stack.model import (
    CNN_ONLY,
    FEATURE_SETS,
    StackInputs,
    feature_matrix,
    needs,
    read_stack_meta,
    save_fold_stack,
)

log = logging.getLogger(__name__)


def row_weights(rows: pd.DataFrame) -> np.ndarray:
    """Each eeg_id weighs 1 in all; within it, rows by their vote totals."""
    votes = total_votes(rows).to_numpy(dtype=float)
    per_eeg = pd.Series(votes).groupby(rows["eeg_id"].to_numpy()).transform("sum").to_numpy()
    return votes / per_eeg


def _eeg_scores(rows: pd.DataFrame, pred: np.ndarray, eegs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Row predictions -> eeg_id predictions (vote-weighted, as the eeg_id target) -> score table."""
    probs = eeg_average(rows["eeg_id"].to_numpy(), pred, total_votes(rows).to_numpy(dtype=float))
    probs.columns = list(VOTE_COLS)
    scores = score_table(eegs, probs.loc[eegs["eeg_id"]].to_numpy())
    oof = eegs[["eeg_id", "patient_id", "fold", "golden"]].join(probs, on="eeg_id")
    return scores, oof


def _fold_sae(exp: ExperimentDir, fold: int) -> SparseAutoencoder:
    path = exp.sae_weights(fold)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run python -m hms sae --experiment {exp.name} first")
    return SparseAutoencoder.load(path)


def _fold_position_peak(exp: ExperimentDir, fold: int, n_rows: int, has_output: np.ndarray) -> np.ndarray:
    """Fold ``fold``'s per-position codes of every label row (rows, views, d_sae), checked to cover every row the
    fold's model has outputs for (training rows included)."""
    peak = PositionCodes.load(exp.position_codes(fold)).dense(n_rows)
    uncovered = has_output & ~np.isfinite(peak).all(axis=(1, 2))
    if uncovered.any():
        raise DataError(
            f"{exp.position_codes(fold)}: no per-position codes for {int(uncovered.sum())} label rows (the store kept "
            f"a sample of the training windows' positions); rerun python -m hms sae --positions --experiment "
            f"{exp.name} --set positions.per_window=0"
        )
    return peak


def _fold_inputs(
    cache: EmbeddingCache, fold: int, scored: np.ndarray, hand: pd.DataFrame, feature_sets: tuple[str, ...]
) -> StackInputs:
    """Fold ``fold``'s stacker inputs on the scored rows: its outputs, band powers and what the sets need of its SAE
    and per-position SAE."""
    exp, full = cache.exp, cache.fold(fold)
    given = StackInputs(full.subset(scored), hand=hand)
    if any(needs(s, "sae") for s in feature_sets):
        given.sae = _fold_sae(exp, fold)
    if any(needs(s, "position_sae") for s in feature_sets):
        has_output = np.isfinite(full.probs).all(axis=1)
        given.position_peak = _fold_position_peak(exp, fold, len(scored), has_output)[scored]
    return given


def _codes_of_every_row(exp: ExperimentDir, folds: list[int]) -> bool:
    """Whether every fold has per-position codes of its training rows too (the store kept every position)."""
    if not folds or not exp.position_metrics_json.is_file():
        return False
    summary = json.loads(exp.position_metrics_json.read_text())
    n_positions = int(summary.get("positions", 0))
    kept = PositionSettings(per_window=int(summary.get("per_window", 1))).kept(n_positions)
    return n_positions > 0 and kept == n_positions and all(exp.position_codes(k).is_file() for k in folds)


def available_feature_sets(exp: ExperimentDir) -> tuple[str, ...]:
    """Every feature set whose inputs exist: the SAE ones once ``hms sae`` has fitted every fold, the per-position
    one once ``hms sae --positions`` (every position kept) has written every fold's codes; each skipped set is logged
    with its fix."""
    folds = exp.folds_with_weights()
    have = {
        "sae": bool(folds) and all(exp.sae_weights(k).is_file() for k in folds),
        "position_sae": _codes_of_every_row(exp, folds),
    }
    fixes = {"sae": "python -m hms sae", "position_sae": "python -m hms sae --positions --set positions.per_window=0"}
    chosen = []
    for name in FEATURE_SETS:
        lacking = [block for block in have if needs(name, block) and not have[block]]
        if lacking:
            log.warning("stack: skipping %s (run %s --experiment %s first)", name, fixes[lacking[0]], exp.name)
        else:
            chosen.append(name)
    return tuple(chosen)


def _ablation_row(feature_set: str, n_features: int, oof: pd.Series, cnn: pd.Series) -> dict:
    """One row of ablation.csv: a feature set's OOF KL (all, golden) and its difference to the CNN alone."""
    return {
        "feature_set": feature_set,
        "n_features": n_features,
        "oof_kl_all": oof["kl_all"],
        "oof_kl_golden": oof["kl_golden"],
        "vs_cnn_all": oof["kl_all"] - cnn["kl_all"],
        "vs_cnn_golden": oof["kl_golden"] - cnn["kl_golden"],
    }


def run_stack(
    experiment: str,
    data: str | Path | None = None,
    models_root: str | Path = MODELS_DIR,
    feature_sets: tuple[str, ...] | None = None,
    rounds: int = 300,
    seed: int = 42,
    files_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Fit every feature set (default: :func:`available_feature_sets`) on every fold; write
    stack/<set>/fold{k}.txt(+.json), OOF tables, ablation.csv and best.json (the feature set with the best golden OOF
    KL, or ``cnn`` when no stacker beats the CNN alone)."""
    started = time.perf_counter()
    exp = ExperimentDir.named(experiment, models_root)
    feature_sets = feature_sets or available_feature_sets(exp)
    leaderboard.check(files_dir)  # before any work: the run's rows must have a leaderboard to join
    comp = Competition.from_arg(data)
    cache = EmbeddingCache.build(exp, comp.root)
    rows, hand = cache.rows, cache.hand()
    targets = vote_probabilities(rows)
    weights = row_weights(rows)
    folds = cache.folds()
    scored = rows["fold"].isin(folds).to_numpy()  # experiments trained on some folds only are scored on those
    rows, targets, weights = rows[scored].reset_index(drop=True), targets[scored], weights[scored]
    hand = hand[scored].reset_index(drop=True)
    eegs = eeg_level(comp.train()).merge(rows.groupby("eeg_id")["fold"].first().reset_index(), on="eeg_id")
    cnn_pred = np.full_like(targets, np.nan)
    preds = {name: np.full_like(targets, np.nan) for name in feature_sets}
    bar = tqdm(total=len(folds) * len(feature_sets), desc="stack", unit="model")
    for k in folds:
        given = _fold_inputs(cache, k, scored, hand, feature_sets)
        outputs = given.outputs
        valid = (rows["fold"] == k).to_numpy()
        cnn_pred[valid] = outputs.probs[valid]
        train_ids = sorted(int(i) for i in rows.loc[~valid, "eeg_id"].unique())
        for name in feature_sets:
            x, names = feature_matrix(name, given)
            booster = fit_soft(x[~valid], targets[~valid], weights[~valid], rounds=rounds, seed=seed)
            meta = {
                "feature_set": name,
                "features": names,
                "hand_columns": list(hand.columns),
                "train_eeg_ids": train_ids,
                "rounds": rounds,
                "seed": seed,
            }
            save_fold_stack(exp, name, k, booster, meta)
            preds[name][valid] = predict(booster, x[valid])
            bar.update()
    bar.close()
    minutes = (time.perf_counter() - started) / 60
    cnn_scores, _ = _eeg_scores(rows, cnn_pred, eegs)
    base = cnn_scores.set_index("part").loc["oof"]
    table = [_ablation_row(CNN_ONLY, 0, base, base)]
    sae_summary, position_summary = _sae_summary(exp.sae_metrics_json), _sae_summary(exp.position_metrics_json)
    for name in feature_sets:
        scores, oof = _eeg_scores(rows, preds[name], eegs)
        write_parquet(oof, exp.stack_oof(name))
        row_oof = rows[["eeg_id", "eeg_sub_id", "fold"]].assign(**dict(zip(VOTE_COLS, preds[name].T, strict=True)))
        write_parquet(row_oof, exp.stack_oof_rows(name))
        write_csv(scores, exp.stack_scores(name))
        n_feat = len(read_stack_meta(exp, name, folds[0])["features"])
        table.append(_ablation_row(name, n_feat, scores.set_index("part").loc["oof"], base))
        extra = sae_summary if needs(name, "sae") else position_summary if needs(name, "position_sae") else {}
        record_run(
            f"{experiment}_stack_{name}",
            scores,
            comp.root,
            eegs[eegs["golden"]],
            minutes,
            files_dir,
            seed=seed,
            folds=",".join(map(str, folds)),
            model=f"lightgbm[{name}]",
            **extra,
        )
    ablation = pd.DataFrame(table)
    write_csv(ablation, exp.stack_ablation)
    best = ablation.sort_values("oof_kl_golden").iloc[0]
    exp.write_best(
        str(best["feature_set"]),
        oof_kl_golden=float(best["oof_kl_golden"]),
        chosen_by="lowest golden OOF KL among the CNN alone and every stacked feature set",
    )
    return ablation


def _sae_summary(path: Path) -> dict:
    """The leaderboard's SAE columns from a pooled or per-position SAE's metrics.json (none when it is missing)."""
    if not path.is_file():
        return {}
    m = json.loads(path.read_text())
    return {
        "sae_explained_variance": m["explained_variance"],
        "sae_l0": m["l0"],
        "sae_dead_fraction": m["dead_fraction"],
    }
