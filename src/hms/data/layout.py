"""The competition folder layout: where each file of a data root lives, and which label rows have their files."""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hms.constants import EEG_WINDOW_SAMPLES, SAMPLE_RATE, SPEC_SECONDS_PER_ROW, SPEC_WINDOW_ROWS
from hms.data.errors import DataError
from hms.data.signals import (
    clean_eeg,
    clean_spectrogram,
    eeg_window,
    read_eeg,
    read_spectrogram,
    spectrogram_window,
)
from hms.data.tables import read_sample_submission, read_test_csv, read_train_csv
from hms.paths import resolve_data_root

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def _read_cached(kind: str, path: Path, mtime_ns: int, stop: int | None) -> tuple[np.ndarray, ...]:
    """The last few files read (label rows of one recording come together); arrays are read-only."""
    arrays = (read_eeg(path, stop),) if kind == "eeg" else read_spectrogram(path, stop)
    for a in arrays:
        a.setflags(write=False)
    return arrays


def _read(kind: str, path: Path, stop: int | None = None) -> tuple[np.ndarray, ...]:
    """A recording's arrays: the whole file, or (``stop``) only its first rows, which is all a test row needs."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:  # missing: let the reader raise its own error naming the file and the fix
        return (read_eeg(path, stop),) if kind == "eeg" else read_spectrogram(path, stop)
    return _read_cached(kind, path, mtime, stop)


@dataclass(frozen=True)
class Competition:
    """A data root in the competition's layout (the real one, a Kaggle input folder, or a simulated one)."""

    root: Path

    @classmethod
    def from_arg(cls, data: str | os.PathLike[str] | None = None) -> Competition:
        return cls(resolve_data_root(data))

    # -- files --------------------------------------------------------------------------------------------------
    @property
    def train_csv(self) -> Path:
        return self.root / "train.csv"

    @property
    def test_csv(self) -> Path:
        return self.root / "test.csv"

    @property
    def sample_submission_csv(self) -> Path:
        return self.root / "sample_submission.csv"

    @property
    def oracle_csv(self) -> Path:
        """The simulator's ground truth (per label row: the planted pattern, side, ...), kept apart from train.csv."""
        return self.root / "oracle.csv"

    @property
    def simulated(self) -> bool:
        """A simulated competition (``python -m hms synth``): its ground truth is there."""
        return self.oracle_csv.is_file()

    def eeg_dir(self, split: str = "train") -> Path:
        return self.root / f"{split}_eegs"

    def spectrogram_dir(self, split: str = "train") -> Path:
        return self.root / f"{split}_spectrograms"

    def input_paths(self, split: str) -> list[Path]:
        """Every file and folder of the root that predicting ``split`` reads (no output may land on one of them)."""
        return [
            self.train_csv,
            self.test_csv,
            self.sample_submission_csv,
            self.eeg_dir(split),
            self.spectrogram_dir(split),
        ]

    def eeg_path(self, eeg_id: int, split: str = "train") -> Path:
        return self.eeg_dir(split) / f"{int(eeg_id)}.parquet"

    def spectrogram_path(self, spectrogram_id: int, split: str = "train") -> Path:
        return self.spectrogram_dir(split) / f"{int(spectrogram_id)}.parquet"

    # -- tables -------------------------------------------------------------------------------------------------
    def train(self, require_files: bool = True) -> pd.DataFrame:
        """train.csv; with ``require_files`` rows whose EEG or spectrogram parquet is absent are dropped, with one
        warning that counts them (the real sample holds 5 of the 17,089 EEGs)."""
        df = read_train_csv(self.train_csv)
        if require_files:
            self.check_folders("train")
        return self.with_files(df, "train") if require_files else df

    def check_folders(self, split: str) -> None:
        """``DataError`` naming the folder when ``{split}_eegs/`` or ``{split}_spectrograms/`` is missing."""
        for folder in (self.eeg_dir(split), self.spectrogram_dir(split)):
            if not folder.is_dir():
                raise DataError(
                    f"{folder}: folder missing; a competition data root holds {split}.csv, {split}_eegs/ and "
                    f"{split}_spectrograms/ (kaggle competitions download -c hms-harmful-brain-activity-classification,"
                    " then unzip; or python -m hms synth --out DIR)"
                )

    def test(self) -> pd.DataFrame:
        return read_test_csv(self.test_csv)

    def sample_submission(self) -> pd.DataFrame:
        return read_sample_submission(self.sample_submission_csv)

    def with_files(self, df: pd.DataFrame, split: str) -> pd.DataFrame:
        eeg_ok = {e: self.eeg_path(e, split).is_file() for e in df["eeg_id"].unique()}
        spec_ok = {s: self.spectrogram_path(s, split).is_file() for s in df["spectrogram_id"].unique()}
        keep = df["eeg_id"].map(eeg_ok) & df["spectrogram_id"].map(spec_ok)
        n_drop = int((~keep).sum())
        if n_drop:
            log.warning(
                "%s: skipping %d of %d %s rows (%d eeg_ids) whose EEG or spectrogram parquet is absent",
                self.root,
                n_drop,
                len(df),
                split,
                df.loc[~keep, "eeg_id"].nunique(),
            )
        return df.loc[keep].reset_index(drop=True)

    def eeg_seconds(self, eeg_id: int, split: str = "train") -> float:
        """Length of a recording in seconds (the file is read once and cached with the last few)."""
        (eeg,) = _read("eeg", self.eeg_path(eeg_id, split))
        return eeg.shape[0] / SAMPLE_RATE

    # -- label windows ------------------------------------------------------------------------------------------
    def clean_eeg_window(self, row: dict, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """The row's 50 s EEG window with the NaN policy applied, and its per-channel NaN fraction (test rows: 0 s).
        A test row reads only the samples up to the window's end (each test recording has one row)."""
        path = self.eeg_path(row["eeg_id"], split)
        offset = row.get("eeg_label_offset_seconds", 0.0)
        stop = None if split == "train" else int(round(offset * SAMPLE_RATE)) + EEG_WINDOW_SAMPLES
        (eeg,) = _read("eeg", path, stop)
        return clean_eeg(eeg_window(eeg, offset, path))

    def clean_spectrogram_window(self, row: dict, split: str = "train") -> np.ndarray:
        """The row's 300-row organizer window with the NaN policy applied (a test row reads only up to its end)."""
        path = self.spectrogram_path(row["spectrogram_id"], split)
        offset = row.get("spectrogram_label_offset_seconds", 0.0)
        stop = None if split == "train" else int(offset // SPEC_SECONDS_PER_ROW) + SPEC_WINDOW_ROWS
        times, power = _read("spectrogram", path, stop)
        return clean_spectrogram(spectrogram_window(times, power, offset, path))

    def load_windows(self, row: dict, split: str = "train") -> tuple[np.ndarray | None, np.ndarray | None, str]:
        """(clean EEG window or None, clean organizer window or None, what was wrong): the inputs of every model
        family. A missing or unreadable file, or an EEG whose scalp channels are all missing (NaN/inf), leaves that
        modality None."""
        problems = []
        eeg = spec = None
        try:
            eeg, nan_frac = self.clean_eeg_window(row, split)
            if nan_frac[:-1].min() == 1.0:  # every scalp channel empty: nothing to read from the EEG
                eeg = None
                problems.append("EEG: every scalp channel missing (NaN/inf)")
        except DataError as exc:
            reason = str(exc).split(": ", 1)[-1].split(";")[0]
            problems.append(reason if reason.startswith("EEG") else f"EEG {reason}")
        try:
            spec = self.clean_spectrogram_window(row, split)
        except DataError as exc:
            reason = str(exc).split(": ", 1)[-1].split(";")[0]
            problems.append(reason if reason.startswith("spectrogram") else f"spectrogram {reason}")
        return eeg, spec, "; ".join(problems)
