"""``python -m hms sae --positions``: one SAE per fold on the per-position activations of the network's last feature
map (``hms.sae.positions``: fold k's training recordings only), evaluated on its validation windows:

- explained variance, L0 and dead latents per position;
- splice fidelity: every position of a validation window replaced by its reconstruction, pooled by the network's
  own pooling, through the fold's head (``hms.sae.splice``), beside PCA with as many components as the SAE's L0;
- per window and view, each feature's code max-pooled over positions and the position of that maximum
  (``codes_fold{k}.npz``, :mod:`hms.sae.position_codes`: the stacker's and the maps' input): of the validation windows,
  and of the training windows too when the store kept all their positions (the stacker of fold k trains on those).

Resumable per fold like the pooled SAE (a fold whose weights exist with the same settings is not refitted)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from hms.data import Competition
from hms.data.labels import vote_probabilities
from hms.embed import EmbeddingCache
from hms.experiment import ExperimentDir
from hms.io import write_csv, write_json
from hms.paths import MODELS_DIR
from hms.predict import load_fold
from hms.sae.baselines import explained_variance, pca_reconstructor
from hms.sae.fit import evaluate, fit_sae, split_metrics
from hms.sae.model import SAEConfig, SparseAutoencoder
from hms.sae.position_codes import PositionCodes, position_codes
from hms.sae.positions import PositionSettings, PositionStore, build_position_store
from hms.sae.run import log_summary, summarize
from hms.sae.splice import pooled_embeddings, splice_embeddings
from hms.sae.store import ActivationStore

PCA_SAMPLE = 65_536  # training vectors the PCA baseline is fitted on (all of them when fewer)


def store_codes(sae: SparseAutoencoder, store: PositionStore) -> PositionCodes:
    """The max-pooled codes of the store's validation windows and, when it kept every position of its training
    windows, of those too (ordered by row)."""
    parts = [position_codes(sae, store.valid, store.valid_rows)]
    if store.whole_train:
        parts += [position_codes(sae, windows, rows) for rows, windows in store.train_windows()]
    rows = np.concatenate([c.rows for c in parts])
    order = np.argsort(rows, kind="stable")
    peak, where = np.concatenate([c.peak for c in parts]), np.concatenate([c.where for c in parts])
    return PositionCodes(rows[order], peak[order], where[order])


def _sample(store: ActivationStore, size: int, seed: int) -> np.ndarray:
    """``size`` vectors of the store drawn by the seed (all of them when it holds fewer), in store order."""
    n = len(store)
    index = np.arange(n) if n <= size else np.sort(np.random.default_rng(seed).choice(n, size, False))
    return store.take(index)


def position_splice(
    exp: ExperimentDir, fold: int, sae: SparseAutoencoder, store: PositionStore, targets: np.ndarray, l0: float
) -> dict:
    """Splice fidelity of the per-position SAE (and of PCA with ``l0`` components) on the validation windows."""
    model = load_fold(exp, fold).model
    mean = torch.from_numpy(store.train.mean().astype(np.float32))
    clean = pooled_embeddings(model.pool, store.valid)
    spliced = pooled_embeddings(model.pool, store.valid, sae.reconstruct)
    ablated = model.pool(mean.expand(1, store.valid.shape[2], -1)).unsqueeze(1)
    out = splice_embeddings(model.head, clean, spliced, ablated, targets)
    sample = _sample(store.train, PCA_SAMPLE, sae.cfg.seed)
    pca = pca_reconstructor(sae, sample, int(round(max(l0, 1))), sae.cfg.seed)
    pca_out = splice_embeddings(model.head, clean, pooled_embeddings(model.pool, store.valid, pca), ablated, targets)
    flat = np.asarray(store.valid, dtype=np.float32).reshape(-1, store.valid.shape[-1])
    out["pca_explained_variance"] = explained_variance(sae, pca, flat)
    out |= {f"pca_{k}": pca_out[k] for k in ("kl_recovered", "prediction_kl")}
    return out


def fit_position_fold(
    exp: ExperimentDir, fold: int, store: PositionStore, cfg: SAEConfig, progress: bool
) -> tuple[SparseAutoencoder, dict]:
    """Fit (or load, when fitted with the same settings) fold ``fold``'s per-position SAE; its metrics."""
    path = exp.position_sae_weights(fold)
    manifest = ExperimentDir.position_manifest(store.folder)
    meta = json.loads(path.with_suffix(".json").read_text()) if path.with_suffix(".json").is_file() else {}
    fitted = path.is_file() and path.stat().st_mtime >= manifest.stat().st_mtime
    if fitted and meta.get("config") == asdict(cfg) and meta.get("store") == store.meta["settings"]:
        sae = SparseAutoencoder.load(path)  # fitted with these settings on this very store
        history = meta.get("history", [])
    else:
        sae, history = fit_sae(
            store.train, cfg, progress, f"position sae fold{fold}", checkpoint=exp.position_sae_checkpoint(fold)
        )
        sae.save(path, {"history": history, "store": store.meta["settings"]})
    valid = ActivationStore.from_array(np.asarray(store.valid, dtype=np.float32).reshape(-1, store.valid.shape[-1]))
    on_train, on_valid = evaluate(sae, store.train), evaluate(sae, valid)
    return sae, {
        "fold": fold,
        "n_train_samples": len(store.train),
        "n_valid_samples": len(valid),
        "positions": int(store.valid.shape[2]),
        **split_metrics(on_train, on_valid),
    }


def run_position_sae(
    experiment: str,
    data: str | Path | None = None,
    models_root: str | Path = MODELS_DIR,
    settings: dict | None = None,
    positions: PositionSettings | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Every fold: its position store (one pass of its model; shared with the embeddings cache), its per-position
    SAE, metrics, splice and max-pooled codes; the per-fold table (also ``sae/positions/metrics.csv``)."""
    exp = ExperimentDir.named(experiment, models_root)
    comp = Competition.from_arg(data)
    all_rows = EmbeddingCache.rows_of(exp, comp)
    positions = positions or PositionSettings()
    folds = exp.folds_with_weights()
    if not folds:
        raise FileNotFoundError(f"{exp.root}: no fold weights; train first (python -m hms train ...)")
    exp.sae_positions_dir.mkdir(parents=True, exist_ok=True)
    records, cfg = [], None
    for fold in tqdm(folds, desc="position SAE", unit="fold", disable=not progress):
        store = build_position_store(exp, comp.root, fold, positions)
        rows = all_rows.iloc[store.valid_rows]
        cfg = SAEConfig.from_dict({"d_in": store.train.dim} | (settings or {}))
        sae, metrics = fit_position_fold(exp, fold, store, cfg, progress)
        metrics |= position_splice(exp, fold, sae, store, vote_probabilities(rows), metrics["l0"])
        store_codes(sae, store).save(exp.position_codes(fold))
        records.append(metrics)
    table = pd.DataFrame(records)
    write_csv(table, exp.position_metrics_csv)
    summary = summarize(table, cfg, folds)
    summary |= {"positions": int(table["positions"].iloc[0]), "per_window": positions.per_window}
    write_json(summary, exp.position_metrics_json)
    log_summary("per-position SAE", experiment, summary)
    return table
