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
import pandas as pd
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


#: a file longer than this is refused when it is read whole (a damaged or mislabelled file; the real competition's
#: longest EEG is about 57 minutes, its longest spectrogram about 5 hours); a window read stops at the rows it needs
MAX_EEG_SECONDS = 4 * 3600
MAX_SPECTROGRAM_SECONDS = 12 * 3600
_BATCH_ROWS = 65_536


def _open(path: Path, what: str, fix: str) -> tuple[pq.ParquetFile, list[str]]:
    """The parquet file and its column names; ``DataError`` when it is missing, unreadable or repeats a column."""
    if not path.is_file():
        raise DataError(f"{path}: {what} file not found; {fix}")
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: unreadable parquet ({exc}); re-download or regenerate the file") from exc
    names = pf.schema_arrow.names
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(
            f"{path}: {what} has repeated columns {repeated[:6]}; each column must appear once: "
            "re-download or regenerate the file"
        )
    return pf, names


def _read_rows(pf: pq.ParquetFile, path: Path, columns: list[str], stop: int | None, limit: int, what: str) -> pa.Table:
    """``columns`` of the first ``stop`` rows (None: every row, refused past ``limit`` rows), streamed so that a huge
    file costs no more memory than the rows asked for."""
    n = pf.metadata.num_rows
    try:
        if stop is None:
            if n > limit:
                raise DataError(
                    f"{path}: {what} has {n:,} rows, more than the {limit:,} this reader accepts "
                    "(hours more than any real recording): a damaged file? Check or cut it"
                )
            return pf.read(columns=columns)
        batches, got = [], 0
        for batch in pf.iter_batches(batch_size=max(1, min(stop, _BATCH_ROWS)), columns=columns):
            batches.append(batch)
            got += batch.num_rows
            if got >= stop:
                break
        if not batches:
            return pf.schema_arrow.empty_table().select(columns)
        return pa.Table.from_batches(batches).slice(0, stop)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: unreadable parquet ({exc}); re-download or regenerate the file") from exc


def _as_float32(table: pa.Table, columns: list[str], path: Path, what: str) -> list[np.ndarray]:
    """Each column as float32; a column of text is read with its non-numbers as missing samples (NaN), warned."""
    out, texts = [], []
    for name in columns:
        column = table.column(name)
        kind = column.type
        if pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_boolean(kind):
            out.append(column.to_numpy(zero_copy_only=False).astype(np.float32, copy=False))
            continue
        raw = pd.Series(column.to_pandas())
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = raw.notna().to_numpy() & np.isnan(values)
        if bad.any():
            texts.append(f"{name} ({int(bad.sum())} values such as {raw[bad].iloc[0]!r:.20})")
        out.append(values.astype(np.float32))
    if texts:
        log.warning(
            "%s: %s columns hold text: %s; read as missing samples (the NaN policy)", path, what, "; ".join(texts)
        )
    return out


def read_eeg(path: str | os.PathLike[str], stop: int | None = None) -> np.ndarray:
    """Raw EEG as float32 array (n_samples, 20), columns in ``EEG_CHANNELS`` order, 200 Hz; only the first ``stop``
    samples when given (the rest of the file is not read). NaN/inf kept, text read as NaN; an absent channel is all
    NaN (flat after cleaning) with a warning; no scalp channel at all is a ``DataError``."""
    path = Path(path)
    expected = f"20 columns {' '.join(EEG_CHANNELS)}"
    pf, names = _open(path, "EEG", expected)
    absent = [c for c in EEG_CHANNELS if c not in names]
    if set(SCALP_CHANNELS) <= set(absent):
        raise DataError(f"{path}: EEG has none of the scalp channels; expected {expected}")
    present = [c for c in EEG_CHANNELS if c not in absent]
    table = _read_rows(pf, path, present, stop, MAX_EEG_SECONDS * SAMPLE_RATE, "EEG")
    if table.num_rows == 0:
        raise DataError(f"{path}: EEG has no samples; the file is empty")
    if absent:
        log.warning(
            "%s: EEG lacks channel(s) %s; read as missing (flat), as a dead channel; expected %s",
            path,
            ", ".join(absent),
            expected,
        )
    columns = dict(zip(present, _as_float32(table, present, path, "EEG"), strict=True))
    empty = np.full(table.num_rows, np.nan, np.float32)
    return np.stack([columns.get(c, empty) for c in EEG_CHANNELS], axis=1)


def missing_samples(eeg: np.ndarray) -> dict[str, int]:
    """Missing (NaN or +-inf) samples per channel, for the channels that have any."""
    counts = (~np.isfinite(eeg)).sum(axis=0)
    return {EEG_CHANNELS[i]: int(counts[i]) for i in np.flatnonzero(counts)}


def read_spectrogram(path: str | os.PathLike[str], stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Organizer spectrogram: (time in s, shape (n,)), (power, float32 (n, 400) in ``SPEC_COLUMNS`` order); only the
    first ``stop`` rows in time when given. Rows out of time order are sorted, with a warning; a repeated or
    missing time is a ``DataError``; text power values are missing (NaN)."""
    path = Path(path)
    expected = "'time' + 400 columns LL_0.59 .. RP_19.92"
    pf, names = _open(path, "spectrogram", expected)
    missing = [c for c in ["time", *SPEC_COLUMNS] if c not in names]
    if missing:
        raise DataError(
            f"{path}: spectrogram lacks columns {missing[:6]}{'...' if len(missing) > 6 else ''}; expected {expected}"
        )
    limit = MAX_SPECTROGRAM_SECONDS // SPEC_SECONDS_PER_ROW
    (times,) = _as_float32(_read_rows(pf, path, ["time"], None, limit, "spectrogram"), ["time"], path, "spectrogram")
    times = times.astype(np.float64)
    if not np.isfinite(times).all() or len(np.unique(times)) < len(times):
        raise DataError(
            f"{path}: the spectrogram's time column has missing or repeated values; each row needs its "
            "own time: re-download or regenerate the file"
        )
    order = None
    if (np.diff(times) < 0).any():
        log.warning("%s: spectrogram rows are not in time order; sorted by time", path)
        order, stop = np.argsort(times, kind="stable"), None
    table = _read_rows(pf, path, list(SPEC_COLUMNS), stop, limit, "spectrogram")
    values = np.stack(_as_float32(table, list(SPEC_COLUMNS), path, "spectrogram"), axis=1)
    if order is not None:
        return times[order], values[order]
    return times[: len(values)], values


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
