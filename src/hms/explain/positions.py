"""Where the per-position SAE's class features fire: for each class, its top features by validation AUROC (codes
max-pooled over positions, the unswapped view) and, over the validation windows where a feature fires, the cells of
the last feature map where its maximum lies — in words ("EEG LL 12–25 s, 0.5–10 Hz: 41 %") and as the share of
peaks on the left and on the right chains. A per-position feature's map is an explanation by itself: no gradients.

The input is the fold's ``codes_fold{k}.npz`` (``hms.sae.position_codes``) and its store's cells
(``PositionStore.cells_of``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hms.constants import CLASSES, LEFT_CHAINS, RIGHT_CHAINS
from hms.data import Competition
from hms.data.labels import vote_probabilities
from hms.embed import EmbeddingCache
from hms.experiment import ExperimentDir
from hms.sae.latents import class_statistics
from hms.sae.position_codes import PositionCodes
from hms.sae.positions import PositionStore

VIEW_WORDS = {"organizer": "organizer", "eeg": "EEG", "eeg_zoom": "EEG zoom"}


def describe_cell(cell: pd.Series) -> str:
    """One cell of the last feature map in words: view, chain, seconds, frequencies."""
    where = " ".join(part for part in (VIEW_WORDS.get(cell["view"], str(cell["view"])), cell["chain"]) if part)
    band = f", {cell['f0']:.1f}–{cell['f1']:.1f} Hz" if np.isfinite(cell["f0"]) and np.isfinite(cell["f1"]) else ""
    return f"{where} {cell['t0']:.0f}–{cell['t1']:.0f} s{band}"


def peak_cells(where: np.ndarray, fired: np.ndarray, cells: pd.DataFrame, top: int = 2) -> tuple[str, float, float]:
    """The ``top`` cells holding most of a feature's peaks over the windows where it fired, in words with their
    shares; the share of peaks on left-hemisphere and on right-hemisphere chains."""
    if not fired.any():
        return "never fires", float("nan"), float("nan")
    counts = np.bincount(where[fired], minlength=len(cells)) / fired.sum()
    order = np.argsort(-counts, kind="stable")[:top]
    words = "; ".join(f"{describe_cell(cells.iloc[i])}: {counts[i]:.0%}" for i in order if counts[i] > 0)
    chains = cells["chain"].to_numpy()
    left = float(counts[np.isin(chains, LEFT_CHAINS)].sum())
    right = float(counts[np.isin(chains, RIGHT_CHAINS)].sum())
    return words, left, right


def position_features(
    peak: np.ndarray, where: np.ndarray, targets: np.ndarray, cells: pd.DataFrame, top: int = 5
) -> pd.DataFrame:
    """Per class, its ``top`` features by one-vs-rest AUROC of ``peak`` (windows, d_sae; one view) against the
    consensus class of ``targets`` (soft votes), with density and where each peaks (``where``: its argmax position
    per window)."""
    stats = class_statistics(peak, targets)
    out = []
    for name in CLASSES:
        column = f"auroc_{name}"
        if stats[column].isna().all():
            continue
        for rank, j in enumerate(stats[column].sort_values(ascending=False, kind="stable").index[:top], start=1):
            words, left, right = peak_cells(where[:, j], peak[:, j] > 0, cells)
            out.append(
                {
                    "class": name,
                    "rank": rank,
                    "feature": int(j),
                    "auroc": float(stats.loc[j, column]),
                    "density": float(stats.loc[j, "density"]),
                    "peaks_at": words,
                    "left_share": left,
                    "right_share": right,
                }
            )
    return pd.DataFrame(out)


def fold_position_features(exp: ExperimentDir, comp: Competition, fold: int, top: int = 5) -> pd.DataFrame | None:
    """:func:`position_features` on fold ``fold``'s validation windows, or None before ``hms sae --positions`` (or
    when its store, which names the cells, was deleted)."""
    path, manifest = exp.position_codes(fold), ExperimentDir.position_manifest(exp.position_store_dir(fold))
    if not path.is_file() or not manifest.is_file():
        return None
    codes = PositionCodes.load(path)
    rows = EmbeddingCache.rows_of(exp, comp)
    valid = rows["fold"].to_numpy()[codes.rows] == fold
    targets = vote_probabilities(rows.iloc[codes.rows[valid]])
    cells = PositionStore.cells_of(exp.position_store_dir(fold))
    return position_features(codes.peak[valid, 0], codes.where[valid, 0], targets, cells, top)
