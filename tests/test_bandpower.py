import numpy as np
import pandas as pd
import pytest

from hms.constants import VOTE_COLS
from hms.gbm import expand_soft, fit_soft, predict


def test_soft_label_expansion_keeps_the_targets():
    x = np.arange(6.0).reshape(3, 2)
    t = np.array([[0.5, 0.5, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1.0], [1 / 6] * 6])
    xs, ys, ws = expand_soft(x, t, np.array([1.0, 2.0, 1.0]))
    assert len(xs) == 2 + 1 + 6 and ws.sum() == pytest.approx(4.0)
    assert ys[:2].tolist() == [0, 1] and ws[2] == 2.0


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
