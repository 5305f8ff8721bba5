"""Per-position activations for the SAE: the network's last feature map before pooling, one vector per position (a
spatial cell of the spectrogram CNN's map: chain x seconds x frequency band of the stacked image; a time step of the
raw-EEG family), from the same forward pass that gives the pooled embedding (:func:`hms.predict.forward_positions`).

Fold k's store (``ExperimentDir.position_store_dir``) holds, streamed to disk in chunks of float16:

- ``train``: for every training-part window (fold k's TRAINING recordings only), both hemisphere views,
  ``per_window`` positions drawn by the seed (all when 0, the default) — what the SAE fits on, with each vector's
  eeg_id and each window's row (with every position kept, the stacker's per-position codes of the training rows);
- ``valid``: every position of every validation-part window, both views — what the splice and the maps read — with
  each window's row (into the embeddings' rows);
- ``positions.json``: the shapes, the settings and the cell of each position in the input (the family's
  ``InputView.position_cells``); written last, so a store without it is incomplete and is rebuilt.

A store older than its fold's weights is rebuilt."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hms import config
from hms.data import Competition
from hms.embed import EmbeddingCache, embed_fold
from hms.errors import DataError
from hms.experiment import ExperimentDir
from hms.inputs import row_inputs
from hms.io import atomic_write, read_json, write_json
from hms.predict import LoadedFold, load_fold
from hms.sae.store import ActivationStore

_REBUILD = "delete the folder and run python -m hms sae --positions again"
CHUNK_VECTORS = 65_536  # vectors per chunk file (x 1,280 dims x 2 bytes = 168 MB)


@dataclass(frozen=True)
class PositionSettings:
    """How many positions of each training window the SAE sees, and the seed that picks them."""

    per_window: int = 0  # positions kept per view of each training-part window (0: all of them)
    seed: int = 42
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.per_window < 0:
            raise ValueError(f"per_window must be >= 0 (0: all positions), got {self.per_window}")

    @classmethod
    def from_dict(cls, d: dict) -> PositionSettings:
        return config.build(cls, d, "position settings")

    def kept(self, n_positions: int) -> int:
        """Positions kept per view of a training window of ``n_positions`` (all of them when ``per_window`` is 0)."""
        return n_positions if self.per_window == 0 else min(self.per_window, n_positions)


def read_position_config(path: str | Path, overrides: list[str] | None = None) -> tuple[dict, PositionSettings]:
    """``configs/sae_positions.yaml`` with ``--set`` items (``sae.k=16``, ``positions.per_window=0``) applied: its
    ``sae:`` settings (checked when the SAE is built, once d_in is known) and its ``positions:`` settings."""
    raw = config.parse_overrides(overrides, config.read_yaml(path))
    unknown = sorted(set(raw) - {"sae", "positions"})
    if unknown:
        raise ValueError(f"{path}: unknown sections {unknown}; known: sae, positions")
    return dict(raw.get("sae") or {}), PositionSettings.from_dict(raw.get("positions") or {})


def _save(array: np.ndarray, path: Path) -> None:
    with open(path, "wb") as fh:
        np.save(fh, array)


class _Part:
    """One part of a store, written chunk by chunk: vectors (float16), the row of each window and, for the training
    part, the eeg_id of each vector (what :class:`ActivationStore` reads). A chunk holds whole windows."""

    def __init__(self, folder: Path, name: str, with_ids: bool) -> None:
        self.folder, self.name, self.with_ids = folder, name, with_ids
        self.vectors: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []
        self.ids: list[np.ndarray] = []
        self.count, self.chunks = 0, 0

    def add(self, windows: np.ndarray, rows: np.ndarray, eeg_ids: np.ndarray) -> None:
        """``windows`` (b, V, P, d) of the label rows ``rows`` (their eeg_ids ``eeg_ids``)."""
        per_window = int(np.prod(windows.shape[1:-1]))
        self.vectors.append(windows.reshape(-1, windows.shape[-1]).astype(np.float16))
        self.rows.append(rows)
        self.ids.append(np.repeat(eeg_ids, per_window))
        self.count += len(rows) * per_window
        if self.count >= CHUNK_VECTORS:
            self.flush()

    def flush(self) -> None:
        if not self.vectors:
            return
        path = ExperimentDir.position_chunk(self.folder, self.name, self.chunks)
        sides = [(ExperimentDir.position_chunk_rows(path), np.concatenate(self.rows))]
        if self.with_ids:
            sides.append((ExperimentDir.activation_ids(path), np.concatenate(self.ids)))
        for side, values in sides:
            atomic_write(side, lambda p, a=values: _save(a, p))
        vectors = np.concatenate(self.vectors)
        atomic_write(path, lambda p, a=vectors: _save(a, p))
        self.vectors, self.rows, self.ids, self.count, self.chunks = [], [], [], 0, self.chunks + 1


class PositionWriter:
    """A :data:`hms.predict.PositionSink` that splits each batch into the store's two parts."""

    def __init__(self, folder: Path, rows: pd.DataFrame, fold: int, settings: PositionSettings) -> None:
        self.train_mask = (rows["fold"] != fold).to_numpy()
        self.eeg_ids = rows["eeg_id"].to_numpy(np.int64)
        self.settings = settings
        self.rng = np.random.default_rng([settings.seed, fold])
        self.train = _Part(folder, "train", with_ids=True)
        self.valid = _Part(folder, "valid", with_ids=False)
        self.shape: tuple[int, int, int] | None = None  # views, positions, dim

    def __call__(self, _fold_index: int, idx: list[int], positions: np.ndarray) -> None:
        idx_arr = np.asarray(idx)
        if self.shape is None:
            self._check_disk(positions.shape[1:])
        self.shape = positions.shape[1:]
        is_train = self.train_mask[idx_arr]
        if (~is_train).any():
            rows = idx_arr[~is_train]
            self.valid.add(positions[~is_train], rows, self.eeg_ids[rows])
        if is_train.any():
            windows = positions[is_train]  # (b, V, P, d)
            b, v, p, _ = windows.shape
            keep = self.settings.kept(p)
            if keep < p:
                picks = np.stack([self.rng.choice(p, keep, replace=False) for _ in range(b * v)]).reshape(b, v, keep)
                windows = np.take_along_axis(windows, picks[..., None], axis=2)
            rows = idx_arr[is_train]
            self.train.add(windows, rows, self.eeg_ids[rows])

    def _check_disk(self, shape: tuple[int, ...]) -> None:
        """Refuse, before writing, a store that would not fit on the disk (float16: 2 bytes a number)."""
        views, n_positions, dim = shape
        keep = self.settings.kept(n_positions)
        n_train, n_valid = int(self.train_mask.sum()), int((~self.train_mask).sum())
        need = (n_train * keep + n_valid * n_positions) * views * dim * 2
        free = shutil.disk_usage(self.train.folder).free
        if need > free:
            raise DataError(
                f"{self.train.folder}: the position store needs {need / 1e9:.1f} GB, the disk has {free / 1e9:.1f} GB "
                "free; keep fewer positions of the training windows (--set positions.per_window=16) or free space"
            )

    def close(self) -> None:
        self.train.flush()
        self.valid.flush()


@dataclass
class PositionStore:
    """A finished store: the training vectors (an :class:`ActivationStore`, memory-mapped) with the row of each
    training window, and the validation windows ``(windows, views, positions, dim)`` with their rows; ``cells``
    where each position looks."""

    folder: Path
    train: ActivationStore
    train_rows: np.ndarray
    valid: np.ndarray
    valid_rows: np.ndarray
    cells: pd.DataFrame
    meta: dict

    @staticmethod
    def cells_of(folder: Path) -> pd.DataFrame:
        """Where each position of a finished store looks (its manifest's cells), without opening the vectors."""
        meta = read_json(ExperimentDir.position_manifest(folder), "position store manifest", _REBUILD)
        return pd.DataFrame(meta["cells"])

    @property
    def whole_train(self) -> bool:
        """Whether the training part holds every position of its windows (``per_window`` 0 or at least all)."""
        n_positions = self.meta["shape"][1]
        return PositionSettings.from_dict(self.meta["settings"]).kept(n_positions) == n_positions

    def train_windows(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(rows, windows (n, views, positions, dim) memory-mapped), chunk by chunk, for a store that kept every
        position of its training windows."""
        if not self.whole_train:
            raise DataError(
                f"{self.folder}: the training part keeps {self.meta['settings']['per_window']} positions per view, "
                "not every one; rerun python -m hms sae --positions with --set positions.per_window=0"
            )
        views, n_positions, dim = self.meta["shape"]
        for path in ExperimentDir.position_chunks(self.folder, "train"):
            rows = np.load(ExperimentDir.position_chunk_rows(path))
            yield rows, np.load(path, mmap_mode="r").reshape(-1, views, n_positions, dim)

    @classmethod
    def open(cls, folder: Path) -> PositionStore:
        meta = read_json(ExperimentDir.position_manifest(folder), "position store manifest", _REBUILD)
        views, n_positions, dim = meta["shape"]
        train_paths = ExperimentDir.position_chunks(folder, "train")
        valid_paths = ExperimentDir.position_chunks(folder, "valid")
        if len(train_paths) != meta["train_chunks"] or len(valid_paths) != meta["valid_chunks"]:
            raise DataError(f"{folder}: chunk files missing or extra (see {ExperimentDir.position_manifest(folder)})")
        train = ActivationStore.open(folder, train_paths)
        valid = np.concatenate([np.load(p, mmap_mode="r") for p in valid_paths]) if valid_paths else np.zeros((0, dim))
        return cls(
            folder,
            train,
            _chunk_rows(train_paths),
            valid.reshape(-1, views, n_positions, dim),
            _chunk_rows(valid_paths),
            pd.DataFrame(meta["cells"]),
            meta,
        )


def _chunk_rows(paths: list[Path]) -> np.ndarray:
    return np.concatenate([np.load(ExperimentDir.position_chunk_rows(p)) for p in paths]) if paths else np.zeros(0, int)


def _complete(exp: ExperimentDir, fold: int, settings: PositionSettings) -> bool:
    manifest = ExperimentDir.position_manifest(exp.position_store_dir(fold))
    if not manifest.is_file() or manifest.stat().st_mtime < exp.weights(fold).stat().st_mtime:
        return False
    return read_json(manifest, "position store manifest", "").get("settings") == asdict(settings)


def build_position_store(
    exp: ExperimentDir, data: str | Path | None, fold: int, settings: PositionSettings
) -> PositionStore:
    """Fold ``fold``'s store, built by one pass of its model over every label row unless a complete store newer than
    the fold's weights with the same settings exists. The same pass writes the fold's embeddings cache when that is
    missing or stale (so the pooled SAE and the stacker need no pass of their own)."""
    folder = exp.position_store_dir(fold)
    if _complete(exp, fold, settings):
        return PositionStore.open(folder)
    comp = Competition.from_arg(data)
    rows = EmbeddingCache.rows_of(exp, comp)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.npy"):
        stale.unlink()
    ExperimentDir.position_manifest(folder).unlink(missing_ok=True)
    writer = PositionWriter(folder, rows, fold, settings)
    embed_fold(comp, exp, rows, fold, settings.batch_size, positions=writer)
    writer.close()
    if writer.shape is None:
        raise DataError(f"{exp.root}: fold {fold} had no label row with inputs; nothing to store")
    loaded = load_fold(exp, fold)
    views, n_positions, dim = writer.shape
    input_shape = _input_shape(comp, rows, loaded)
    cells = loaded.family.view.position_cells(loaded.frontend, input_shape, n_positions) if loaded.family.view else None
    meta = {
        "fold": fold,
        "shape": [views, n_positions, dim],
        "input_shape": list(input_shape),
        "settings": asdict(settings),
        "train_chunks": writer.train.chunks,
        "valid_chunks": writer.valid.chunks,
        "cells": cells.to_dict("list") if cells is not None else {},
    }
    write_json(meta, ExperimentDir.position_manifest(folder))
    return PositionStore.open(folder)


def _input_shape(comp: Competition, rows: pd.DataFrame, loaded: LoadedFold) -> tuple[int, ...]:
    """The shape of one input sample of the fold's family (built from the first label rows with inputs)."""
    for start in range(0, len(rows), 8):
        batch = row_inputs(
            comp, rows.iloc[start : start + 8].to_dict("records"), "train", loaded.family, loaded.frontend
        )
        if batch.inputs is not None:
            return tuple(batch.inputs.shape[1:])
    raise DataError("no label row with inputs")
