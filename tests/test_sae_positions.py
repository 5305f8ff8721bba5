"""The per-position SAE (hms.sae.positions, hms.sae.position_run): its activation store keeps fold k's validation
recordings out of what the SAE fits on; the per-position splice recovers everything with an exact reconstruction and
nothing with the mean; a run over a trained (raw-EEG) experiment writes metrics with the splice columns, codes and
where each position looks. The planted-factor recovery (hms.sae.recovery) picks features on other patients."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from hms.errors import DataError
from hms.experiment import ExperimentDir
from hms.families.views import ImageView
from hms.sae.positions import PositionSettings, PositionStore, PositionWriter
from hms.sae.recovery import cross_selected_auroc, location_hits
from hms.sae.splice import pooled_embeddings, splice_embeddings
from hms.signal.config import FrontEndConfig


def test_the_training_part_of_a_position_store_holds_no_validation_recording(tmp_path):
    rows = pd.DataFrame({"eeg_id": [10, 10, 11, 12, 13, 13], "fold": [0, 0, 1, 0, 1, 1]})
    writer = PositionWriter(tmp_path, rows, fold=1, settings=PositionSettings(per_window=3, seed=0))
    positions = np.arange(6 * 2 * 5 * 4, dtype=np.float32).reshape(6, 2, 5, 4)  # windows, views, positions, dims
    writer(0, [0, 1, 2], positions[:3])
    writer(0, [3, 4, 5], positions[3:])
    writer.close()
    (tmp_path / "positions.json").write_text(
        json.dumps({"shape": [2, 5, 4], "train_chunks": 1, "valid_chunks": 1, "cells": {}})
    )
    store = PositionStore.open(tmp_path)
    assert set(store.train.eeg_ids) == {10, 12}  # fold 1 holds eeg_ids 11 and 13: never in the training part
    assert len(store.train) == 3 * 2 * 3  # three training windows x two views x three positions each
    assert sorted(store.valid_rows) == [2, 4, 5] and store.valid.shape == (3, 2, 5, 4)
    np.testing.assert_array_equal(store.valid[list(store.valid_rows).index(4)], positions[4])  # every position kept
    train = store.train.take(np.arange(len(store.train)))
    originals = {tuple(v) for v in positions[[0, 1, 3]].reshape(-1, 4)}
    assert all(tuple(v) in originals for v in train)  # drawn from the windows' own positions, float16-exact here
    assert len({tuple(v) for v in train}) == len(train)  # without repeats


@pytest.fixture()
def positions_problem():
    """Mean pooling of 4 positions of 3-D vectors, 2 views, a linear head whose predictions are near the targets."""
    rng = np.random.default_rng(0)
    head = nn.Linear(3, 6)
    positions = rng.normal(size=(30, 2, 4, 3)).astype(np.float32)
    with torch.no_grad():
        probs = head(torch.from_numpy(positions.mean(axis=(1, 2)))).softmax(-1).numpy()
    return head, positions, 0.8 * probs + 0.2 / 6


def _pool(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=1)


def test_a_per_position_splice_of_an_exact_reconstruction_recovers_everything(positions_problem):
    head, positions, targets = positions_problem
    clean = pooled_embeddings(_pool, positions)
    mean = torch.from_numpy(positions.reshape(-1, 3).mean(0))
    ablated = _pool(mean.expand(1, 4, 3)).unsqueeze(1)
    s = splice_embeddings(head, clean, pooled_embeddings(_pool, positions, lambda x: x), ablated, targets)
    assert s["kl_recovered"] == pytest.approx(1.0) and s["prediction_kl"] == pytest.approx(0.0, abs=1e-9)
    mean_only = pooled_embeddings(_pool, positions, lambda x: mean.expand_as(x))
    s0 = splice_embeddings(head, clean, mean_only, ablated, targets)
    assert s0["kl_recovered"] == pytest.approx(0.0, abs=1e-6) and s0["prediction_kl"] > 0


def test_the_cells_of_the_stacked_image_name_their_view_chain_seconds_and_band():
    frontend = FrontEndConfig(panel_height=64, panel_width=128)
    cells = ImageView().position_cells(frontend, (1, 256, 256), 64)  # an 8 x 8 map at stride 32
    assert len(cells) == 64
    assert list(cells["view"][:8]) == ["organizer"] * 4 + ["eeg"] * 4
    assert list(cells["chain"][::16]) == ["LL", "RL", "LP", "RP"]  # two cell rows per chain panel
    eeg = cells[cells["view"] == "eeg"]
    assert sorted(set(eeg["t0"])) == [0.0, 12.5, 25.0, 37.5] and eeg["t1"].max() == 50.0
    top, bottom = cells.iloc[4], cells.iloc[12]  # the same EEG panel's upper (fast) and lower (slow) half
    assert top["f0"] > bottom["f1"] - 1 and bottom["f0"] < 1.0
    with pytest.raises(ValueError, match="positions fit no stride"):
        ImageView().position_cells(frontend, (1, 256, 256), 63)


def test_recovery_selects_a_feature_on_other_patients_and_scores_it_honestly():
    rng = np.random.default_rng(0)
    factor = rng.random(200) < 0.3
    noise = rng.normal(size=(200, 20))
    half = np.arange(200) < 100
    with_signal = noise.copy()
    with_signal[:, 7] = -factor.astype(float) + 0.01 * rng.normal(size=200)  # fires the other way: the sign is learned
    auc, chosen = cross_selected_auroc(with_signal, factor, half)
    assert auc > 0.99 and chosen == 7
    auc_noise, _ = cross_selected_auroc(noise, factor, half)
    assert 0.3 < auc_noise < 0.7  # the best of 20 noise features on one half is chance on the other
    assert np.isnan(cross_selected_auroc(noise, np.zeros(200, bool), half)[0])


def test_a_location_hit_is_a_peak_on_a_planted_chain_at_planted_seconds():
    cells = pd.DataFrame(
        {"view": "eeg", "chain": ["LL", "RL", "LL", "RL"], "t0": [0, 0, 25, 25], "t1": [25, 25, 50, 50]}
    )
    where = np.array([0, 1, 2, 3])
    located = [(("LL",), 5.0, 10.0)] * 4
    hit, chance = location_hits(where, np.array([True, True, True, False]), located, cells)
    assert hit == pytest.approx(1 / 3) and chance == pytest.approx(0.25)


@pytest.mark.slow
def test_a_per_position_sae_runs_over_a_trained_experiment(tiny_raw, sim_dir):
    """Over the tiny raw-EEG experiment (its positions: time steps): every fold's store, SAE, metrics with the
    splice columns, and max-pooled codes of exactly its validation windows."""
    from hms.sae.position_codes import PositionCodes
    from hms.sae.position_run import run_position_sae

    settings = {"expansion": 2, "k": 4, "aux_k": 8, "dead_after": 64, "steps": 30, "batch_size": 32}
    table = run_position_sae("raw", sim_dir, tiny_raw.parent, settings, PositionSettings(per_window=4), progress=False)
    exp = ExperimentDir.of(tiny_raw)
    assert list(table["fold"]) == exp.folds_with_weights()
    assert table["kl_recovered"].notna().all() and (table["l0"] <= 4 + 1e-6).all()
    assert {"pca_kl_recovered", "pca_explained_variance", "prediction_kl"} <= set(table.columns)
    rows = pd.read_parquet(exp.embedding_rows)
    for fold in table["fold"]:
        store = PositionStore.open(exp.position_store_dir(fold))
        valid_ids = set(rows.loc[rows["fold"] == fold, "eeg_id"])
        assert not valid_ids & set(store.train.eeg_ids)
        assert (rows["fold"].to_numpy()[store.valid_rows] == fold).all()
        codes = PositionCodes.load(exp.position_codes(fold))
        np.testing.assert_array_equal(codes.rows, store.valid_rows)
        assert (codes.where < store.valid.shape[2]).all() and len(store.cells) == store.valid.shape[2]
    fitted = {f: exp.position_sae_weights(f).stat().st_mtime_ns for f in table["fold"]}
    again = run_position_sae("raw", sim_dir, tiny_raw.parent, settings, PositionSettings(per_window=4), progress=False)
    assert {f: exp.position_sae_weights(f).stat().st_mtime_ns for f in table["fold"]} == fitted  # nothing refitted
    pd.testing.assert_frame_equal(again, table)


def test_a_store_keeping_every_position_gives_codes_of_every_window_max_pooled_over_positions(tmp_path):
    """With per_window 0 the training part holds whole windows (with their rows), so the max-pooled codes cover the
    training rows too — what fold k's per-position stacker trains on — and equal the codes' maximum over positions."""
    from hms.sae.model import SAEConfig, SparseAutoencoder
    from hms.sae.position_codes import PositionCodeSink
    from hms.sae.position_run import store_codes

    rows = pd.DataFrame({"eeg_id": [10, 10, 11, 12, 13, 13], "fold": [0, 0, 1, 0, 1, 1]})
    settings = PositionSettings(per_window=0, seed=0)
    writer = PositionWriter(tmp_path, rows, fold=1, settings=settings)
    positions = np.random.default_rng(1).normal(size=(6, 2, 5, 4)).astype(np.float32)
    writer(0, [0, 1, 2], positions[:3])
    writer(0, [3, 4, 5], positions[3:])
    writer.close()
    manifest = {"shape": [2, 5, 4], "train_chunks": 1, "valid_chunks": 1, "cells": {}, "settings": vars(settings)}
    (tmp_path / "positions.json").write_text(json.dumps(manifest))
    store = PositionStore.open(tmp_path)
    assert store.whole_train and list(store.train_rows) == [0, 1, 3] and len(store.train) == 3 * 2 * 5
    torch.manual_seed(0)
    sae = SparseAutoencoder(SAEConfig.from_dict({"d_in": 4, "expansion": 2, "k": 3}))
    codes = store_codes(sae, store)
    assert list(codes.rows) == [0, 1, 2, 3, 4, 5]
    stored = positions.astype(np.float16).astype(np.float32)  # the store's precision
    with torch.no_grad():
        direct = sae.codes(torch.from_numpy(stored.reshape(-1, 4))).numpy().reshape(6, 2, 5, -1)
    np.testing.assert_allclose(codes.peak, direct.max(axis=2), rtol=1e-6)
    np.testing.assert_array_equal(codes.where, direct.argmax(axis=2))
    sink = PositionCodeSink([sae], n_rows=7, views=2)  # inference: the same codes from the forward pass's positions
    sink(0, [0, 1, 2, 3, 4, 5], positions)
    np.testing.assert_allclose(sink.peak[0][:6], codes.peak, rtol=1e-6)
    assert np.isnan(sink.peak[0][6]).all()  # a row without inputs has no codes
    sampled = PositionStore(tmp_path, store.train, store.train_rows, store.valid, store.valid_rows, store.cells, {})
    sampled.meta = {"shape": [2, 5, 4], "settings": {"per_window": 3}}
    with pytest.raises(DataError, match="per_window=0"):
        next(sampled.train_windows())


def test_a_class_feature_is_located_at_the_cells_where_it_peaks():
    """Feature 0 fires on seizure windows, peaking at a left-chain cell; the table ranks it first for seizure and says
    where (in words, with its share) and on which side; a feature that never fires says so."""
    from hms.constants import CLASSES
    from hms.explain.positions import peak_cells, position_features

    cells = pd.DataFrame(
        {
            "view": ["eeg"] * 4,
            "chain": ["LL", "RL", "LP", "RP"],
            "t0": [0.0, 0.0, 25.0, 25.0],
            "t1": [25.0, 25.0, 50.0, 50.0],
            "f0": [0.5] * 4,
            "f1": [10.0] * 4,
        }
    )
    n = 40
    targets = np.zeros((n, len(CLASSES)))
    targets[: n // 2, 0] = 1.0  # seizure
    targets[n // 2 :, 1] = 1.0  # LPD
    peak = np.zeros((n, 3), np.float32)
    peak[: n // 2, 0] = 1.0 + np.arange(n // 2)
    peak[:, 1] = np.random.default_rng(0).random(n)
    where = np.zeros((n, 3), np.int64)
    where[:, 0] = 2  # LP, 25-50 s
    where[:, 1] = np.arange(n) % 4
    table = position_features(peak, where, targets, cells, top=2)
    first = table[table["class"] == "seizure"].iloc[0]
    assert first["feature"] == 0 and first["auroc"] == pytest.approx(1.0)
    assert first["peaks_at"] == "EEG LP 25–50 s, 0.5–10.0 Hz: 100%"
    assert first["left_share"] == pytest.approx(1.0) and first["right_share"] == pytest.approx(0.0)
    assert set(table["class"]) == {"seizure", "lpd"}  # classes without a consensus window have no AUROC: left out
    assert peak_cells(where[:, 2], peak[:, 2] > 0, cells)[0] == "never fires"


def test_a_position_store_too_big_for_the_disk_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    import shutil
    from types import SimpleNamespace

    rows = pd.DataFrame({"eeg_id": [10, 11], "fold": [0, 1]})
    writer = PositionWriter(tmp_path, rows, fold=1, settings=PositionSettings(per_window=0))
    monkeypatch.setattr(shutil, "disk_usage", lambda _: SimpleNamespace(total=100, used=90, free=10))
    with pytest.raises(DataError, match="per_window=16"):
        writer(0, [0, 1], np.zeros((2, 2, 5, 4), np.float32))
    assert not list(tmp_path.iterdir())
