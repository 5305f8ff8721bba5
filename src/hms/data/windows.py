"""Moving a label row's windows in time: the one place a window shift is defined (training augmentation of every
family, and the time-shifted activations of the SAE). A shift moves the EEG window and, when given, the spectrogram
window by the same number of seconds, and is allowed only when both stay inside their recordings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hms.constants import EEG_WINDOW_SECONDS

EEG_OFFSET = "eeg_label_offset_seconds"
SPEC_OFFSET = "spectrogram_label_offset_seconds"


def allowed_shifts(row: dict, max_shift: int, step: int, eeg_last: float, spec_last: float | None = None) -> list[int]:
    """Shifts d in [-max_shift, max_shift] (multiples of ``step`` seconds) that keep the EEG window's start in [0,
    ``eeg_last``] and, with ``spec_last``, the spectrogram window's start in [0, ``spec_last``]."""
    e0 = row[EEG_OFFSET]
    s0 = row[SPEC_OFFSET] if spec_last is not None else None
    return [
        d
        for d in range(-max_shift, max_shift + 1, step)
        if 0 <= e0 + d <= eeg_last and (s0 is None or 0 <= s0 + d <= spec_last)
    ]


def shifted(row: dict, d: float, spectrogram: bool = True) -> dict:
    """The row with its EEG window (and its spectrogram window) moved by ``d`` seconds."""
    moved = {EEG_OFFSET: row[EEG_OFFSET] + d}
    if spectrogram:
        moved[SPEC_OFFSET] = row[SPEC_OFFSET] + d
    return row | moved


def random_shift(
    row: dict, rng: np.random.Generator, max_shift: int, step: int, eeg_last: float, spec_last: float | None = None
) -> dict:
    """The row moved by a shift drawn uniformly from :func:`allowed_shifts` (unchanged when none fits)."""
    choices = allowed_shifts(row, max_shift, step, eeg_last, spec_last)
    if not choices:
        return row
    return shifted(row, int(rng.choice(choices)), spectrogram=spec_last is not None)


def shifted_table(rows: pd.DataFrame, shift: float, eeg_seconds: dict[int, float]) -> pd.DataFrame:
    """:func:`shifted` for a whole table: the rows moved by ``shift`` whose EEG window stays inside its recording
    (``eeg_seconds``: eeg_id -> length) and whose spectrogram window does not start before its file (one that runs
    past its end shows up as a problem of the row, dropped by the caller)."""
    out = rows.copy()
    out[EEG_OFFSET] += shift
    out[SPEC_OFFSET] += shift
    fits = (
        (out[EEG_OFFSET] >= 0)
        & (out[SPEC_OFFSET] >= 0)
        & (out[EEG_OFFSET] + EEG_WINDOW_SECONDS <= out["eeg_id"].map(eeg_seconds))
    )
    return out[fits].reset_index(drop=True)
