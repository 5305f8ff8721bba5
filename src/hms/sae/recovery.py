"""Ground-truth recovery on simulated data: does some single feature detect each planted factor (each class's pattern,
its side, region and frequency band, each artifact kind: ``hms.synth.truth``) in unseen patients — and does it beat
the baselines that need no SAE?

For one fold, on its validation rows (the original hemisphere view), each method gives a feature matrix:

- ``sae``: the pooled SAE's codes; ``sae_positions``: the per-position SAE's codes max-pooled over positions;
- ``pca`` and ``ica`` (scikit-learn): as many components as the SAE has active latents per sample, fitted on the
  fold's training part;
- ``random_sae``: the same SAE fitted on the embeddings of the same network with random weights (a feature that
  looks meaningful there says nothing about what the trained model learned).

A factor's score is the validation AUROC of the best single feature, **selected on the other half** of the validation
patients (two patient-grouped halves, each selects a feature and its direction for the other; mean of the two): a
method with more features gets no credit for a lucky pick. For the per-position SAE, ``location_hit`` is how often
the selected feature's strongest position lies on a planted chain and overlaps the planted seconds (rows where the
factor is present and the feature fires), beside ``location_chance``, the share of positions that would."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from sklearn.decomposition import PCA, FastICA

from hms.data import Competition
from hms.embed import EmbeddingCache
from hms.experiment import ExperimentDir
from hms.io import write_csv
from hms.paths import MODELS_DIR
from hms.predict import LoadedFold, fold_spec, run_rows
from hms.sae.fit import fit_sae
from hms.sae.model import SparseAutoencoder
from hms.sae.position_codes import PositionCodes
from hms.sae.positions import PositionStore
from hms.synth.truth import Location, factor_locations, factor_names, read_events, window_factors

log = logging.getLogger(__name__)

METHODS = ("sae", "sae_positions", "pca", "ica", "random_sae")


def _halves(groups: np.ndarray, seed: int) -> np.ndarray:
    """A boolean mask: the first of two halves of the rows, whole groups (patients) on one side."""
    unique = np.unique(groups)
    first = np.random.default_rng(seed).permutation(unique)[: len(unique) // 2]
    return np.isin(groups, first)


def column_aurocs(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """AUROC of every column of ``x`` for the boolean ``y`` at once, by the rank-sum (Mann-Whitney) identity with
    mid-ranks for ties (a constant column scores 0.5)."""
    y = np.asarray(y, bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    ranks = rankdata(x, axis=0)
    return (ranks[y].sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def cross_selected_auroc(features: np.ndarray, factor: np.ndarray, half: np.ndarray) -> tuple[float, int]:
    """Mean over the two halves of: the AUROC on this half of the feature (and sign) that scores best on the other
    half; and the feature the whole set selects (for the location check). NaN when a half lacks either class."""
    scores = []
    for select, score in ((half, ~half), (~half, half)):
        ys, yt = factor[select], factor[score]
        if ys.all() or not ys.any() or yt.all() or not yt.any():
            return float("nan"), -1
        auc = column_aurocs(ys, features[select])
        j = int(np.argmax(np.abs(auc - 0.5)))
        sign = 1.0 if auc[j] >= 0.5 else -1.0
        scores.append(float(column_aurocs(yt, sign * features[score, j : j + 1])[0]))
    whole = column_aurocs(factor, features)
    return float(np.mean(scores)), int(np.argmax(np.abs(whole - 0.5)))


def location_hits(
    where: np.ndarray, fires: np.ndarray, locations: list[Location], cells: pd.DataFrame
) -> tuple[float, float]:
    """Share of the rows with a located factor and a firing feature whose peak position (``where``) lies on a planted
    chain and overlaps the planted seconds; and the share of all positions that would, averaged over those rows."""
    hits, chances = [], []
    for w, f, (chains, t0, t1) in zip(where, fires, locations, strict=True):
        if not f or not chains:
            continue
        on = (cells["chain"].eq("") | cells["chain"].isin(chains)) & (cells["t1"] > t0) & (cells["t0"] < t1)
        hits.append(bool(on.iloc[int(w)]))
        chances.append(float(on.mean()))
    return (float(np.mean(hits)), float(np.mean(chances))) if hits else (float("nan"), float("nan"))


def _standardised(train: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, scale = train.mean(0), train.std(0) + 1e-6
    return (train - mean) / scale, (valid - mean) / scale


def component_scores(train: np.ndarray, valid: np.ndarray, n: int, seed: int) -> dict[str, np.ndarray]:
    """PCA and ICA scores of the validation rows, ``n`` components fitted on the training rows."""
    tr, va = _standardised(train, valid)
    n = max(1, min(n, *tr.shape))
    pca = PCA(n_components=n, svd_solver="randomized", random_state=seed).fit(tr)
    ica = FastICA(n_components=n, random_state=seed, whiten="unit-variance", max_iter=1000, tol=1e-3).fit(tr)
    return {"pca": pca.transform(va), "ica": ica.transform(va)}


def random_network_views(exp: ExperimentDir, comp: Competition, rows: pd.DataFrame, fold: int, seed: int) -> np.ndarray:
    """Per-view embeddings (n, V, d) of ``rows`` by the fold's network built with random weights (seeded)."""
    spec = fold_spec(exp, fold)
    torch.manual_seed(seed)
    model = spec.family.network(spec.model, spec.frontend, pretrained=False).eval()
    loaded = LoadedFold(fold, model, spec.frontend, spec.family)
    (outputs,), _, _ = run_rows(comp, rows, "train", [loaded], desc="random network")
    return outputs.views


def run_recovery(
    experiment: str, data: str | Path | None = None, models_root: str | Path = MODELS_DIR, fold: int = 0, seed: int = 42
) -> pd.DataFrame:
    """The recovery table of fold ``fold`` (one row per planted factor, a column per method; written to
    ``sae/recovery.csv``). Needs the fold's pooled SAE (``hms sae``); the per-position SAE's column when
    ``hms sae --positions`` has run."""
    exp = ExperimentDir.named(experiment, models_root)
    comp = Competition.from_arg(data)
    events = read_events(comp.root)
    cache = EmbeddingCache.build(exp, comp.root)
    rows, views = cache.rows, cache.fold(fold).views
    ok = np.isfinite(views).all(axis=(1, 2))
    train, valid = ok & (rows["fold"] != fold).to_numpy(), ok & (rows["fold"] == fold).to_numpy()
    sae = SparseAutoencoder.load(exp.sae_weights(fold))
    n_active = int(round(float((sae.codes(torch.from_numpy(views[valid, 0])) > 0).sum(1).float().mean())))
    features = {"sae": sae.codes(torch.from_numpy(views[valid, 0])).numpy()}
    features |= component_scores(views[train].reshape(-1, views.shape[-1]), views[valid, 0], n_active, seed)
    random_views = random_network_views(exp, comp, rows[train | valid], fold, seed)
    r_train = random_views[train[train | valid]]
    random_sae, _ = fit_sae(r_train.reshape(-1, r_train.shape[-1]), sae.cfg, progress=False, desc="random-network sae")
    features["random_sae"] = random_sae.codes(torch.from_numpy(random_views[valid[train | valid], 0])).numpy()
    codes, cells = None, None
    if exp.position_codes(fold).is_file():
        codes = PositionCodes.load(exp.position_codes(fold))
        order = pd.Series(np.arange(len(codes.rows)), index=codes.rows).reindex(np.flatnonzero(valid))
        if order.notna().all():
            codes.peak, codes.where = codes.peak[order.to_numpy(int)], codes.where[order.to_numpy(int)]
            features["sae_positions"] = codes.peak[:, 0]
            cells = PositionStore.cells_of(exp.position_store_dir(fold))
    valid_rows = rows[valid].reset_index(drop=True)
    factors = window_factors(valid_rows, events)
    half = _halves(valid_rows["patient_id"].to_numpy(), seed)
    out = []
    for name in factor_names():
        y = factors[name].to_numpy()
        record = {"factor": name, "n_positive": int(y.sum()), "n_rows": len(y)}
        chosen = {}
        for method in METHODS:
            if method in features:
                record[f"auroc_{method}"], chosen[method] = cross_selected_auroc(features[method], y, half)
        if "sae_positions" in features and chosen.get("sae_positions", -1) >= 0 and cells is not None:
            j = chosen["sae_positions"]
            record["location_hit"], record["location_chance"] = location_hits(
                codes.where[:, 0, j], codes.peak[:, 0, j] > 0, factor_locations(valid_rows, events, name), cells
            )
        out.append(record)
    table = pd.DataFrame(out)
    write_csv(table, exp.sae_recovery_csv)
    return table
