"""SAE per fold + LightGBM stacker on a tiny trained experiment: no leakage, valid probabilities, and the inference
path reproducing the stored out-of-fold predictions."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hms.constants import VOTE_COLS
from hms.data import Competition
from hms.stack import CNN_ONLY, FEATURE_SETS

ROOT = Path(__file__).resolve().parents[1]
SAE_TINY = {"expansion": 4, "k": 4, "aux_k": 8, "dead_after": 64, "steps": 40, "batch_size": 32}


@pytest.fixture(scope="module")
def stacked(tiny_models, sim_dir, tmp_path_factory):
    from hms.sae.run import run_sae
    from hms.stack import run_stack

    files = tmp_path_factory.mktemp("files")
    sae_table = run_sae("s", sim_dir, tiny_models.parent, SAE_TINY, k_curve=(2, 4), files_dir=files, progress=False)
    ablation = run_stack("s", sim_dir, tiny_models.parent, rounds=20, files_dir=files)
    return tiny_models, sae_table, ablation, files


def _validation_ids(models: Path, fold: int) -> set[int]:
    folds = pd.read_csv(models / "folds.csv")
    return set(folds.loc[folds["fold"] == fold, "eeg_id"].astype(int))


def test_no_fold_sees_its_validation_rows(stacked):
    models, _, _, _ = stacked
    for fold in (0, 1):
        valid = _validation_ids(models, fold)
        others = set(pd.read_csv(models / "folds.csv").query("fold != @fold")["eeg_id"].astype(int))
        sae_ids = set(json.loads((models / f"sae/fold{fold}.json").read_text())["metrics"]["train_eeg_ids"])
        assert sae_ids and not sae_ids & valid and sae_ids <= others
        for name in FEATURE_SETS:
            ids = set(json.loads((models / f"stack/{name}/fold{fold}.json").read_text())["train_eeg_ids"])
            assert ids and not ids & valid and ids <= others, name


def test_sae_metrics_plots_and_leaderboard(stacked):
    models, table, _, files = stacked
    assert list(table["fold"]) == [0, 1]
    ev = table[["explained_variance", "explained_variance_train"]].to_numpy()
    assert np.isfinite(ev).all() and (ev <= 1).all() and (table["l0"] <= SAE_TINY["k"]).all()
    assert table["dead_fraction"].between(0, 1).all()
    for name in ("density.png", "reconstructions.png", "k_curve.png", "k_curve.csv", "metrics.json"):
        assert (models / "sae" / name).stat().st_size > 0, name
    assert list(pd.read_csv(models / "sae/k_curve.csv")["k"]) == [2, 4]
    board = pd.read_csv(files / "leaderboard.csv")
    assert "s_sae" in set(board["experiment"]) and board["sae_explained_variance"].notna().any()
    assert {f"s_stack_{n}" for n in FEATURE_SETS} <= set(board["experiment"])


def test_stacker_outputs_are_probabilities_and_ablation_is_complete(stacked):
    models, _, ablation, _ = stacked
    assert list(ablation["feature_set"]) == [CNN_ONLY, *FEATURE_SETS]
    assert np.isfinite(ablation[["oof_kl_all", "oof_kl_golden"]].to_numpy()).all()
    for name in FEATURE_SETS:
        rows = pd.read_parquet(models / f"stack/{name}/oof_rows.parquet")
        p = rows[list(VOTE_COLS)].to_numpy()
        assert (p >= 0).all() and np.abs(p.sum(axis=1) - 1).max() < 1e-9
        assert (models / f"stack/{name}/fold0.txt").read_text().startswith("tree")  # LightGBM text model
    best = json.loads((models / "stack/best.json").read_text())["feature_set"]
    assert best == ablation.sort_values("oof_kl_golden")["feature_set"].iloc[0]


@pytest.mark.parametrize("name", list(FEATURE_SETS))
def test_inference_with_fold_k_alone_reproduces_the_stored_oof(stacked, sim_dir, name):
    from hms.infer import predict_rows

    models, _, _, _ = stacked
    stored = pd.read_parquet(models / f"stack/{name}/oof_rows.parquet")
    comp = Competition(sim_dir)
    train = comp.train()
    for fold in (0, 1):
        part = stored[stored["fold"] == fold]
        rows = train.merge(part[["eeg_id", "eeg_sub_id"]], on=["eeg_id", "eeg_sub_id"])
        probs, _ = predict_rows(comp, rows, models, split="train", folds=[fold], feature_set=name)
        np.testing.assert_allclose(probs, part[list(VOTE_COLS)].to_numpy(), atol=1e-6)


def test_submission_runs_the_stack(stacked, sim_dir, tmp_path):
    models, _, _, _ = stacked
    out = tmp_path / "sub.csv"
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    args = ["submission.py", "--data", str(sim_dir), "--models", str(models), "--out", str(out), "--stack",
            "logits_sae_hand"]  # fmt: skip
    run = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    sub = pd.read_csv(out)
    test = pd.read_csv(sim_dir / "test.csv")
    assert list(sub["eeg_id"]) == list(test["eeg_id"])
    assert np.abs(sub[list(VOTE_COLS)].sum(axis=1) - 1).max() < 1e-6
    assert "stack" in run.stdout
