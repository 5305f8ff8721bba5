"""Per-position activations for the SAE: the network's last feature map before pooling, one vector per position (a
spatial cell of the spectrogram CNN's map: chain x seconds x frequency band of the stacked image; a time step of the
raw-EEG family), from the same forward pass that gives the pooled embedding (:func:`hms.predict.forward_positions`).

Fold k's store (``ExperimentDir.position_store_dir``) holds, streamed to disk in chunks of float16:

- ``train``: for every training-part window (fold k's TRAINING recordings only), both hemisphere views,
  ``per_window`` positions drawn by the seed (all when 0) — what the SAE fits on, with each vector's eeg_id;
- ``valid``: every position of every validation-part window, both views — what the splice and the maps read — with
  each window's row (into the embeddings' rows);
- ``positions.json``: the shapes, the settings and the cell of each position in the input (the family's
  ``InputView.position_cells``); written last, so a store without it is incomplete and is rebuilt.

A store older than its fold's weights is rebuilt."""

from __future__ import annotations

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

    per_window: int = 16  # per view of each training-part window (0: all of them)
    seed: int = 42
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.per_window < 0:
            raise ValueError(f"per_window must be >= 0 (0: all positions), got {self.per_window}")

    @classmethod
    def from_dict(cls, d: dict) -> PositionSettings:
        return config.build(cls, d, "position settings")


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
    """One part of a store, written chunk by chunk: vectors (float16) and one label per vector or window."""

    def __init__(self, folder: Path, name: str, labels: str) -> None:
        self.folder, self.name, self.labels = folder, name, labels
        self.vectors: list[np.ndarray] = []
        self.tags: list[np.ndarray] = []
        self.count, self.chunks = 0, 0

    def add(self, vectors: np.ndarray, tags: np.ndarray) -> None:
        self.vectors.append(vectors.astype(np.float16))
        self.tags.append(tags)
        self.count += int(np.prod(vectors.shape[:-1]))
        if self.count >= CHUNK_VECTORS:
            self.flush()

    def flush(self) -> None:
        if not self.vectors:
            return
        path = ExperimentDir.position_chunk(self.folder, self.name, self.chunks)
        tags = np.concatenate(self.tags)
        side = ExperimentDir.activation_ids(path) if self.labels == "ids" else ExperimentDir.position_chunk_rows(path)
        atomic_write(side, lambda p, a=tags: _save(a, p))
        vectors = np.concatenate(self.vectors)
        atomic_write(path, lambda p, a=vectors: _save(a, p))
        self.vectors, self.tags, self.count, self.chunks = [], [], 0, self.chunks + 1


class PositionWriter:
    """A :data:`hms.predict.PositionSink` that splits each batch into the store's two parts."""

    def __init__(self, folder: Path, rows: pd.DataFrame, fold: int, settings: PositionSettings) -> None:
        self.train_mask = (rows["fold"] != fold).to_numpy()
        self.eeg_ids = rows["eeg_id"].to_numpy(np.int64)
        self.settings = settings
        self.rng = np.random.default_rng([settings.seed, fold])
        self.train = _Part(folder, "train", "ids")
        self.valid = _Part(folder, "valid", "rows")
        self.shape: tuple[int, int, int] | None = None  # views, positions, dim

    def __call__(self, _fold_index: int, idx: list[int], positions: np.ndarray) -> None:
        idx_arr = np.asarray(idx)
        self.shape = positions.shape[1:]
        is_train = self.train_mask[idx_arr]
        if (~is_train).any():
            self.valid.add(positions[~is_train], idx_arr[~is_train])
        if is_train.any():
            windows = positions[is_train]  # (b, V, P, d)
            b, v, p, d = windows.shape
            keep = self.settings.per_window
            if keep and keep < p:
                picks = np.stack([self.rng.choice(p, keep, replace=False) for _ in range(b * v)]).reshape(b, v, keep)
                windows = np.take_along_axis(windows, picks[..., None], axis=2)
            ids = np.repeat(self.eeg_ids[idx_arr[is_train]], windows.shape[1] * windows.shape[2])
            self.train.add(windows.reshape(-1, d), ids)

    def close(self) -> None:
        self.train.flush()
        self.valid.flush()


@dataclass
class PositionStore:
    """A finished store: the training vectors (an :class:`ActivationStore`, memory-mapped) and the validation windows
    ``(windows, views, positions, dim)`` with their rows; ``cells`` where each position looks."""

    folder: Path
    train: ActivationStore
    valid: np.ndarray
    valid_rows: np.ndarray
    cells: pd.DataFrame
    meta: dict

    @staticmethod
    def cells_of(folder: Path) -> pd.DataFrame:
        """Where each position of a finished store looks (its manifest's cells), without opening the vectors."""
        meta = read_json(ExperimentDir.position_manifest(folder), "position store manifest", _REBUILD)
        return pd.DataFrame(meta["cells"])

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
        rows = (
            np.concatenate([np.load(ExperimentDir.position_chunk_rows(p)) for p in valid_paths])
            if valid_paths
            else np.zeros(0, np.int64)
        )
        return cls(
            folder,
            train,
            valid.reshape(-1, views, n_positions, dim),
            rows,
            pd.DataFrame(meta["cells"]),
            meta,
        )


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
