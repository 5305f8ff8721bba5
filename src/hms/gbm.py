"""LightGBM on soft labels. LightGBM's multiclass objective wants hard labels, so each row is repeated six times,
once per class, with weight = that class's target probability (times the row weight): minimising the weighted
multi-class log loss then minimises the cross-entropy to the soft label, i.e. the KL divergence up to a constant."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from hms.constants import N_CLASSES

DEFAULT_PARAMS = {
    "objective": "multiclass", "num_class": N_CLASSES, "learning_rate": 0.03, "num_leaves": 15,
    "min_data_in_leaf": 10, "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1,
    "lambda_l2": 1.0, "verbose": -1, "num_threads": 2, "deterministic": True, "force_row_wise": True,
}  # fmt: skip


def expand_soft(x: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None):
    """(n, f), (n, 6) -> (6n, f) features, hard labels 0..5, weights p_k * w."""
    n = len(x)
    w = np.ones(n) if weights is None else weights
    xs = np.repeat(x, N_CLASSES, axis=0)
    ys = np.tile(np.arange(N_CLASSES), n)
    ws = (targets * w[:, None]).reshape(-1)
    keep = ws > 0
    return xs[keep], ys[keep], ws[keep]


def fit_soft(x: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None, rounds: int = 300,
             seed: int = 42, params: dict | None = None) -> lgb.Booster:  # fmt: skip
    xs, ys, ws = expand_soft(x, targets, weights)
    merged = DEFAULT_PARAMS | {"seed": seed} | (params or {})
    return lgb.train(merged, lgb.Dataset(xs, ys, weight=ws), num_boost_round=rounds)


def predict(booster: lgb.Booster, x: np.ndarray) -> np.ndarray:
    p = booster.predict(x)
    return p / p.sum(axis=1, keepdims=True)
