"""A matrix of SAE training activations held as chunks — in memory or memory-mapped ``.npy`` files — with the eeg_id
of every row: batches are gathered by index and statistics computed chunk by chunk, so fitting on a store needs no
more memory than its batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hms.experiment import ExperimentDir


class ActivationStore:
    """Row-concatenation of chunks (in memory or memory-mapped ``.npy``) with the eeg_id of each row; batches are
    gathered with :meth:`take`, statistics are computed chunk by chunk in float64."""

    def __init__(self, chunks: list[np.ndarray], eeg_ids: list[np.ndarray] | None = None) -> None:
        if not chunks or len({c.shape[1] for c in chunks}) != 1:
            raise ValueError("an ActivationStore needs at least one chunk, all of one width")
        self.chunks = chunks
        self.ids = eeg_ids if eeg_ids is not None else [np.full(len(c), -1, np.int64) for c in chunks]
        self.offsets = np.cumsum([0] + [len(c) for c in chunks])

    @classmethod
    def from_array(cls, x: np.ndarray, eeg_ids: np.ndarray | None = None) -> ActivationStore:
        return cls([np.asarray(x)], None if eeg_ids is None else [np.asarray(eeg_ids)])

    @classmethod
    def open(cls, folder: Path, paths: list[Path] | None = None) -> ActivationStore:
        """The chunks ``paths`` (default: every chunk in ``folder``), memory-mapped."""
        paths = ExperimentDir.activation_chunks(folder) if paths is None else paths
        missing = [p for p in paths if not p.is_file()]
        if not paths or missing:
            raise FileNotFoundError(
                f"{folder}: no activation chunks {[p.name for p in missing]}; python -m hms sae "
                "--shifts=... writes them"
            )
        return cls(
            [np.load(p, mmap_mode="r") for p in paths], [np.load(ExperimentDir.activation_ids(p)) for p in paths]
        )

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def dim(self) -> int:
        return int(self.chunks[0].shape[1])

    @property
    def eeg_ids(self) -> np.ndarray:
        return np.concatenate(self.ids)

    def take(self, index: np.ndarray) -> np.ndarray:
        """Rows ``index`` (any order) as float32, in that order."""
        index = np.asarray(index)
        out = np.empty((len(index), self.dim), np.float32)
        which = np.searchsorted(self.offsets, index, side="right") - 1
        for c in np.unique(which):
            sel = which == c
            out[sel] = self.chunks[c][index[sel] - self.offsets[c]]
        return out

    def blocks(self, size: int = 65_536) -> Iterator[np.ndarray]:
        for chunk in self.chunks:
            for start in range(0, len(chunk), size):
                yield np.array(chunk[start : start + size], dtype=np.float32)  # a writable copy (torch)

    def all_finite(self) -> bool:
        return all(np.isfinite(b).all() for b in self.blocks())

    def mean(self) -> np.ndarray:
        total = sum(b.sum(axis=0, dtype=np.float64) for b in self.blocks())
        return total / len(self)

    def centred_square_sums(self, mean: np.ndarray) -> np.ndarray:
        """Per dimension, sum of (x - mean)^2."""
        return sum(((b - mean) ** 2).sum(axis=0, dtype=np.float64) for b in self.blocks())
