import numpy as np
import pandas as pd
import pytest

from hms.constants import VOTE_COLS
from hms.gbm import fit_soft, predict, soft_label_objective


def test_soft_label_objective_equals_the_six_weighted_hard_label_copies():
    """The gradient/Hessian of one soft row are the sums over six hard-label copies weighted by t_k * w (the
    expansion it replaces), with LightGBM's multiclass Hessian factor K/(K-1)."""
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(4, 6))
    t = rng.dirichlet(np.ones(6), size=4)
    w = np.array([1.0, 2.0, 0.5, 3.0])
    grad, hess = soft_label_objective(t, w)(scores, None)
    p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    onehot = np.eye(6)
    want_g = sum(t[:, [y]] * w[:, None] * (p - onehot[y]) for y in range(6))
    want_h = sum(t[:, [y]] * w[:, None] * 1.2 * p * (1 - p) for y in range(6))
    np.testing.assert_allclose(grad, want_g, atol=1e-12)
    np.testing.assert_allclose(hess, want_h, atol=1e-12)


def test_fit_soft_refuses_targets_of_the_wrong_shape():
    with pytest.raises(ValueError, match="shape"):
        fit_soft(np.zeros((5, 2)), np.full((5, 5), 0.2))


def test_lightgbm_learns_soft_labels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 3))
    logits = np.stack([x[:, 0], -x[:, 0], x[:, 1], 0 * x[:, 0], 0 * x[:, 0], 0 * x[:, 0]], axis=1)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = predict(fit_soft(x[:500], p[:500], rounds=200), x[500:])
    np.testing.assert_allclose(pred.sum(axis=1), 1.0, atol=1e-9)
    from hms.metric import score_arrays

    assert score_arrays(p[500:], pred) < 0.5 * score_arrays(p[500:], np.tile(p[:500].mean(0), (100, 1)))


def test_bandpower_baseline_runs_on_the_same_folds(sim_dir, tmp_path):
    from hms.__main__ import main

    folds = tmp_path / "folds.csv"
    assert main(["folds", "--train", str(sim_dir / "train.csv"), "--out", str(folds), "--n-folds", "2"]) == 0
    assert main(["bandpower", "--data", str(sim_dir), "--folds", str(folds), "--out", str(tmp_path / "bp")]) == 0
    oof = pd.read_parquet(tmp_path / "bp" / "oof.parquet")
    assert oof["eeg_id"].is_unique and len(oof) == pd.read_csv(sim_dir / "train.csv")["eeg_id"].nunique()
    np.testing.assert_allclose(oof[list(VOTE_COLS)].sum(axis=1), 1.0, atol=1e-6)
    assert (tmp_path / "bp" / "fold0.txt").read_text().startswith("tree")
