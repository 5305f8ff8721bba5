"""EEG and spectrogram parquet readers, label-window extraction, and the one NaN policy.

NaN policy (real EEGs have NaN stretches and all-NaN channels):
  * EEG: inside a window, each channel's NaN samples are linearly interpolated from its nearest valid samples
    (held constant before the first / after the last valid sample); a channel with no valid sample in the window
    becomes flat zero. ``clean_eeg`` returns the per-channel NaN fraction so callers can flag bad windows.
  * Organizer spectrogram: NaN power becomes 0 (no power), before any log transform.
Readers never fill anything: they return the file's values so tests and plots can see the raw data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hms.constants import (
    EEG_CHANNELS,
    EEG_WINDOW_SAMPLES,
    SAMPLE_RATE,
    SPEC_COLUMNS,
    SPEC_SECONDS_PER_ROW,
    SPEC_WINDOW_ROWS,
)
from hms.data.errors import DataError


def _read_table(path: Path, columns: list[str], what: str, fix: str) -> pa.Table:
    if not path.is_file():
        raise DataError(f"{path}: {what} file not found; {fix}")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: unreadable parquet ({exc}); re-download or regenerate the file") from exc
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise DataError(
            f"{path}: {what} lacks columns {missing[:6]}{'...' if len(missing) > 6 else ''}; expected {fix}"
        )
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: unreadable parquet ({exc}); re-download or regenerate the file") from exc


def read_eeg(path: str | os.PathLike[str]) -> np.ndarray:
    """Raw EEG as float32 array (n_samples, 20), columns in ``EEG_CHANNELS`` order, 200 Hz. NaN kept."""
    path = Path(path)
    table = _read_table(path, list(EEG_CHANNELS), "EEG", f"20 columns {' '.join(EEG_CHANNELS)}")
    data = np.stack([table.column(c).to_numpy(zero_copy_only=False) for c in EEG_CHANNELS], axis=1)
    if data.shape[0] == 0:
        raise DataError(f"{path}: EEG has no samples; the file is empty")
    return data.astype(np.float32, copy=False)


def read_spectrogram(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Organizer spectrogram: (time in s, shape (n,)), (power, float32 (n, 400) in ``SPEC_COLUMNS`` order)."""
    path = Path(path)
    table = _read_table(path, ["time", *SPEC_COLUMNS], "spectrogram", "'time' + 400 columns LL_0.59 .. RP_19.92")
    times = table.column("time").to_numpy(zero_copy_only=False)
    values = np.stack([table.column(c).to_numpy(zero_copy_only=False) for c in SPEC_COLUMNS], axis=1)
    return times, values.astype(np.float32, copy=False)


def eeg_window(eeg: np.ndarray, offset_seconds: float, path: str | os.PathLike[str] = "<eeg>") -> np.ndarray:
    """The 50 s label window (10,000 samples) starting at ``eeg_label_offset_seconds``."""
    start = int(round(offset_seconds * SAMPLE_RATE))
    stop = start + EEG_WINDOW_SAMPLES
    if start < 0 or stop > eeg.shape[0]:
        raise DataError(
            f"{path}: EEG too short for the window at offset {offset_seconds:g} s: needs samples {start}..{stop}, "
            f"file has {eeg.shape[0]} ({eeg.shape[0] / SAMPLE_RATE:g} s); check eeg_label_offset_seconds"
        )
    return eeg[start:stop]


def spectrogram_window(
    times: np.ndarray, values: np.ndarray, offset_seconds: float, path: str | os.PathLike[str] = "<spectrogram>"
) -> np.ndarray:
    """The 600 s label window (300 rows of 2 s) starting at ``spectrogram_label_offset_seconds``."""
    start = int(offset_seconds // SPEC_SECONDS_PER_ROW)
    stop = start + SPEC_WINDOW_ROWS
    if start < 0 or stop > values.shape[0]:
        span = f"{times[0]}..{times[-1]} s" if len(times) else "no rows"
        raise DataError(
            f"{path}: spectrogram too short for the window at offset {offset_seconds:g} s: needs rows {start}..{stop}, "
            f"file has {values.shape[0]} rows ({span}); check spectrogram_label_offset_seconds"
        )
    return values[start:stop]


def clean_eeg(window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the NaN policy to an EEG window (n, channels). Returns (clean float32 copy, NaN fraction per channel)."""
    out = np.array(window, dtype=np.float32, copy=True)
    nan = np.isnan(out)
    nan_fraction = nan.mean(axis=0)
    if not nan.any():
        return out, nan_fraction
    idx = np.arange(out.shape[0])
    for ch in np.flatnonzero(nan.any(axis=0)):
        valid = ~nan[:, ch]
        if not valid.any():
            out[:, ch] = 0.0
        else:
            out[nan[:, ch], ch] = np.interp(idx[nan[:, ch]], idx[valid], out[valid, ch])
    return out, nan_fraction


def clean_spectrogram(window: np.ndarray) -> np.ndarray:
    """Apply the NaN policy to organizer spectrogram power: NaN -> 0."""
    return np.nan_to_num(np.asarray(window, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
