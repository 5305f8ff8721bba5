"""Splice fidelity (hms.sae.splice): the fold's head on the real embeddings, on an SAE's reconstructions and on the
training mean. An SAE that reconstructs exactly recovers 1.0; one that reconstructs only the mean recovers 0; every
fitted SAE reports the splice columns in sae/metrics.csv."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from hms.sae.model import SAEConfig, SparseAutoencoder
from hms.sae.splice import splice_scores


@pytest.fixture()
def problem():
    """A linear head that predicts the votes well from 3-D embeddings with 2 views each."""
    rng = np.random.default_rng(0)
    head = nn.Linear(3, 6)
    views = rng.normal(size=(40, 2, 3)).astype(np.float32)
    with torch.no_grad():
        probs = head(torch.from_numpy(views.mean(axis=1))).softmax(-1).numpy()
    targets = 0.8 * probs + 0.2 / 6  # close to what the head says, not equal
    return head, views, targets


def test_an_exact_reconstruction_recovers_everything(problem):
    head, views, targets = problem
    s = splice_scores(head, views, targets, lambda x: x, views.reshape(-1, 3).mean(0))
    assert s["kl_sae"] == pytest.approx(s["kl_clean"]) and s["kl_recovered"] == pytest.approx(1.0)
    assert s["prediction_kl"] == pytest.approx(0.0, abs=1e-9)
    assert s["kl_mean_ablation"] > s["kl_clean"]


def test_a_zero_sae_reconstructs_the_mean_and_recovers_nothing(problem):
    """An SAE whose weights are all zero decodes every input to b_dec = 0 in the standardised space: the training
    mean, i.e. the mean ablation itself."""
    head, views, targets = problem
    flat = views.reshape(-1, 3)
    sae = SparseAutoencoder(SAEConfig(d_in=3, expansion=2, k=2, aux_k=2))
    with torch.no_grad():
        for p in (sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec):
            p.zero_()
        sae.x_mean.copy_(torch.from_numpy(flat.mean(0)))
        sae.x_scale.copy_(torch.from_numpy(flat.std(0)))
    s = splice_scores(head, views, targets, sae.reconstruct, flat.mean(0))
    assert s["kl_recovered"] == pytest.approx(0.0, abs=1e-6)
    assert s["kl_sae"] == pytest.approx(s["kl_mean_ablation"], abs=1e-6) and s["prediction_kl"] > 0


def test_every_fitted_sae_reports_its_splice_fidelity(stacked, sim_dir):
    """sae/metrics.csv carries the splice columns per fold, and its clean KL is the fold model's own validation KL:
    the head alone on the cached embeddings reproduces the model's cached TTA predictions."""
    from hms.data.labels import vote_probabilities
    from hms.embed import EmbeddingCache
    from hms.experiment import ExperimentDir
    from hms.metric import kl_rows

    models, sae_table, _, _ = stacked
    table = pd.read_csv(models / "sae" / "metrics.csv")
    recovered = [c for c in table.columns if "recovered" in c]
    assert recovered == ["kl_recovered", "pca_kl_recovered"] and len(table) == len(sae_table)
    splice = ["kl_clean", "kl_sae", "kl_mean_ablation", "prediction_kl", "pca_explained_variance", "pca_kl_recovered"]
    assert np.isfinite(table[splice].to_numpy()).all()
    assert (table["prediction_kl"] >= 0).all()
    cache = EmbeddingCache.build(ExperimentDir(models), sim_dir)
    for _, metrics in table.iterrows():
        outputs = cache.fold(int(metrics["fold"]))
        valid = np.isfinite(outputs.views).all(axis=(1, 2)) & (cache.rows["fold"] == metrics["fold"]).to_numpy()
        own = kl_rows(vote_probabilities(cache.rows[valid]), outputs.probs[valid]).mean()
        assert metrics["kl_clean"] == pytest.approx(own, rel=1e-4)


def test_the_pca_baseline_is_scored_as_the_sae_is():
    """PCA of every dimension reconstructs exactly (EV 1, KL recovered 1); the baselines' explained variance is the
    SAE's own definition (hms.sae.fit.evaluate) when given the SAE's reconstruction."""
    from hms.sae.baselines import explained_variance, pca_reconstructor
    from hms.sae.fit import evaluate, fit_sae

    rng = np.random.default_rng(1)
    x = (rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5))).astype(np.float32)
    sae, _ = fit_sae(x[:200], SAEConfig(d_in=5, expansion=2, k=2, aux_k=2, steps=20, batch_size=50), progress=False)
    full = pca_reconstructor(sae, x[:200], 5, seed=0)
    assert explained_variance(sae, full, x[200:]) == pytest.approx(1.0, abs=1e-5)
    assert explained_variance(sae, sae.reconstruct, x[200:]) == pytest.approx(
        evaluate(sae, x[200:])["explained_variance"], abs=1e-5
    )
    two = pca_reconstructor(sae, x[:200], 2, seed=0)
    assert 0 < explained_variance(sae, two, x[200:]) < 1
    head = nn.Linear(5, 6)
    views = x[200:].reshape(-1, 2, 5)
    with torch.no_grad():
        targets = head(torch.from_numpy(views.mean(1))).softmax(-1).numpy()
    s = splice_scores(head, views, targets, full, x[:200].mean(0))
    assert s["kl_recovered"] == pytest.approx(1.0, abs=1e-4)
