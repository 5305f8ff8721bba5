"""Statistics of SAE features against the six classes (no gradients needed).

- density: share of rows where the feature fires.
- class_mean_<c>: mean activation weighted by each row's probability of class c (soft labels).
- selectivity: the top class's share of the summed class means (1 = fires for one class only; 1/6 = indifferent).
- auroc_<c>: one-vs-rest AUROC of the activation for rows whose consensus is c.
- lateralization: over rows where it fires, mean |z(view) - z(swapped view)| / (z(view) + z(swapped view)); 0 = fires
  the same whichever way round the hemispheres are (bilateral), 1 = only one way round (one-sided).
- side / band: the sign of its correlation with the left-minus-right band-power asymmetry of the central 10 s, and
  the band whose (chain-averaged) power its activation correlates with most."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from hms.constants import CLASSES
from hms.signal.bands import BANDS
from hms.synth.signals import PLANTED


def class_statistics(codes: np.ndarray, targets: np.ndarray) -> pd.DataFrame:
    """codes (n, d), soft targets (n, 6) -> one row per feature: density, class means, selectivity, top class, AUROC."""
    fires = codes > 0
    weights = targets / np.clip(targets.sum(axis=0, keepdims=True), 1e-12, None)
    means = weights.T @ codes  # (6, d)
    total = means.sum(axis=0)
    out = pd.DataFrame({"feature": np.arange(codes.shape[1]), "density": fires.mean(axis=0)})
    for c, name in enumerate(CLASSES):
        out[f"class_mean_{name}"] = means[c]
    out["top_class"] = [CLASSES[i] for i in means.argmax(axis=0)]
    out["selectivity"] = np.where(total > 0, means.max(axis=0) / np.where(total > 0, total, 1), np.nan)
    consensus = targets.argmax(axis=1)
    for c, name in enumerate(CLASSES):
        positive = consensus == c
        if positive.all() or not positive.any():
            out[f"auroc_{name}"] = np.nan
            continue
        out[f"auroc_{name}"] = [
            roc_auc_score(positive, codes[:, j]) if fires[:, j].any() else 0.5 for j in range(codes.shape[1])
        ]
    return out


def lateralization(view_codes: np.ndarray, swapped_codes: np.ndarray) -> np.ndarray:
    """Per feature, mean over rows where it fires in either view of |a - b| / (a + b)."""
    a, b = np.clip(view_codes, 0, None), np.clip(swapped_codes, 0, None)
    total = a + b
    fired = total > 0
    ratio = np.where(fired, np.abs(a - b) / np.where(fired, total, 1), 0.0)
    counts = fired.sum(axis=0)
    return np.where(counts > 0, ratio.sum(axis=0) / np.maximum(counts, 1), np.nan)


def _corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of x (n, d) with y (n,), NaN rows of y dropped; 0 for constant columns."""
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    xc, yc = x - x.mean(axis=0), y - y.mean()
    denom = np.sqrt((xc**2).sum(axis=0) * (yc**2).sum())
    return np.where(denom > 0, xc.T @ yc / np.where(denom > 0, denom, 1), 0.0)


def band_and_side(codes: np.ndarray, hand: pd.DataFrame, view: str = "eeg10") -> pd.DataFrame:
    """Per feature: the band whose chain-averaged power correlates most with its activation, that correlation, and
    the side suggested by the correlation with the lateral (LL - RL) asymmetry in that band."""
    band_corr, side_corr = [], []
    for band in BANDS:
        chains = [c for c in hand.columns if c.startswith(f"{view}_") and c.endswith(f"_{band}") and "asym" not in c]
        power = hand[chains].to_numpy(dtype=float).mean(axis=1)
        band_corr.append(_corr(codes, power))
        side_corr.append(_corr(codes, hand[f"{view}_asym_lat_{band}"].to_numpy(dtype=float)))
    band_corr, side_corr = np.stack(band_corr), np.stack(side_corr)  # (bands, d)
    best = band_corr.argmax(axis=0)
    cols = np.arange(codes.shape[1])
    asym = side_corr[best, cols]
    side = np.where(asym > 0.1, "left", np.where(asym < -0.1, "right", "both"))
    return pd.DataFrame(
        {"band": [list(BANDS)[i] for i in best], "band_corr": band_corr[best, cols], "side": side, "side_corr": asym}
    )


def feature_table(
    codes: np.ndarray, view_codes: np.ndarray, swapped_codes: np.ndarray, targets: np.ndarray, hand: pd.DataFrame
) -> pd.DataFrame:
    """Everything above for every feature: class statistics of ``codes`` against ``targets``, lateralization from the
    codes of the two hemisphere views, band and side from the band powers ``hand`` (rows aligned with ``codes``)."""
    stats = class_statistics(codes, targets)
    stats["lateralization"] = lateralization(view_codes, swapped_codes)
    return pd.concat([stats, band_and_side(codes, hand)], axis=1)


def describe(row: pd.Series) -> str:
    """Plain words, e.g. 'left-sided (lateralization 0.71), delta2 2-4 Hz (r 0.42), lrda (selectivity 0.58)'."""
    lo, hi = BANDS[row["band"]]
    spread = "one-sided" if row["lateralization"] >= 0.5 else "bilateral"
    side = f"{row['side']} chains, " if row["side"] != "both" else ""
    return (
        f"{side}{spread} (lateralization {row['lateralization']:.2f}), {row['band']} {lo:g}-{hi:g} Hz "
        f"(r {row['band_corr']:.2f}), {row['top_class']} (selectivity {row['selectivity']:.2f})"
    )


def ground_truth(rankings: pd.DataFrame, stats: pd.DataFrame) -> pd.DataFrame:
    """Simulated data: do the top features of each class sit where the simulator planted the pattern?"""
    rows = []
    for name, (extent, (lo, hi)) in PLANTED.items():
        top = rankings[rankings["class"] == name]["feature"].to_numpy()
        if not len(top):
            continue
        bands = stats.loc[top, "band"]
        in_band = np.array([BANDS[b][0] < hi and BANDS[b][1] > lo for b in bands])
        rows.append(
            {
                "class": name,
                "planted_extent": extent,
                "planted_hz": f"{lo:g}-{hi:g}",
                "mean_lateralization_top": float(stats.loc[top, "lateralization"].mean()),
                "share_one_sided_top": float((stats.loc[top, "lateralization"] >= 0.5).mean()),
                "share_band_overlaps_planted": float(in_band.mean()),
                "n_top": len(top),
            }
        )
    return pd.DataFrame(rows)
