"""A per-position SAE's codes max-pooled over positions: the ``codes_fold{k}.npz`` format (this module owns it:
:class:`PositionCodes`), the pooling itself, and :class:`PositionCodeSink`, which gives test rows the same codes from
inference's forward pass. Light on purpose: ``submission.py`` imports it (no plotting, no fitting)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hms.errors import DataError
from hms.io import atomic_write
from hms.sae.model import SparseAutoencoder


@dataclass
class PositionCodes:
    """A fold's per-position SAE on its windows (the validation windows, and the training ones when the store kept
    all their positions): ``rows`` (into the embeddings' rows), ``peak`` (windows, views, d_sae) each feature's
    largest code over positions, ``where`` (same shape) the position of it."""

    rows: np.ndarray
    peak: np.ndarray
    where: np.ndarray

    def save(self, path: Path) -> None:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, rows=self.rows, peak=self.peak, where=self.where)

        atomic_write(path, write)

    def dense(self, n_rows: int) -> np.ndarray:
        """``peak`` laid out by row: (n_rows, views, d_sae), NaN for the rows without codes."""
        out = np.full((n_rows, *self.peak.shape[1:]), np.nan, np.float32)
        out[self.rows] = self.peak
        return out

    @classmethod
    def load(cls, path: Path) -> PositionCodes:
        if not path.is_file():
            raise DataError(f"{path}: missing; python -m hms sae --positions --experiment NAME writes it")
        with np.load(path) as z:
            return cls(z["rows"], z["peak"], z["where"])


@torch.no_grad()
def max_codes(sae: SparseAutoencoder, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Windows (b, V, P, d) -> each feature's largest code over the positions (b, V, d_sae) and its position."""
    b, v, p, d = windows.shape
    z = sae.codes(torch.from_numpy(np.asarray(windows, dtype=np.float32)).reshape(-1, d)).reshape(b, v, p, -1)
    values, index = z.max(dim=2)
    return values.numpy(), index.numpy().astype(np.int16)


def position_codes(sae: SparseAutoencoder, positions: np.ndarray, rows: np.ndarray, batch: int = 32) -> PositionCodes:
    """Codes of every position of every window (n, V, P, d), max-pooled over positions."""
    peak = np.zeros((len(positions), positions.shape[1], sae.cfg.d_sae), np.float32)
    where = np.zeros(peak.shape, np.int16)
    for start in range(0, len(positions), batch):
        peak[start : start + batch], where[start : start + batch] = max_codes(sae, positions[start : start + batch])
    return PositionCodes(rows, peak, where)


class PositionCodeSink:
    """A :data:`hms.predict.PositionSink` for inference: fold m's per-position SAE on each batch's positions (rounded
    to float16 first, as the store holds them, so test rows get the codes training rows got), max-pooled;
    ``peak[m]`` (rows, views, d_sae), NaN for rows without inputs."""

    def __init__(self, saes: list[SparseAutoencoder], n_rows: int, views: int) -> None:
        self.saes = saes
        self.peak = [np.full((n_rows, views, sae.cfg.d_sae), np.nan, np.float32) for sae in saes]

    def __call__(self, fold_index: int, idx: list[int], positions: np.ndarray) -> None:
        self.peak[fold_index][idx], _ = max_codes(self.saes[fold_index], positions.astype(np.float16))
