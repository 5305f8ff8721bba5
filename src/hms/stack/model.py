"""A fold's stacker at inference: the feature sets (blocks of the fold model's outputs, its SAE codes, its
per-position SAE's max-pooled codes, band powers), the feature matrix of a set, and :class:`FoldStack` (fold k's
LightGBM text model + its SAEs).

Fold k's stacker sees features from fold k's model and fold k's SAE, so it is always applied in the coordinate system
it was trained in."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
import torch

from hms.constants import VOTE_COLS
from hms.errors import DataError
from hms.experiment import ExperimentDir
from hms.gbm import load_text, predict, save_text
from hms.io import read_json, write_json
from hms.predict import FoldOutputs
from hms.sae.model import SparseAutoencoder

# feature set -> the blocks it concatenates; (a)-(d) of the ablation
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "logits": ("logits",),
    "logits_embedding": ("logits", "embedding"),
    "logits_sae": ("logits", "sae"),
    "logits_sae_hand": ("logits", "sae", "hand"),
    "logits_position_sae": ("logits", "position_sae"),
}
CNN_ONLY = "cnn"  # the fold models' averaged probabilities, no stacker


def needs(feature_set: str, block: str) -> bool:
    return block in FEATURE_SETS.get(feature_set, ())


@dataclass
class StackInputs:
    """What one fold's feature sets are built from: its model's outputs on the rows and, for the sets that use them,
    its SAE, the band powers (reindexed to ``hand_columns`` when given: the stacker's training columns) and its
    per-position SAE's codes max-pooled over positions, per view (rows, views, d_sae; NaN for rows without)."""

    outputs: FoldOutputs
    sae: SparseAutoencoder | None = None
    hand: pd.DataFrame | None = None
    hand_columns: list[str] | None = None
    position_peak: np.ndarray | None = None


def _block(block: str, given: StackInputs) -> tuple[np.ndarray, list[str]]:
    """One block of a feature set: its values (float64) and column names."""
    if block == "logits":
        return given.outputs.logits, [f"logit_{c.removesuffix('_vote')}" for c in VOTE_COLS]
    if block == "embedding":
        values = given.outputs.embedding
        return values, [f"emb_{i}" for i in range(values.shape[1])]
    if block == "sae":
        if given.sae is None:
            raise FileNotFoundError("feature set uses SAE codes but no SAE was given; run python -m hms sae first")
        values = given.sae.codes(torch.from_numpy(np.nan_to_num(given.outputs.embedding))).numpy()
        return values, [f"sae_{i}" for i in range(given.sae.cfg.d_sae)]
    if block == "position_sae":
        if given.position_peak is None:
            raise FileNotFoundError(
                "feature set uses per-position SAE codes but none were given; run python -m hms sae --positions first"
            )
        values = given.position_peak.mean(axis=1)  # the TTA views averaged, as the embedding
        return values, [f"pos_sae_{i}" for i in range(values.shape[1])]
    if given.hand is None:
        raise ValueError("feature set uses hand features but none were given")
    frame = given.hand if given.hand_columns is None else given.hand.reindex(columns=given.hand_columns)
    return frame.to_numpy(dtype=np.float64), list(frame.columns)


def feature_matrix(feature_set: str, given: StackInputs) -> tuple[np.ndarray, list[str]]:
    """The stacker's input matrix for one feature set from one fold's inputs; a row without model output gets NaN
    for every block derived from it (band powers stay)."""
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {feature_set!r}; choose from {list(FEATURE_SETS)}")
    missing = ~np.isfinite(given.outputs.probs).all(axis=1)
    blocks, names = [], []
    for block in FEATURE_SETS[feature_set]:
        values, block_names = _block(block, given)
        values = np.asarray(values, dtype=np.float64).copy()
        if block != "hand":
            values[missing] = np.nan
        blocks.append(values)
        names += block_names
    return np.concatenate(blocks, axis=1), names


def save_fold_stack(exp: ExperimentDir, feature_set: str, fold: int, booster: lgb.Booster, meta: dict) -> None:
    """LightGBM as text (never pickle) + a JSON sidecar (feature names, hand-feature columns, training eeg_ids, the
    model text's SHA-256)."""
    path = exp.stack_model(feature_set, fold)
    sha = save_text(booster, path)
    write_json(meta | {"model_sha256": sha}, path.with_suffix(".json"))


def _stack_fix(exp: ExperimentDir) -> str:
    return f"rerun python -m hms stack --experiment {exp.name}, or pass --stack cnn"


def read_stack_meta(exp: ExperimentDir, feature_set: str, fold: int) -> dict:
    """A fold stacker's sidecar, checked: its feature names and hand-feature columns are lists of names."""
    path = exp.stack_model(feature_set, fold).with_suffix(".json")
    meta = read_json(path, "stacker sidecar", _stack_fix(exp))
    for key in ("features", "hand_columns"):
        if not isinstance(meta.get(key), list) or not all(isinstance(v, str) for v in meta[key]):
            raise DataError(f"{path}: {key!r} must be a list of names; {_stack_fix(exp)}")
    return meta


class FoldStack:
    """Fold k's stacker files, checked as they are read: the LightGBM booster (against the SHA-256 its sidecar
    records), its feature names and hand-feature columns, and the SAE or per-position SAE its set reads."""

    def __init__(self, exp: ExperimentDir, feature_set: str, fold: int) -> None:
        path = exp.stack_model(feature_set, fold)
        meta = read_stack_meta(exp, feature_set, fold)
        self.feature_set = feature_set
        self.booster = load_text(path, meta.get("model_sha256"), _stack_fix(exp))
        if self.booster.num_feature() != len(meta["features"]):
            found, named = self.booster.num_feature(), len(meta["features"])
            raise DataError(f"{path}: {found} features, its sidecar names {named}; {_stack_fix(exp)}")
        self.hand_columns: list[str] = meta["hand_columns"]
        self.sae = SparseAutoencoder.load(exp.sae_weights(fold)) if needs(feature_set, "sae") else None
        positions = exp.position_sae_weights(fold)
        self.position_sae = SparseAutoencoder.load(positions) if needs(feature_set, "position_sae") else None

    def predict(self, given: StackInputs) -> np.ndarray:
        given = StackInputs(given.outputs, self.sae, given.hand, self.hand_columns, given.position_peak)
        x, _ = feature_matrix(self.feature_set, given)
        return predict(self.booster, x)


def check_feature_set(feature_set: str, where: str) -> str:
    if feature_set != CNN_ONLY and feature_set not in FEATURE_SETS:
        raise DataError(f"{where}: unknown stack feature set {feature_set!r}; choose from {[CNN_ONLY, *FEATURE_SETS]}")
    return feature_set


def default_feature_set(exp: ExperimentDir) -> str:
    """The stack feature set ``submission.py`` uses: best.json's choice (checked), or the fold models alone without a
    stack."""
    chosen = exp.best_feature_set()
    return CNN_ONLY if chosen is None else check_feature_set(chosen, str(exp.stack_best))
