"""Organizer-style 10-minute spectrograms: per chain, the average power spectrum of its four bipolar pairs,
one row every 2 s, 100 bins from 0.59 to 19.92 Hz (bins 3..102 of a 1024-point FFT at 200 Hz).

Computed with ``torch.stft`` so the simulator, ``hms spectrogram`` and training share one batched implementation.
Each row averages the power of the STFT frames whose centres lie within ``span_seconds`` around the row centre
(Welch-style); ``span_seconds`` = ``window_seconds`` means a single frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hms.constants import SAMPLE_RATE, SPEC_BINS, SPEC_COLUMNS, SPEC_NFFT, SPEC_SECONDS_PER_ROW
from hms.data.errors import DataError
from hms.data.signals import clean_eeg, read_eeg
from hms.io import write_parquet
from hms.signal.montage import bipolar


@dataclass(frozen=True)
class OrganizerParams:
    window_seconds: float = SPEC_NFFT / SAMPLE_RATE  # Hann window, zero-padded to nfft (5.12 s = no padding)
    span_seconds: float = 8.12  # frames averaged per row: 7 Hann windows, centres within +-1.5 s (fitted)
    frame_hop_seconds: float = 0.5  # hop between averaged frames (must divide 2 s)
    scale: float = 1.0  # multiplies the power

    def __post_init__(self) -> None:
        if self.span_seconds < self.window_seconds:
            raise ValueError("span_seconds must be at least window_seconds")
        per_row = SPEC_SECONDS_PER_ROW / self.frame_hop_seconds
        if abs(per_row - round(per_row)) > 1e-9:
            raise ValueError("frame_hop_seconds must divide the 2 s row step")


DEFAULT_PARAMS = OrganizerParams()


def n_rows(n_samples: int) -> int:
    """Rows of 2 s that fit the recording: row i covers [2i, 2i + 2) s, centre 2i + 1."""
    return int(n_samples // (SPEC_SECONDS_PER_ROW * SAMPLE_RATE))


def organizer_spectrogram(
    eeg: np.ndarray | torch.Tensor, params: OrganizerParams = DEFAULT_PARAMS
) -> tuple[np.ndarray, np.ndarray]:
    """Referential EEG (time, 20) with NaN already handled -> (row centre times in s, power float32 (rows, 400)).

    Works on a batch too: (batch, time, 20) -> power (batch, rows, 400).
    """
    x = eeg if isinstance(eeg, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(eeg, dtype=np.float32))
    pairs = bipolar(x.to(torch.float32))  # (..., 16, time)
    rows = n_rows(pairs.shape[-1])
    hop = int(round(params.frame_hop_seconds * SAMPLE_RATE))
    win = int(round(params.window_seconds * SAMPLE_RATE))
    row_step = SPEC_SECONDS_PER_ROW * SAMPLE_RATE
    window = torch.hann_window(win, periodic=True, dtype=torch.float32, device=pairs.device)
    pairs = pairs - pairs.mean(dim=-1, keepdim=True)
    batch_shape = pairs.shape[:-2]
    # frames centred at sample row_step/2 + j * hop, so that every row centre (2i + 1 s) is a frame centre
    flat = pairs[..., row_step // 2 :].reshape(-1, pairs.shape[-1] - row_step // 2)
    stft = torch.stft(
        flat,
        n_fft=SPEC_NFFT,
        hop_length=hop,
        win_length=win,
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )  # (B*16, freqs, frames)
    power = stft[:, SPEC_BINS[0] : SPEC_BINS[-1] + 1].abs().square()
    power = power / (SAMPLE_RATE * window.square().sum())  # two-sided PSD in uV^2/Hz: matches the organizer files
    power = power.reshape(-1, 4, 4, power.shape[-2], power.shape[-1]).mean(dim=2)  # (B, 4 chains, 100, frames)
    half = int(np.floor((params.span_seconds - params.window_seconds) / 2 / params.frame_hop_seconds + 1e-9))
    if half > 0:
        padded = torch.nn.functional.pad(power.flatten(0, 1), (half, half), mode="replicate")
        power = padded.unfold(-1, 2 * half + 1, 1).mean(dim=-1).reshape(power.shape)
    frame_idx = torch.arange(rows, device=power.device) * (row_step // hop)
    out = power[..., frame_idx] * params.scale  # (B, 4, 100, rows)
    values = out.permute(0, 3, 1, 2).reshape(*batch_shape, rows, -1).cpu().numpy().astype(np.float32)
    times = np.arange(rows) * SPEC_SECONDS_PER_ROW + SPEC_SECONDS_PER_ROW // 2
    return times, values


def organizer_table(raw_eeg: np.ndarray, time_dtype: type = np.int64, params: OrganizerParams = DEFAULT_PARAMS):
    """Raw referential EEG (time, 20), NaN allowed -> a DataFrame in the organizers' exact file format:
    ``time`` (row centres in s from the EEG start, every 2 s) + 400 float32 columns rounded to 0.01.
    Rows whose 2 s span is entirely missing are NaN, as in the organizer files."""
    clean, _ = clean_eeg(raw_eeg)
    times, power = organizer_spectrogram(clean, params)
    per_row = SPEC_SECONDS_PER_ROW * SAMPLE_RATE
    scalp = raw_eeg[: len(times) * per_row, :-1]
    missing = np.isnan(scalp).all(axis=1).reshape(len(times), per_row).any(axis=1)
    power = np.round(power, 2).astype(np.float32)
    power[missing] = np.nan
    table = pd.DataFrame(power, columns=list(SPEC_COLUMNS))
    table.insert(0, "time", times.astype(time_dtype))
    return table


def write_organizer_parquet(eeg_path: Path, out: Path) -> pd.DataFrame:
    """``python -m hms spectrogram``: an organizer-format spectrogram of a raw EEG parquet (>= 10 s)."""
    eeg = read_eeg(eeg_path)
    if eeg.shape[0] < 10 * SAMPLE_RATE:
        raise DataError(f"{eeg_path}: EEG is {eeg.shape[0] / SAMPLE_RATE:g} s long; hms spectrogram needs >= 10 s")
    table = organizer_table(eeg)
    write_parquet(table, out)
    return table
