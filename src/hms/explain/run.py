"""``python -m hms explain --experiment NAME``: SAE feature statistics, per-class rankings, clusters and (on simulated
data) the ground-truth check, as CSV tables in ``files/reports/<experiment>/``. Uses one fold's CNN, SAE and
(when present) its ``logits_sae`` stacker, on every label row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hms.constants import CLASSES, N_CLASSES, VOTE_COLS
from hms.embed import cache_dir, ensure_embeddings, load_fold_outputs
from hms.explain.features import band_and_side, class_statistics, describe, lateralization
from hms.features import BANDS
from hms.io import write_csv, write_json
from hms.paths import MODELS_DIR, files_dir


def class_gain(booster, n_features: int) -> np.ndarray:
    """(6, n_features) summed split gain of the trees of each class (LightGBM multiclass: tree i is class i % 6)."""
    gain = np.zeros((N_CLASSES, n_features))

    def walk(node: dict, c: int) -> None:
        if "split_feature" in node:
            gain[c, node["split_feature"]] += node["split_gain"]
            walk(node["left_child"], c)
            walk(node["right_child"], c)

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"], tree["tree_index"] % N_CLASSES)
    return gain


def class_rankings(stats: pd.DataFrame, targets: np.ndarray, x: np.ndarray | None, booster, top: int,
                   offset: int = N_CLASSES) -> pd.DataFrame:  # fmt: skip
    """Top features per class: by the stacker's mean contribution to that class on rows whose consensus it is
    (``pred_contrib``) when a stacker is given, else by one-vs-rest AUROC."""
    d = len(stats)
    contrib = gain = None
    if booster is not None:
        n_feat = x.shape[1]
        c = booster.predict(x, pred_contrib=True).reshape(len(x), N_CLASSES, n_feat + 1)
        consensus = targets.argmax(axis=1)
        contrib = np.stack([c[consensus == k, k, offset : offset + d].mean(axis=0) if (consensus == k).any()
                            else np.zeros(d) for k in range(N_CLASSES)])  # fmt: skip
        gain = class_gain(booster, n_feat)[:, offset : offset + d]
    rows = []
    for k, name in enumerate(CLASSES):
        score = contrib[k] if contrib is not None else stats[f"auroc_{name}"].fillna(0.5).to_numpy()
        alive = stats["density"].to_numpy() > 0
        order = [j for j in np.argsort(-score) if alive[j]][:top]
        for rank, j in enumerate(order, 1):
            j_stats = stats.loc[j]
            rows.append({
                "class": name, "rank": rank, "feature": int(j),
                "contribution": None if contrib is None else float(contrib[k, j]),
                "gain": None if gain is None else float(gain[k, j]), "auroc": float(j_stats[f"auroc_{name}"]),
                "selectivity": float(j_stats["selectivity"]), "top_class": j_stats["top_class"],
                "description": j_stats["description"],
            })  # fmt: skip
    return pd.DataFrame(rows)


def feature_clusters(sae, alive: np.ndarray, n_clusters: int = 12) -> np.ndarray:
    """Agglomerative clusters (cosine, average linkage) of the decoder directions of the live features; -1 = dead."""
    from sklearn.cluster import AgglomerativeClustering

    labels = np.full(len(alive), -1)
    idx = np.flatnonzero(alive)
    if len(idx) >= 2:
        directions = sae.W_dec.detach().numpy().T[idx]
        model = AgglomerativeClustering(n_clusters=min(n_clusters, len(idx)), metric="cosine", linkage="average")
        labels[idx] = model.fit_predict(directions)
    return labels


def ground_truth(rankings: pd.DataFrame, stats: pd.DataFrame) -> pd.DataFrame:
    """Simulated data: do the top features of each class sit where the simulator planted the pattern?"""
    from hms.synth.signals import PLANTED

    rows = []
    for name, (extent, (lo, hi)) in PLANTED.items():
        top = rankings[rankings["class"] == name]["feature"].to_numpy()
        if not len(top):
            continue
        bands = stats.loc[top, "band"]
        in_band = np.array([BANDS[b][0] < hi and BANDS[b][1] > lo for b in bands])
        rows.append({"class": name, "planted_extent": extent, "planted_hz": f"{lo:g}-{hi:g}",
                     "mean_lateralization_top": float(stats.loc[top, "lateralization"].mean()),
                     "share_one_sided_top": float((stats.loc[top, "lateralization"] >= 0.5).mean()),
                     "share_band_overlaps_planted": float(in_band.mean()), "n_top": len(top)})  # fmt: skip
    return pd.DataFrame(rows)


def run_explain(experiment: str, data: str | Path | None = None, models_root: str | Path = MODELS_DIR,
                fold: int = 0, top: int = 10, out: str | Path | None = None) -> dict[str, pd.DataFrame]:  # fmt: skip
    from hms.data import Competition
    from hms.sae.model import SparseAutoencoder
    from hms.stack import FoldStack, build_features

    exp_dir = Path(models_root) / experiment
    comp = Competition.from_arg(data)
    rows = ensure_embeddings(exp_dir, comp.root)
    sae_path = exp_dir / "sae" / f"fold{fold}.safetensors"
    if not sae_path.is_file():
        raise FileNotFoundError(f"{sae_path}: missing; run python -m hms sae --experiment {experiment} first")
    sae = SparseAutoencoder.load(sae_path)
    outputs = load_fold_outputs(cache_dir(exp_dir) / f"fold{fold}.npz")
    hand = pd.read_parquet(cache_dir(exp_dir) / "hand.parquet")
    ok = np.isfinite(outputs.probs).all(axis=1)
    targets = rows[list(VOTE_COLS)].to_numpy(dtype=float)[ok]
    targets = targets / targets.sum(axis=1, keepdims=True)
    emb = torch.from_numpy(outputs.embedding[ok])
    codes = sae.codes(emb).numpy()
    stats = class_statistics(codes, targets)
    views = outputs.views[ok]
    stats["lateralization"] = lateralization(sae.codes(torch.from_numpy(views[:, 0])).numpy(),
                                             sae.codes(torch.from_numpy(views[:, -1])).numpy())  # fmt: skip
    stats = pd.concat([stats, band_and_side(codes, hand[ok].reset_index(drop=True))], axis=1)
    stats["description"] = [describe(r) if r["density"] > 0 else "dead" for _, r in stats.iterrows()]
    stats["cluster"] = feature_clusters(sae, stats["density"].to_numpy() > 0)
    booster, x = None, None
    if (exp_dir / "stack" / "logits_sae" / f"fold{fold}.txt").is_file():
        stack = FoldStack(exp_dir, "logits_sae", fold)
        booster = stack.booster
        sub = type(outputs)(outputs.probs[ok], outputs.views[ok])
        x, _ = build_features("logits_sae", sub, sae)
    rankings = class_rankings(stats, targets, x, booster, top)
    out = Path(out) if out else files_dir() / "reports" / experiment
    write_csv(stats, out / "features.csv")
    write_csv(rankings, out / "class_rankings.csv")
    tables = {"features": stats, "rankings": rankings}
    if (comp.root / "oracle.csv").is_file():
        tables["ground_truth"] = ground_truth(rankings, stats)
        write_csv(tables["ground_truth"], out / "ground_truth.csv")
    write_json({"experiment": experiment, "fold": fold, "rows": int(ok.sum()), "ranked_by": "stacker pred_contrib"
                if booster is not None else "one-vs-rest AUROC", "top": top}, out / "explain.json")  # fmt: skip
    return tables
