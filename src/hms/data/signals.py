"""EEG and spectrogram parquet readers, label-window extraction, and the one NaN policy.

NaN policy (real EEGs have NaN stretches and all-NaN channels). A *missing* sample is NaN or +-inf: both are treated
the same way everywhere (training, ``prepare``, ``submission.py``).
  * EEG: inside a window, each channel's missing samples are linearly interpolated from its nearest valid samples
    (held constant before the first / after the last valid sample); a channel with no valid sample in the window
    becomes flat zero. ``clean_eeg`` returns the per-channel missing fraction so callers can flag bad windows; an
    EEG whose 19 scalp channels are all missing has no EEG modality (the model uses the spectrogram alone).
  * A channel absent from the file (a renamed or dropped column) is read as all-missing, i.e. flat, with a warning
    naming it; a file without any scalp channel is an error.
  * Organizer spectrogram: missing power becomes 0 (no power), before any log transform.
Readers never fill anything but absent channels: they return the file's values so tests and plots can see the raw
data; ``missing_samples`` counts the missing samples per channel.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hms.constants import (
    EEG_CHANNELS,
    EEG_WINDOW_SAMPLES,
    SAMPLE_RATE,
    SCALP_CHANNELS,
    SPEC_COLUMNS,
    SPEC_SECONDS_PER_ROW,
    SPEC_WINDOW_ROWS,
)
from hms.data.errors import DataError

log = logging.getLogger(__name__)


def _read_table(path: Path, columns: list[str], what: str, fix: str, optional: tuple[str, ...] = ()) -> pa.Table:
    """The file's ``columns``; those of ``optional`` may be absent (left out of the table)."""
    if not path.is_file():
        raise DataError(f"{path}: {what} file not found; {fix}")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: unreadable parquet ({exc}); re-download or regenerate the file") from exc
    missing = [c for c in columns if c not in schema.names and c not in optional]
    columns = [c for c in columns if c in schema.names]
    if missing:
        raise DataError(
            f"{path}: {what} lacks columns {missing[:6]}{'...' if len(missing) > 6 else ''}; expected {fix}"
        )
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: unreadable parquet ({exc}); re-download or regenerate the file") from exc


def read_eeg(path: str | os.PathLike[str]) -> np.ndarray:
    """Raw EEG as float32 array (n_samples, 20), columns in ``EEG_CHANNELS`` order, 200 Hz. NaN/inf kept; an absent
    channel is all NaN (flat after cleaning) with a warning; no scalp channel at all is a ``DataError``."""
    path = Path(path)
    expected = f"20 columns {' '.join(EEG_CHANNELS)}"
    table = _read_table(path, list(EEG_CHANNELS), "EEG", expected, optional=EEG_CHANNELS)
    absent = [c for c in EEG_CHANNELS if c not in table.column_names]
    if set(SCALP_CHANNELS) <= set(absent):
        raise DataError(f"{path}: EEG has none of the scalp channels; expected {expected}")
    if table.num_rows == 0:
        raise DataError(f"{path}: EEG has no samples; the file is empty")
    if absent:
        log.warning("%s: EEG lacks channel(s) %s; read as missing (flat), as a dead channel; expected %s", path,
                    ", ".join(absent), expected)  # fmt: skip
    empty = np.full(table.num_rows, np.nan, np.float32)
    data = np.stack([table.column(c).to_numpy(zero_copy_only=False) if c not in absent else empty
                     for c in EEG_CHANNELS], axis=1)  # fmt: skip
    return data.astype(np.float32, copy=False)


def missing_samples(eeg: np.ndarray) -> dict[str, int]:
    """Missing (NaN or +-inf) samples per channel, for the channels that have any."""
    counts = (~np.isfinite(eeg)).sum(axis=0)
    return {EEG_CHANNELS[i]: int(counts[i]) for i in np.flatnonzero(counts)}


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
    """Apply the NaN policy to an EEG window (n, channels): NaN and +-inf are missing samples. Returns (clean float32
    copy, missing fraction per channel)."""
    out = np.array(window, dtype=np.float32, copy=True)
    nan = ~np.isfinite(out)
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
