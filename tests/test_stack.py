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
from conftest import SAE_TINY

from hms.constants import VOTE_COLS
from hms.data import Competition
from hms.experiment import ExperimentDir
from hms.predict import FoldOutputs
from hms.stack.model import CNN_ONLY, FEATURE_SETS, needs

ROOT = Path(__file__).resolve().parents[1]
# the tiny experiment's network (a ViT) has no per-position activations: every other set is stacked on it, the
# per-position one on the tiny raw-EEG experiment (``stacked_positions``)
POOLED_SETS = tuple(name for name in FEATURE_SETS if not needs(name, "position_sae"))
POSITION_SETS = tuple(name for name in FEATURE_SETS if needs(name, "position_sae"))


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
        for name in POOLED_SETS:
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
    assert {f"s_stack_{n}" for n in POOLED_SETS} <= set(board["experiment"])


def test_stacker_outputs_are_probabilities_and_ablation_is_complete(stacked):
    models, _, ablation, _ = stacked
    assert list(ablation["feature_set"]) == [CNN_ONLY, *POOLED_SETS]  # no per-position codes: that set is skipped
    assert np.isfinite(ablation[["oof_kl_all", "oof_kl_golden"]].to_numpy()).all()
    for name in POOLED_SETS:
        rows = pd.read_parquet(models / f"stack/{name}/oof_rows.parquet")
        p = rows[list(VOTE_COLS)].to_numpy()
        assert (p >= 0).all() and np.abs(p.sum(axis=1) - 1).max() < 1e-9
        assert (models / f"stack/{name}/fold0.txt").read_text().startswith("tree")  # LightGBM text model
    best = json.loads((models / "stack/best.json").read_text())["feature_set"]
    assert best == ablation.sort_values("oof_kl_golden")["feature_set"].iloc[0]


@pytest.mark.parametrize("name", list(FEATURE_SETS))
def test_inference_with_fold_k_alone_reproduces_the_stored_oof(request, sim_dir, name):
    from hms.infer import predict_rows

    models = request.getfixturevalue("stacked_positions" if name in POSITION_SETS else "stacked")[0]
    stored = pd.read_parquet(models / f"stack/{name}/oof_rows.parquet")
    comp = Competition(sim_dir)
    train = comp.train()
    for fold in (0, 1):
        part = stored[stored["fold"] == fold]
        rows = train.merge(part[["eeg_id", "eeg_sub_id"]], on=["eeg_id", "eeg_sub_id"])
        probs, _ = predict_rows(comp, rows, models, split="train", folds=[fold], feature_set=name)
        np.testing.assert_allclose(probs, part[list(VOTE_COLS)].to_numpy(), atol=1e-6)


def test_the_per_position_stacker_reads_codes_of_every_row_from_its_own_fold(stacked_positions):
    """Fold k's per-position codes cover its training rows too (every position kept), its stacker trained on fold k's
    training recordings only, and it carries per-position features."""
    from hms.sae.position_codes import PositionCodes

    models, ablation = stacked_positions
    exp = ExperimentDir.of(models)
    assert list(ablation["feature_set"]) == [CNN_ONLY, "logits", *POSITION_SETS]
    assert np.isfinite(ablation[["oof_kl_all", "oof_kl_golden"]].to_numpy()).all()
    for fold in (0, 1):
        codes = PositionCodes.load(exp.position_codes(fold))
        has_output = np.isfinite(FoldOutputs.load(exp.embedding_fold(fold)).probs).all(axis=1)
        np.testing.assert_array_equal(np.sort(codes.rows), np.flatnonzero(has_output))
        valid = _validation_ids(models, fold)
        for name in POSITION_SETS:
            meta = json.loads((models / f"stack/{name}/fold{fold}.json").read_text())
            assert meta["train_eeg_ids"] and not set(meta["train_eeg_ids"]) & valid
            assert any(f.startswith("pos_sae_") for f in meta["features"])


@pytest.mark.slow
def test_submission_runs_the_stack(stacked, sim_dir, tmp_path):
    models, _, _, _ = stacked
    out = tmp_path / "sub.csv"
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    args = [
        "submission.py",
        "--data",
        str(sim_dir),
        "--models",
        str(models),
        "--out",
        str(out),
        "--stack",
        "logits_sae_hand",
    ]
    run = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    sub = pd.read_csv(out)
    test = pd.read_csv(sim_dir / "test.csv")
    assert list(sub["eeg_id"]) == list(test["eeg_id"])
    assert np.abs(sub[list(VOTE_COLS)].sum(axis=1) - 1).max() < 1e-6
    assert "stack" in run.stdout


AUDIT = r"""
import socket, sys, runpy
def refuse(*a, **k):
    raise RuntimeError("network access attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
allowed = ["torch", "timm", "numpy", "pandas", "pyarrow", "pyarrow.parquet", "scipy", "scipy.signal", "sklearn",
           "lightgbm", "safetensors", "safetensors.torch"]
for m in allowed:
    __import__(m)
before = {m.split(".")[0] for m in sys.modules}
sys.argv = ["submission.py", *sys.argv[1:]]
try:
    runpy.run_path("submission.py", run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
new = {m.split(".")[0] for m in sys.modules} - before - set(sys.stdlib_module_names) - {"hms", "__main__"}
print("NEW_IMPORTS", sorted(new))
"""


@pytest.mark.slow
def test_inference_imports_only_kaggle_packages_and_stays_offline(stacked, sim_dir, tmp_path):
    """Everything submission.py imports (CNN -> SAE -> LightGBM) beyond the standard library is one of the Kaggle
    image's packages or something they import themselves; any connection attempt raises."""
    models = stacked[0]
    out = tmp_path / "sub.csv"
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            AUDIT,
            "--data",
            str(sim_dir),
            "--models",
            str(models),
            "--out",
            str(out),
            "--stack",
            "logits_sae_hand",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "NEW_IMPORTS []" in run.stdout, run.stdout[-2000:]
    assert len(pd.read_csv(out)) == len(pd.read_csv(sim_dir / "test.csv"))


def test_a_kaggle_package_of_the_per_position_stack_ships_the_per_position_saes(stacked_positions, tmp_path):
    from hms.infer import check_experiment
    from hms.kaggle import package

    models = stacked_positions[0]
    out = package("raw", tmp_path / "kaggle", models.parent, user="me", feature_set="logits_position_sae")
    root = out["dataset"] / "models/raw"
    shipped = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert {
        "sae/positions/fold0.safetensors",
        "sae/positions/fold1.json",
        "stack/logits_position_sae/fold1.txt",
    } <= shipped
    assert not any("activations" in name or name.endswith(".npz") for name in shipped)  # no store, no codes
    assert "logits_position_sae" in check_experiment(root, "logits_position_sae")  # everything inference reads


@pytest.mark.slow
def test_kaggle_package_runs_on_its_own(stacked, sim_dir, tmp_path):
    from hms.kaggle import package

    models = stacked[0]
    out = package("s", tmp_path / "kaggle", models.parent, user="me", feature_set="logits_sae_hand")
    dataset, kernel = out["dataset"], out["kernel"]
    meta = json.loads((kernel / "kernel-metadata.json").read_text())
    assert meta["enable_internet"] is False and meta["dataset_sources"] == ["me/hms-s"]
    assert json.loads((dataset / "dataset-metadata.json").read_text())["id"] == "me/hms-s"
    cell = json.loads((kernel / "submission.ipynb").read_text())["cells"][1]["source"][0]
    assert cell.startswith("!python /kaggle/input/hms-s/submission.py --experiment-dir /kaggle/input/hms-s/models/s")
    shipped = {p.relative_to(dataset / "models/s").as_posix() for p in (dataset / "models/s").rglob("*") if p.is_file()}
    assert {"fold0.safetensors", "prior.json", "sae/fold1.safetensors", "stack/logits_sae_hand/fold1.txt"} <= shipped
    assert not any(name.endswith(".state.pt") or name.startswith("embeddings") for name in shipped)
    # the packaged copy runs from elsewhere with its own source (no repo on the path)
    sub = tmp_path / "sub.csv"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [
            sys.executable,
            "-I",
            str(dataset / "submission.py"),
            "--data",
            str(sim_dir),
            "--models",
            str(dataset / "models/s"),
            "--out",
            str(sub),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(pd.read_csv(sub)) == len(pd.read_csv(sim_dir / "test.csv"))
