"""Many activations per fold for the SAE, honestly: fold k's SAE trains on fold k's TRAINING recordings only — every
label row, at several time shifts inside the recording (both windows moved together, kept inside their files), both
hemisphere views (the model's own TTA) — written as one ``.npy`` chunk per shift (+ the eeg_id of every vector) and
read back memory-mapped by :class:`ActivationStore`, so memory stays bounded at full competition size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hms.data import Competition
from hms.data.windows import shifted_table
from hms.embed import EmbeddingCache
from hms.experiment import ExperimentDir
from hms.io import atomic_write
from hms.predict import load_fold, run_rows
from hms.sae.store import ActivationStore


def shifted_rows(comp: Competition, rows: pd.DataFrame, shift: float) -> pd.DataFrame:
    """Rows whose EEG and spectrogram windows both move by ``shift`` seconds, keeping those whose EEG window stays
    inside the recording (a spectrogram window that leaves its file shows up as a problem of the row and is dropped
    by the caller)."""
    return shifted_table(rows, shift, {e: comp.eeg_seconds(e) for e in rows["eeg_id"].unique()})


def build_activations(
    exp: ExperimentDir, data: str | Path | None, fold: int, shifts: tuple[float, ...], batch_size: int = 32
) -> ActivationStore:
    """Fold ``fold``'s SAE training activations (resumable per shift: a chunk newer than the fold's weights is kept).
    Shift 0 is the embeddings cache's own rows; other shifts run fold ``fold``'s model on moved windows."""
    comp = Competition.from_arg(data)
    cache = EmbeddingCache.build(exp, comp.root)
    rows = cache.rows
    train = (rows["fold"] != fold).to_numpy()
    folder = exp.sae_activation_dir(fold)
    folder.mkdir(parents=True, exist_ok=True)
    model = None
    for shift in tqdm(shifts, desc=f"activations fold{fold}", unit="shift"):
        path = exp.sae_activation_chunk(fold, shift)
        if path.is_file() and path.stat().st_mtime >= exp.weights(fold).stat().st_mtime:
            continue
        if shift == 0:
            views = cache.fold(fold).views[train]
            ids = rows.loc[train, "eeg_id"].to_numpy()
            keep = np.isfinite(views).all(axis=(1, 2))
        else:
            moved = shifted_rows(comp, rows[train], shift)
            model = model or load_fold(exp, fold)
            (outputs,), _, problems = run_rows(
                comp, moved, "train", [model], batch_size=batch_size, desc=f"shift {shift:+g} s"
            )
            views, ids = outputs.views, moved["eeg_id"].to_numpy()
            keep = np.isfinite(views).all(axis=(1, 2)) & ~np.isin(np.arange(len(moved)), list(problems))
        vectors = views[keep].reshape(-1, views.shape[-1]).astype(np.float32)
        per_view = np.repeat(ids[keep], views.shape[1]).astype(np.int64)
        atomic_write(ExperimentDir.activation_ids(path), lambda p, a=per_view: _save(a, p))
        atomic_write(path, lambda p, a=vectors: _save(a, p))
    return ActivationStore.open(folder, [exp.sae_activation_chunk(fold, s) for s in shifts])  # these shifts only


def _save(array: np.ndarray, path: Path) -> None:
    with open(path, "wb") as fh:
        np.save(fh, array)
