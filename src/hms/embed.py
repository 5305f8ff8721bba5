"""The embeddings cache of an experiment: every fold's model on every label row, through the inference path
(raw files -> family inputs -> model, :func:`hms.predict.run_rows`), so the SAE and the stacker are trained on
exactly what ``submission.py`` computes at test time.

``python -m hms sae``, ``stack``, ``explain`` and the EEG-CLIP benchmarks share it: ``rows`` (every label row: ids,
offsets, fold, votes), ``hand`` (band-power features per row, fold independent) and one :class:`FoldOutputs` per
fold. Each fold is written atomically, so an interrupted run resumes with the next missing fold; a retrained fold
(weights newer than its cache) is embedded again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hms.constants import VOTE_COLS
from hms.data import Competition, DataError
from hms.experiment import ExperimentDir
from hms.io import write_parquet
from hms.predict import FoldOutputs, PositionSink, load_fold, run_rows

ROW_COLUMNS = (
    "eeg_id",
    "eeg_sub_id",
    "eeg_label_offset_seconds",
    "spectrogram_id",
    "spectrogram_sub_id",
    "spectrogram_label_offset_seconds",
    "patient_id",
)


def label_rows(comp: Competition, exp: ExperimentDir) -> pd.DataFrame:
    """Every label row of train.csv whose files exist, with its fold (the experiment's patient-grouped folds)."""
    train = comp.train()
    folds = exp.read_folds(train)
    rows = train.merge(folds[["eeg_id", "fold"]], on="eeg_id", how="inner")
    return rows[[*ROW_COLUMNS, *VOTE_COLS, "fold"]].reset_index(drop=True)


def embed_fold(
    comp: Competition,
    exp: ExperimentDir,
    rows: pd.DataFrame,
    fold: int,
    batch_size: int = 32,
    positions: PositionSink | None = None,
) -> None:
    """Fold ``fold``'s model over every label row into its cache file (and the band-power features when they are
    not cached yet); ``positions`` receives the same pass's per-position activations."""
    need_hand = not exp.embedding_hand.is_file()
    (outputs,), hand, _ = run_rows(
        comp,
        rows,
        "train",
        [load_fold(exp, fold)],
        hand=need_hand,
        batch_size=batch_size,
        desc=f"embed fold{fold}",
        positions=positions,
    )
    if hand is not None:
        write_parquet(hand.reset_index(drop=True), exp.embedding_hand)
    outputs.save(exp.embedding_fold(fold))


@dataclass
class EmbeddingCache:
    """An experiment's computed embeddings: ``rows`` and, per fold, its outputs on every one of those rows."""

    exp: ExperimentDir
    rows: pd.DataFrame

    @classmethod
    def build(cls, exp: ExperimentDir | str | Path, data: str | Path | None, batch_size: int = 32) -> EmbeddingCache:
        """Compute what is missing (rows, hand features, every fold with weights) and return the cache."""
        exp = ExperimentDir.of(exp)
        comp = Competition.from_arg(data)
        rows = cls.rows_of(exp, comp)
        folds = exp.folds_with_weights()
        if not folds:
            raise FileNotFoundError(f"{exp.root}: no fold weights; train first (python -m hms train ...)")
        for k in tqdm(folds, desc="folds", unit="fold"):
            target = exp.embedding_fold(k)
            if target.is_file() and target.stat().st_mtime >= exp.weights(k).stat().st_mtime:
                continue  # cached, and newer than the fold's weights
            embed_fold(comp, exp, rows, k, batch_size)
        return cls(exp, rows)

    @staticmethod
    def rows_of(exp: ExperimentDir, comp: Competition) -> pd.DataFrame:
        """The label rows (written on first use; a cache of other rows is refused with the fix)."""
        exp.embeddings_dir.mkdir(parents=True, exist_ok=True)
        rows = label_rows(comp, exp)
        if exp.embedding_rows.is_file():
            cached = pd.read_parquet(exp.embedding_rows)
            if not cached[["eeg_id", "eeg_sub_id"]].equals(rows[["eeg_id", "eeg_sub_id"]]):
                raise ValueError(
                    f"{exp.embeddings_dir}: cached rows differ from {comp.root}/train.csv; delete "
                    f"{exp.embeddings_dir} and run again"
                )
        else:
            write_parquet(rows, exp.embedding_rows)
        return rows

    def folds(self) -> list[int]:
        return self.exp.embedded_folds()

    def fold(self, k: int) -> FoldOutputs:
        path = self.exp.embedding_fold(k)
        if not path.is_file():
            raise DataError(f"{path}: missing; python -m hms sae/stack computes it (fold {k} needs its weights)")
        return FoldOutputs.load(path)

    def hand(self) -> pd.DataFrame:
        return pd.read_parquet(self.exp.embedding_hand)

    def eeg_embeddings(self, fold: int, eeg_ids: np.ndarray) -> np.ndarray:
        """Fold ``fold``'s embedding of each eeg_id's first label row (the row EEG-CLIP evaluates), in ``eeg_ids``
        order."""
        first = self.rows.drop_duplicates("eeg_id").reset_index().set_index("eeg_id")["index"]
        return self.fold(fold).embedding[first.loc[eeg_ids].to_numpy()]
