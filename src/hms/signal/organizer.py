"""Organizer-style 10-minute spectrograms: per chain, the average power spectrum of its four bipolar pairs,
one row every 2 s, 100 bins from 0.59 to 19.92 Hz (bins 3..102 of a 1024-point FFT at 200 Hz).

Computed with ``torch.stft`` so the simulator, ``hms spectrogram`` and training share one batched implementation.
Each row averages the STFT frames whose windows lie within ``span_seconds`` around the row centre (Welch-style, here
as a geometric mean of the chain power); ``span_seconds`` = ``window_seconds`` means a single frame. The recipe was
chosen by leave-one-file-out over the six real pairs (``hms.signal.fidelity``).
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

TAPERS = {"hann": torch.hann_window, "hamming": torch.hamming_window, "blackman": torch.blackman_window}
AVERAGES = ("power", "amplitude", "log")  # what is averaged over the frames of a row


@dataclass(frozen=True)
class OrganizerParams:
    """The recipe. The defaults are the leave-one-file-out choice over the six real pairs (``hms fidelity``,
    ``docs/results.md``); a window longer than 5.12 s uses a longer FFT and keeps the organizers' 100 bins."""

    window_seconds: float = 7.0  # taper length (5.12 s = the 1024-point FFT; longer uses a 2048-point FFT)
    span_seconds: float = 10.0  # frames whose windows lie within this span around the row centre are averaged
    frame_hop_seconds: float = 0.5  # hop between averaged frames (must divide 2 s)
    scale: float = 1.09  # multiplies the power: the geometric mean runs ~9% below the organizers (median ratio)
    taper: str = "hann"  # hann | hamming | blackman
    average: str = "log"  # power | amplitude | log: the frames of a row are averaged as this (log: geometric mean)
    chain_first: bool = True  # average the chain's four pairs before (True) or after the frames of a row

    def __post_init__(self) -> None:
        if self.span_seconds < self.window_seconds:
            raise ValueError("span_seconds must be at least window_seconds")
        if self.taper not in TAPERS or self.average not in AVERAGES:
            raise ValueError(f"taper must be one of {list(TAPERS)} and average one of {list(AVERAGES)}")
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
    window = TAPERS[params.taper](win, periodic=True, dtype=torch.float32, device=pairs.device)
    m = -(-win // SPEC_NFFT)  # a longer window -> an m-times longer FFT; every m-th bin is an organizer bin
    pairs = pairs - pairs.mean(dim=-1, keepdim=True)
    batch_shape = pairs.shape[:-2]
    # frames centred at sample row_step/2 + j * hop, so that every row centre (2i + 1 s) is a frame centre
    flat = pairs[..., row_step // 2 :].reshape(-1, pairs.shape[-1] - row_step // 2)
    stft = torch.stft(
        flat,
        n_fft=SPEC_NFFT * m,
        hop_length=hop,
        win_length=win,
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )  # (B*16, freqs, frames)
    power = stft[:, SPEC_BINS[0] * m : SPEC_BINS[-1] * m + 1 : m].abs().square()
    power = power / (SAMPLE_RATE * window.square().sum())  # two-sided PSD in uV^2/Hz: matches the organizer files
    power = power.reshape(-1, 4, 4, power.shape[-2], power.shape[-1])  # (B, 4 chains, 4 pairs, 100, frames)
    if params.chain_first:
        power = power.mean(dim=2, keepdim=True)
    half = int(np.floor((params.span_seconds - params.window_seconds) / 2 / params.frame_hop_seconds + 1e-9))
    if half > 0:
        power = _average_frames(power, half, params.average)
    power = power.mean(dim=2)  # (B, 4 chains, 100, frames)
    frame_idx = torch.arange(rows, device=power.device) * (row_step // hop)
    out = power[..., frame_idx] * params.scale  # (B, 4, 100, rows)
    values = out.permute(0, 3, 1, 2).reshape(*batch_shape, rows, -1).cpu().numpy().astype(np.float32)
    times = np.arange(rows) * SPEC_SECONDS_PER_ROW + SPEC_SECONDS_PER_ROW // 2
    return times, values


def _average_frames(power: torch.Tensor, half: int, average: str) -> torch.Tensor:
    """Mean over the 2*half + 1 frames around each frame (edges replicated), of the power, its square root or its
    logarithm, mapped back to power."""
    if average == "amplitude":
        values = power.sqrt()
    elif average == "log":
        values = torch.log(power + 1e-12)
    else:
        values = power
    padded = torch.nn.functional.pad(values.flatten(0, -2), (half, half), mode="replicate")
    mean = padded.unfold(-1, 2 * half + 1, 1).mean(dim=-1).reshape(values.shape)
    if average == "amplitude":
        return mean.square()
    return torch.exp(mean) if average == "log" else mean


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
