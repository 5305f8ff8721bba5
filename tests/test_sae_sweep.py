"""The SAE sweep (hms.sae.sweep): every grid point fitted on fold 0's training part and scored on its validation
part, the Pareto front, the chosen point and its rule, the activations curve, and resuming a finished sweep."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from hms.sae.sweep import SweepSettings, choose, pareto_front, run_sweep

GRID = {"expansion": [0.5, 1], "k": [2, 4], "l1_coeff": [0.1], "kl_rho": [0.03], "fractions": [0.5, 1.0], "top": 3}
BASE = {"aux_k": 8, "dead_after": 64, "steps": 20, "batch_size": 32}


def _table(**cols) -> pd.DataFrame:
    return pd.DataFrame({"point": list("ABCD"), "sparsity": "topk", "auroc_top_mean": 0.6} | cols)


def test_pareto_front_and_the_choice_rule():
    t = _table(l0=[8, 32, 64, 32], explained_variance=[0.5, 0.7, 0.9, 0.6], dead_fraction=[0.01, 0.2, 0.0, 0.03])
    assert pareto_front(t).tolist() == [True, True, True, False]  # D is beaten by B (same L0, higher EV)
    best, reason = choose(t, SweepSettings())
    assert best["point"] == "D", "C is over the L0 target, B has too many dead latents"
    assert "L0, dead" in reason and "dropped" not in reason
    t["dead_fraction"] = 0.5  # nobody meets the dead-latent target: that rule is dropped and said so
    best, reason = choose(t, SweepSettings())
    assert best["point"] == "B" and "no point met dead" in reason
    t["lateralization_gap"], t["band_hits"] = [0.3, -0.2, 0.1, 0.2], [1.0, 0.0, 1.0, 1.0]
    t["dead_fraction"] = 0.0
    best, _ = choose(t, SweepSettings())
    assert best["point"] == "D", "B has the best EV under the L0 target but the worst ground truth"


def test_grid_points_cover_every_penalty():
    names = [n for n, _ in SweepSettings.from_dict(GRID).points()]
    assert names == [
        "topk-e0.5-k2",
        "topk-e0.5-k4",
        "topk-e1-k2",
        "topk-e1-k4",
        "l1-e0.5-c0.1",
        "l1-e1-c0.1",
        "kl-e0.5-r0.03",
        "kl-e1-r0.03",
    ]
    with pytest.raises(ValueError, match="sweep settings: unknown keys"):
        SweepSettings.from_dict({"expansions": [1]})


def test_sweep_writes_table_plot_choice_and_curve_and_resumes(stacked, sim_dir, tmp_path, monkeypatch):
    from hms.embed import EmbeddingCache
    from hms.experiment import ExperimentDir

    tiny_models = stacked[0]
    exp = ExperimentDir(tmp_path / "models" / "s")
    shutil.copytree(tiny_models, exp.root)
    table = run_sweep("s", sim_dir, exp.root.parent, BASE, GRID, progress=False)
    assert table["point"].tolist() == [n for n, _ in SweepSettings.from_dict(GRID).points()]
    cache = EmbeddingCache.build(exp, sim_dir)
    views = cache.fold(0).views
    ok = np.isfinite(views).all(axis=(1, 2))
    n_train = int((ok & (cache.rows["fold"] != 0).to_numpy()).sum()) * views.shape[1]
    assert (table["n_train_vectors"] == n_train).all(), "every view of every training row, nothing of validation"
    topk = table[table["sparsity"] == "topk"]
    assert (topk["l0"] <= topk["k"] + 1e-9).all() and (table["explained_variance"] <= 1).all()
    assert table["dead_fraction"].between(0, 1).all() and table["dense_fraction"].between(0, 1).all()
    assert table["auroc_top_mean"].between(0, 1).all()
    assert table["band_hits"].dropna().between(0, 1).all() and table["lateralization_gap"].notna().any()
    assert table["pareto"].any() and table.loc[table["explained_variance"].idxmax(), "pareto"]
    chosen = json.loads(exp.sae_sweep_chosen.read_text())
    assert chosen["point"] in set(table["point"]) and chosen["reason"]
    assert exp.sae_sweep_png.stat().st_size > 0 and exp.sae_activations_curve_png.is_file()
    curve = pd.read_csv(exp.sae_activations_curve_csv)
    assert curve["n_train_vectors"].is_monotonic_increasing and curve["n_train_vectors"].iloc[-1] == n_train
    assert not list(exp.sae_sweep_dir.glob("point-*.state.pt")), "finished points leave no resume state"

    def no_fit(*args, **kwargs):
        raise AssertionError("a finished point was fitted again")

    monkeypatch.setattr("hms.sae.sweep.fit_sae", no_fit)
    again = run_sweep("s", sim_dir, exp.root.parent, BASE, GRID, progress=False, curve=False)
    pd.testing.assert_frame_equal(again, table)
