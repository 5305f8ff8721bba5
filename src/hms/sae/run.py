"""``python -m hms sae --experiment NAME``: one SAE per fold on that fold's TRAINING-part embeddings (both TTA views
of every label row), evaluated on its validation part; metrics, plots, (on request) an explained-variance-vs-k curve
and a leaderboard row. Resumable per fold (a fold whose weights exist with the same settings is skipped; a fit in
progress resumes from its checkpoint)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hms import leaderboard
from hms.data.labels import vote_probabilities
from hms.embed import EmbeddingCache
from hms.experiment import ExperimentDir
from hms.io import write_csv, write_json
from hms.paths import MODELS_DIR
from hms.plots import save_figure, subplots
from hms.predict import load_fold
from hms.sae.activations import build_activations
from hms.sae.baselines import explained_variance, pca_reconstructor
from hms.sae.fit import evaluate, fit_sae, split_metrics
from hms.sae.model import SAEConfig, SparseAutoencoder
from hms.sae.splice import splice_scores
from hms.sae.store import ActivationStore

log = logging.getLogger(__name__)

#: the per-fold metrics that sae/metrics.json averages (and the report shows), validation part unless named train
SUMMARY_METRICS = (
    "explained_variance",
    "explained_variance_train",
    "l0",
    "dead_fraction",
    "dead_fraction_valid",
    "kl_clean",
    "kl_sae",
    "kl_mean_ablation",
    "kl_recovered",
    "prediction_kl",
    "pca_explained_variance",
    "pca_kl_recovered",
    "pca_prediction_kl",
)


def fold_matrices(rows: pd.DataFrame, views: np.ndarray, fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(training-part samples: every view of every training row, validation samples, training row eeg_ids)."""
    ok = np.isfinite(views).all(axis=(1, 2))
    train = ok & (rows["fold"] != fold).to_numpy()
    valid = ok & (rows["fold"] == fold).to_numpy()
    flat = lambda m: views[m].reshape(-1, views.shape[-1])  # noqa: E731
    return flat(train), flat(valid), rows.loc[train, "eeg_id"].to_numpy()


def fold_splice(
    exp: ExperimentDir, sae: SparseAutoencoder, rows: pd.DataFrame, views: np.ndarray, fold: int, l0: float
) -> dict:
    """Splice fidelity of fold ``fold``'s SAE on its validation rows through the fold's own head (``hms.sae.splice``),
    mean ablation at the training part's mean; beside it PCA with ``l0`` components (``pca_`` columns: its explained
    variance, KL recovered and prediction divergence)."""
    ok = np.isfinite(views).all(axis=(1, 2))
    valid = ok & (rows["fold"] == fold).to_numpy()
    train = ok & (rows["fold"] != fold).to_numpy()
    head = load_fold(exp, fold).model.head
    x_train = views[train].reshape(-1, views.shape[-1])
    targets = vote_probabilities(rows[valid])
    out = splice_scores(head, views[valid], targets, sae.reconstruct, x_train.mean(0))
    pca = pca_reconstructor(sae, x_train, int(round(max(l0, 1))), sae.cfg.seed)
    pca_splice = splice_scores(head, views[valid], targets, pca, x_train.mean(0))
    out["pca_explained_variance"] = explained_variance(sae, pca, views[valid].reshape(-1, views.shape[-1]))
    out |= {f"pca_{k}": pca_splice[k] for k in ("kl_recovered", "prediction_kl")}
    return out


def fit_fold(
    rows: pd.DataFrame,
    views: np.ndarray,
    fold: int,
    cfg: SAEConfig,
    progress: bool = True,
    store: ActivationStore | None = None,
    checkpoint: Path | None = None,
) -> tuple[SparseAutoencoder, dict]:
    """Fit on the training part (``store``: its shifted activations from disk, else the cached views of its label
    rows) and evaluate on the validation part's label rows (``checkpoint``: resume state, see :func:`fit_sae`)."""
    x_train, x_valid, train_ids = fold_matrices(rows, views, fold)
    if store is not None:
        x_train, train_ids = store, store.eeg_ids
    sae, history = fit_sae(x_train, cfg, progress=progress, desc=f"sae fold{fold}", checkpoint=checkpoint)
    on_train, on_valid = evaluate(sae, x_train), evaluate(sae, x_valid)
    metrics = {
        "fold": fold,
        "n_train_samples": len(x_train),
        "n_valid_samples": len(x_valid),
        **split_metrics(on_train, on_valid),
        "train_eeg_ids": sorted(int(i) for i in np.unique(train_ids)),
        "history": history,
    }
    return sae, metrics | {"density": on_train["density"]}


def _same_config(path: Path, cfg: SAEConfig, shifts: tuple[float, ...]) -> bool:
    meta = json.loads(path.with_suffix(".json").read_text())
    return meta.get("config") == asdict(cfg) and meta.get("shifts", [0.0]) == [float(s) for s in shifts]


def run_sae(
    experiment: str,
    data: str | Path | None = None,
    models_root: str | Path = MODELS_DIR,
    settings: dict | None = None,
    k_curve: tuple[int, ...] = (),
    files_dir: str | Path | None = None,
    progress: bool = True,
    shifts: tuple[float, ...] = (0.0,),
) -> pd.DataFrame:
    """Fit/evaluate every fold; returns the per-fold metrics table (also written to sae/metrics.csv). ``shifts``
    other than (0,): each fold trains on its training recordings' label rows moved by each shift (seconds), both
    hemisphere views, streamed from disk (``hms.sae.activations``); validation stays the label rows themselves."""
    exp = ExperimentDir.named(experiment, models_root)
    leaderboard.check(files_dir)  # before any work: the run's row must have a leaderboard to join
    cache = EmbeddingCache.build(exp, data)
    rows = cache.rows
    exp.sae_dir.mkdir(parents=True, exist_ok=True)
    records, densities = [], []
    folds = cache.folds()
    cfg = None
    for fold in folds:
        views = cache.fold(fold).views
        cfg = SAEConfig.from_dict({"d_in": views.shape[-1]} | (settings or {}))
        path = exp.sae_weights(fold)
        store = build_activations(exp, data, fold, shifts) if tuple(shifts) != (0.0,) else None
        if path.is_file() and _same_config(path, cfg, shifts):
            sae = SparseAutoencoder.load(path)
            metrics = json.loads(path.with_suffix(".json").read_text())["metrics"]
            x_train = store if store is not None else fold_matrices(rows, views, fold)[0]
            metrics["density"] = evaluate(sae, x_train)["density"]
        else:
            sae, metrics = fit_fold(rows, views, fold, cfg, progress, store, exp.sae_checkpoint(fold))
            sae.save(
                path,
                {"metrics": {k: v for k, v in metrics.items() if k != "density"}, "shifts": [float(s) for s in shifts]},
            )
        metrics |= fold_splice(exp, sae, rows, views, fold, metrics["l0"])
        densities.append(metrics.pop("density"))
        records.append({k: v for k, v in metrics.items() if k not in ("history", "train_eeg_ids")})
        if fold == folds[0]:
            _, x_valid, _ = fold_matrices(rows, views, fold)
            _plot_reconstructions(sae, x_valid, exp.sae_reconstructions_png)
    table = pd.DataFrame(records)
    write_csv(table, exp.sae_metrics_csv)
    summary = summarize(table, cfg, folds)
    write_json(summary, exp.sae_metrics_json)
    _plot_density(np.stack(densities), exp.sae_density_png, cfg)
    if k_curve:
        curve = run_k_curve(rows, cache.fold(folds[0]).views, folds[0], cfg, k_curve, progress, known=records[0])
        write_csv(curve, exp.sae_k_curve_csv)
        _plot_k_curve(curve, exp.sae_k_curve_png)
    _record(experiment, summary, files_dir)
    log_summary("SAE", experiment, summary)
    return table


def summarize(table: pd.DataFrame, cfg: SAEConfig, folds: list[int]) -> dict:
    """What metrics.json holds: the mean over folds of every :data:`SUMMARY_METRICS` column and the SAE's shape."""
    summary = {c: float(table[c].mean()) for c in SUMMARY_METRICS}
    return summary | {"d_in": cfg.d_in, "d_sae": cfg.d_sae, "sparsity": cfg.sparsity, "k": cfg.k, "folds": folds}


def log_summary(what: str, experiment: str, summary: dict) -> None:
    log.info(
        "%s %s: explained variance %.3f (valid), L0 %.1f, dead %.3f, KL recovered %.3f",
        what,
        experiment,
        summary["explained_variance"],
        summary["l0"],
        summary["dead_fraction"],
        summary["kl_recovered"],
    )


def run_k_curve(
    rows: pd.DataFrame,
    views: np.ndarray,
    fold: int,
    cfg: SAEConfig,
    ks: tuple[int, ...],
    progress: bool = True,
    known: dict | None = None,
) -> pd.DataFrame:
    """Explained variance (validation part) against k, on one fold's per-view embeddings, everything else as
    ``cfg``; ``known`` holds the metrics of the fit with ``cfg.k`` itself (not refitted)."""
    rows_out = []
    for k in sorted(set(ks) | ({cfg.k} if known else set())):
        if known and k == cfg.k:
            metrics = known
        else:
            _, metrics = fit_fold(rows, views, fold, replace(cfg, k=k), progress)
        rows_out.append(
            {
                "k": k,
                "fold": fold,
                "explained_variance": metrics["explained_variance"],
                "explained_variance_train": metrics["explained_variance_train"],
                "l0": metrics["l0"],
                "dead_fraction": metrics["dead_fraction"],
            }
        )
    return pd.DataFrame(rows_out)


def _record(experiment: str, summary: dict, files_dir: str | Path | None) -> None:
    row = {
        "experiment": f"{experiment}_sae",
        "model": f"sae-{summary['sparsity']} k={summary['k']} d_sae={summary['d_sae']}",
        "folds": ",".join(map(str, summary["folds"])),
        "sae_explained_variance": summary["explained_variance"],
        "sae_l0": summary["l0"],
        "sae_dead_fraction": summary["dead_fraction"],
        "notes": "SAE; explained variance on the validation parts (no KL: not a predictor)",
    }
    leaderboard.append(row, files_dir)


def _plot_density(density: np.ndarray, path: Path, cfg: SAEConfig) -> None:
    fig, ax = subplots(figsize=(7, 4))
    eps = 1e-5
    logd = np.log10(density.reshape(-1) + eps)
    ax.hist(logd, bins=60, color="#4c72b0")
    ax.axvline(np.log10(eps), color="grey", ls=":", label="never fires (dead)")
    ax.set_xlabel("log10 firing density on the training part (fraction of samples)")
    ax.set_ylabel("latents (all folds)")
    ax.set_title(f"SAE feature density: {cfg.sparsity}, d_sae={cfg.d_sae}, k={cfg.k}")
    ax.legend()
    save_figure(fig, path)


@torch.no_grad()
def _plot_reconstructions(sae: SparseAutoencoder, x_valid: np.ndarray, path: Path, n: int = 3) -> None:
    xs = sae.standardize(torch.from_numpy(x_valid[:: max(1, len(x_valid) // n)][:n].astype(np.float32)))
    rec = sae(xs)
    fig, axes = subplots(n, 1, figsize=(10, 2.4 * n), sharex=True)
    for i, ax in enumerate(np.atleast_1d(axes)):
        order = np.arange(min(200, xs.shape[1]))
        ax.plot(order, xs[i, : len(order)].numpy(), lw=1, label="embedding (standardised)")
        ax.plot(order, rec[i, : len(order)].numpy(), lw=1, ls="--", label="SAE reconstruction")
        fvu = float((xs[i] - rec[i]).pow(2).sum() / (xs[i] - xs.mean(1, keepdim=True)[i]).pow(2).sum())
        ax.set_title(f"validation sample {i}: first {len(order)} dims, sample FVU {fvu:.3f}", fontsize=9)
    np.atleast_1d(axes)[0].legend(fontsize=8)
    save_figure(fig, path)


def _plot_k_curve(curve: pd.DataFrame, path: Path) -> None:
    fig, ax = subplots(figsize=(6, 4))
    ax.plot(curve["k"], curve["explained_variance"], "o-", label="validation part")
    ax.plot(curve["k"], curve["explained_variance_train"], "s--", label="training part")
    ax.axhline(0.9, color="grey", ls=":", label="target 0.90")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k (active latents per sample)")
    ax.set_ylabel("explained variance (1 - FVU)")
    ax.legend()
    save_figure(fig, path)
