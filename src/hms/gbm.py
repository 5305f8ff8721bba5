"""LightGBM on soft labels. LightGBM's multiclass objective wants hard labels; here the soft-label cross-entropy is
given to it directly as a custom objective: for softmax outputs p and a vote distribution t, the gradient of
``-sum_k t_k log p_k`` is ``p - t`` and the diagonal Hessian ``p (1 - p)`` (times LightGBM's own multiclass factor
K/(K-1)), each times the row weight. Minimising it minimises the KL divergence to the votes up to a constant.

This is what repeating every row six times with weight = class probability computes (the per-row sums of those six
copies' gradients and Hessians are exactly these), on one row instead of up to six: the stacker on SAE codes runs
about 4x faster and holds one copy of its feature matrix (``benchmarks/bench_scale.py`` measures both)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import lightgbm as lgb
import numpy as np

from hms.constants import N_CLASSES
from hms.errors import DataError
from hms.io import write_text

DEFAULT_PARAMS = {
    "num_class": N_CLASSES,
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_data_in_leaf": 10,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
    "feature_pre_filter": False,  # a tiny training part then fits the prior instead of failing: no feature left
}


def softmax(scores: np.ndarray) -> np.ndarray:
    z = np.exp(scores - scores.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def soft_label_objective(targets: np.ndarray, weights: np.ndarray):
    """LightGBM custom objective (scores of shape (n, K) -> gradient, Hessian) for the soft-label cross-entropy."""
    t = np.asarray(targets, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)[:, None]
    factor = N_CLASSES / (N_CLASSES - 1.0)  # as LightGBM's multiclass objective

    def objective(scores: np.ndarray, _: lgb.Dataset) -> tuple[np.ndarray, np.ndarray]:
        p = softmax(scores)
        return (p - t) * w, factor * p * (1.0 - p) * w

    return objective


def fit_soft(
    x: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray | None = None,
    rounds: int = 300,
    seed: int = 42,
    params: dict | None = None,
) -> lgb.Booster:
    """A multiclass booster whose softmax outputs fit the soft ``targets`` (rows of probabilities)."""
    t = np.asarray(targets, dtype=np.float64)
    if t.ndim != 2 or t.shape[1] != N_CLASSES or not np.isfinite(t).all():
        raise ValueError(f"targets must be finite, of shape (n, {N_CLASSES}); got {t.shape}")
    w = np.ones(len(t)) if weights is None else np.asarray(weights, dtype=np.float64)
    merged = DEFAULT_PARAMS | {"seed": seed} | (params or {}) | {"objective": soft_label_objective(t, w)}
    return lgb.train(merged, lgb.Dataset(x, t.argmax(axis=1)), num_boost_round=rounds)


def predict(booster: lgb.Booster, x: np.ndarray) -> np.ndarray:
    """Class probabilities: softmax of the raw scores (the same for a booster trained with LightGBM's own multiclass
    objective, whose saved text models this also reads)."""
    return softmax(booster.predict(x, raw_score=True))


# -- LightGBM text models: the one writer and the checked reader ------------------------------------------------------
_TREE_ARRAYS = {"split_feature": -1, "threshold": -1, "left_child": -1, "right_child": -1, "leaf_value": 0}


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def save_text(booster: lgb.Booster, path: str | os.PathLike[str]) -> str:
    """The booster as a LightGBM text model (never pickle), written atomically; returns the text's SHA-256, which
    the caller records beside it so :func:`load_text` can tell a damaged file before LightGBM reads it."""
    text = booster.model_to_string()
    write_text(text, path)
    return text_sha256(text)


def _check_text(text: str) -> str | None:
    """What is wrong with a LightGBM text model, or None. LightGBM's own parser aborts the whole process (no
    exception) on some damage, e.g. a non-number where a number belongs: every value of every tree is parsed here
    first, and the split and leaf arrays must fit the tree's number of leaves."""
    if not text.startswith("tree\n") or "\nend of trees" not in text:
        return "not a complete LightGBM text model (no 'tree' header or no 'end of trees')"
    trees = text[: text.index("\nend of trees")].split("\nTree=")[1:]
    if not trees:
        return "holds no trees"
    for number, block in enumerate(trees):
        fields = dict(line.split("=", 1) for line in block.splitlines()[1:] if "=" in line)
        try:
            numbers = {key: [float(v) for v in value.split()] for key, value in fields.items()}
            leaves = int(fields["num_leaves"])
        except KeyError as exc:
            return f"tree {number} lacks {exc.args[0]}"
        except ValueError as exc:
            return f"tree {number}: {exc}"
        for key, extra in _TREE_ARRAYS.items():
            if key not in numbers and leaves > 1:
                return f"tree {number} lacks {key}"
            if len(numbers.get(key, [])) != max(0, leaves + extra):
                return f"tree {number}: {key} has {len(numbers[key])} values for {leaves} leaves"
    return None


def load_text(path: str | os.PathLike[str], sha256: str | None, fix: str) -> lgb.Booster:
    """A LightGBM text model, checked first (``DataError`` naming the file and ``fix``): present, the SHA-256 it was
    written with (when recorded), every tree parseable."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: LightGBM model missing; {fix}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a LightGBM text model ({exc}); {fix}") from exc
    if sha256 is not None and text_sha256(text) != sha256:
        raise DataError(f"{path}: changed since it was written (truncated or edited: its SHA-256 differs); {fix}")
    problem = _check_text(text)
    if problem:
        raise DataError(f"{path}: damaged LightGBM model: {problem}; {fix}")
    try:
        return lgb.Booster(model_str=text)
    except lgb.basic.LightGBMError as exc:
        raise DataError(f"{path}: LightGBM cannot read it ({exc}); {fix}") from exc
