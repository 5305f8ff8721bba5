"""``python -m hms stack --experiment NAME``: a LightGBM stacker per fold on that fold's CNN outputs, with an ablation
over feature sets on the CNN's own patient-grouped folds.

Fold k's stacker is trained on the label rows of fold k's TRAINING part, with features from fold k's CNN (and fold
k's SAE), and predicts fold k's validation rows; at test time each fold's CNN -> SAE -> LightGBM chain runs and the
folds are averaged. So a stacker always sees features from the same CNN/SAE coordinate system it will be applied to.
(The CNN's outputs on its own training rows are in-sample, i.e. more confident than on unseen rows; the ablation
shows what that costs.)

Soft labels: each row is repeated six times with weight = class probability (``hms.gbm``), which makes LightGBM's
multiclass log loss the cross-entropy to the vote distribution. Rows are weighted so that every eeg_id counts once
(within an eeg_id, by its rows' vote totals, as in the eeg_id-level target)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hms.baseline import score_table
from hms.constants import VOTE_COLS
from hms.data import Competition, eeg_level, total_votes
from hms.data.labels import eeg_average
from hms.embed import FoldOutputs, ensure_embeddings, load_fold_outputs
from hms.embed import cache_dir as embeddings_dir
from hms.gbm import fit_soft, predict
from hms.io import atomic_write, write_csv, write_json, write_parquet
from hms.paths import MODELS_DIR

log = logging.getLogger(__name__)

# feature set -> the blocks it concatenates; (a)-(d) of the ablation
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "logits": ("logits",),
    "logits_embedding": ("logits", "embedding"),
    "logits_sae": ("logits", "sae"),
    "logits_sae_hand": ("logits", "sae", "hand"),
}
CNN_ONLY = "cnn"  # the CNN's averaged probabilities, no stacker


def stack_dir(experiment_dir: Path) -> Path:
    return Path(experiment_dir) / "stack"


def needs(feature_set: str, block: str) -> bool:
    return block in FEATURE_SETS.get(feature_set, ())


def build_features(feature_set: str, outputs: FoldOutputs, sae=None, hand: pd.DataFrame | None = None,
                   hand_columns: list[str] | None = None) -> tuple[np.ndarray, list[str]]:  # fmt: skip
    """The feature matrix of one feature set from one fold's CNN outputs (+ that fold's SAE, + hand features)."""
    import torch

    if feature_set not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {feature_set!r}; choose from {list(FEATURE_SETS)}")
    missing = ~np.isfinite(outputs.probs).all(axis=1)  # rows with no CNN output: CNN-derived features unknown
    blocks, names = [], []
    for block in FEATURE_SETS[feature_set]:
        if block == "logits":
            values = outputs.logits
            names += [f"logit_{c.removesuffix('_vote')}" for c in VOTE_COLS]
        elif block == "embedding":
            values = outputs.embedding
            names += [f"emb_{i}" for i in range(values.shape[1])]
        elif block == "sae":
            if sae is None:
                raise FileNotFoundError("feature set uses SAE codes but no SAE was given; run python -m hms sae first")
            values = sae.codes(torch.from_numpy(np.nan_to_num(outputs.embedding))).numpy()
            names += [f"sae_{i}" for i in range(sae.cfg.d_sae)]
        else:  # hand
            if hand is None:
                raise ValueError("feature set uses hand features but none were given")
            frame = hand if hand_columns is None else hand.reindex(columns=hand_columns)
            blocks.append(frame.to_numpy(dtype=np.float64))
            names += list(frame.columns)
            continue
        values = np.asarray(values, dtype=np.float64).copy()
        values[missing] = np.nan
        blocks.append(values)
    x = np.concatenate(blocks, axis=1)
    return x, names


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


def run_stack(experiment: str, data: str | Path | None = None, models_root: str | Path = MODELS_DIR,
              feature_sets: tuple[str, ...] = tuple(FEATURE_SETS), rounds: int = 300, seed: int = 42,
              files_dir: str | Path | None = None) -> pd.DataFrame:  # fmt: skip
    """Fit every feature set on every fold; write stack/<set>/fold{k}.txt(+.json), OOF tables, ablation.csv and
    best.json (the feature set with the best golden OOF KL, or ``cnn`` when no stacker beats the CNN alone)."""
    from hms.sae.model import SparseAutoencoder
    from hms.sae.run import sae_dir
    from hms.train.run import record_run

    started = time.perf_counter()
    exp_dir = Path(models_root) / experiment
    comp = Competition.from_arg(data)
    rows = ensure_embeddings(exp_dir, comp.root)
    hand = pd.read_parquet(embeddings_dir(exp_dir) / "hand.parquet")
    targets = rows[list(VOTE_COLS)].to_numpy(dtype=float)
    targets = targets / targets.sum(axis=1, keepdims=True)
    weights = row_weights(rows)
    folds = sorted(int(p.stem.removeprefix("fold")) for p in embeddings_dir(exp_dir).glob("fold*.npz"))
    scored = rows["fold"].isin(folds).to_numpy()  # experiments trained on some folds only are scored on those
    rows, targets, weights = rows[scored].reset_index(drop=True), targets[scored], weights[scored]
    hand = hand[scored].reset_index(drop=True)
    eegs = eeg_level(comp.train()).merge(rows.groupby("eeg_id")["fold"].first().reset_index(), on="eeg_id")
    out = stack_dir(exp_dir)
    cnn_pred = np.full_like(targets, np.nan)
    preds = {name: np.full_like(targets, np.nan) for name in feature_sets}
    bar = tqdm(total=len(folds) * len(feature_sets), desc="stack", unit="model")
    for k in folds:
        full = load_fold_outputs(embeddings_dir(exp_dir) / f"fold{k}.npz")
        outputs = FoldOutputs(full.probs[scored], full.views[scored])
        valid = (rows["fold"] == k).to_numpy()
        cnn_pred[valid] = outputs.probs[valid]
        sae = None
        if any(needs(s, "sae") for s in feature_sets):
            path = sae_dir(exp_dir) / f"fold{k}.safetensors"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing; run python -m hms sae --experiment {experiment} first")
            sae = SparseAutoencoder.load(path)
        train_ids = sorted(int(i) for i in rows.loc[~valid, "eeg_id"].unique())
        for name in feature_sets:
            x, names = build_features(name, outputs, sae, hand)
            booster = fit_soft(x[~valid], targets[~valid], weights[~valid], rounds=rounds, seed=seed)
            path = out / name / f"fold{k}.txt"
            atomic_write(path, lambda p, b=booster: b.save_model(str(p)))
            meta = {"feature_set": name, "features": names, "hand_columns": list(hand.columns),
                    "train_eeg_ids": train_ids, "rounds": rounds, "seed": seed}  # fmt: skip
            write_json(meta, path.with_suffix(".json"))
            preds[name][valid] = predict(booster, x[valid])
            bar.update()
    bar.close()
    minutes = (time.perf_counter() - started) / 60
    cnn_scores, _ = _eeg_scores(rows, cnn_pred, eegs)
    base = cnn_scores.set_index("part").loc["oof"]
    table = [{"feature_set": CNN_ONLY, "n_features": 0, "oof_kl_all": base["kl_all"],
              "oof_kl_golden": base["kl_golden"], "vs_cnn_all": 0.0, "vs_cnn_golden": 0.0}]  # fmt: skip
    sae_summary = _sae_summary(exp_dir)
    for name in feature_sets:
        scores, oof = _eeg_scores(rows, preds[name], eegs)
        write_parquet(oof, out / name / "oof.parquet")
        row_oof = rows[["eeg_id", "eeg_sub_id", "fold"]].assign(**dict(zip(VOTE_COLS, preds[name].T, strict=True)))
        write_parquet(row_oof, out / name / "oof_rows.parquet")
        write_csv(scores, out / name / "scores.csv")
        o = scores.set_index("part").loc["oof"]
        n_feat = len(json.loads((out / name / f"fold{folds[0]}.json").read_text())["features"])
        table.append({"feature_set": name, "n_features": n_feat, "oof_kl_all": o["kl_all"],
                      "oof_kl_golden": o["kl_golden"], "vs_cnn_all": o["kl_all"] - base["kl_all"],
                      "vs_cnn_golden": o["kl_golden"] - base["kl_golden"]})  # fmt: skip
        extra = sae_summary if needs(name, "sae") else {}
        record_run(f"{experiment}_stack_{name}", scores, comp.root, eegs[eegs["golden"]], minutes, files_dir,
                   seed=seed, folds=",".join(map(str, folds)), model=f"lightgbm[{name}]", **extra)  # fmt: skip
    ablation = pd.DataFrame(table)
    write_csv(ablation, out / "ablation.csv")
    best = ablation.sort_values("oof_kl_golden").iloc[0]
    write_json({"feature_set": str(best["feature_set"]), "oof_kl_golden": float(best["oof_kl_golden"]),
                "chosen_by": "lowest golden OOF KL among the CNN alone and every stacked feature set"},
               out / "best.json")  # fmt: skip
    return ablation


def _sae_summary(exp_dir: Path) -> dict:
    path = exp_dir / "sae" / "metrics.json"
    if not path.is_file():
        return {}
    m = json.loads(path.read_text())
    return {"sae_explained_variance": m["explained_variance"], "sae_l0": m["l0"],
            "sae_dead_fraction": m["dead_fraction"]}  # fmt: skip


class FoldStack:
    """Fold k's stacker files: the LightGBM booster, its feature names and hand-feature columns, and the SAE."""

    def __init__(self, exp_dir: Path, feature_set: str, fold: int) -> None:
        from hms.sae.model import SparseAutoencoder
        from hms.sae.run import sae_dir

        path = stack_dir(exp_dir) / feature_set / f"fold{fold}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; run python -m hms stack --experiment {Path(exp_dir).name}")
        self.feature_set = feature_set
        self.booster = lgb.Booster(model_file=str(path))
        meta = json.loads(path.with_suffix(".json").read_text())
        self.hand_columns: list[str] = meta["hand_columns"]
        self.sae = SparseAutoencoder.load(sae_dir(exp_dir) / f"fold{fold}.safetensors") if needs(
            feature_set, "sae") else None  # fmt: skip

    def predict(self, outputs: FoldOutputs, hand: pd.DataFrame | None) -> np.ndarray:
        x, _ = build_features(self.feature_set, outputs, self.sae, hand, self.hand_columns)
        return predict(self.booster, x)


def default_feature_set(exp_dir: Path) -> str:
    """The stack feature set ``submission.py`` uses: best.json's choice, or the CNN alone without a stack."""
    path = stack_dir(exp_dir) / "best.json"
    return json.loads(path.read_text())["feature_set"] if path.is_file() else CNN_ONLY
