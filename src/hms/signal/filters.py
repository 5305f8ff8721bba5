"""Zero-phase filters: FIR anti-alias decimation (scipy firwin, strided conv), Butterworth band-pass and notch
(scipy sos + sosfiltfilt), and amplitude clipping."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from scipy import signal

from hms.constants import SAMPLE_RATE


@lru_cache(maxsize=32)
def filter_sos(
    bandpass_hz: tuple[float, float], order: int, notch_hz: float | None, notch_q: float, fs: float = SAMPLE_RATE
) -> np.ndarray:
    """Second-order sections of the band-pass (Butterworth) followed by the mains notch."""
    sos = signal.butter(order, bandpass_hz, btype="bandpass", fs=fs, output="sos")
    if notch_hz is not None and notch_hz < fs / 2:
        b, a = signal.iirnotch(notch_hz, notch_q, fs=fs)
        sos = np.vstack([sos, signal.tf2sos(b, a)])
    return sos


@lru_cache(maxsize=8)
def antialias_taps(factor: int, fs: int = SAMPLE_RATE, n_taps_per_factor: int = 12) -> torch.Tensor:
    """Linear-phase low-pass for decimation by ``factor``: cutoff 0.9 x the new Nyquist (22.5 Hz for 200 -> 50 Hz)."""
    n_taps = n_taps_per_factor * factor + 1
    taps = signal.firwin(n_taps, 0.9 * fs / (2 * factor), fs=fs)
    return torch.tensor(taps, dtype=torch.float32).view(1, 1, -1)


def decimate(x: np.ndarray, factor: int) -> np.ndarray:
    """Zero-phase FIR low-pass and keep every ``factor``-th sample along the last axis (output k <-> input k*factor)."""
    if factor == 1:
        return np.asarray(x, dtype=np.float32)
    taps = antialias_taps(factor)
    half = taps.shape[-1] // 2
    flat = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(1, -1, x.shape[-1])
    mode = "reflect" if x.shape[-1] > half else "replicate"
    padded = torch.nn.functional.pad(flat, (half, half), mode=mode)
    # one depthwise convolution over all series (series as channels: the fast path in torch)
    weight = taps.expand(flat.shape[1], 1, taps.shape[-1]).contiguous()
    out = torch.nn.functional.conv1d(padded, weight, stride=factor, groups=flat.shape[1])
    return out.reshape(*x.shape[:-1], out.shape[-1]).numpy()


def filter_signals(
    x: np.ndarray,
    bandpass_hz: tuple[float, float] = (0.5, 40.0),
    order: int = 4,
    notch_hz: float | None = None,
    notch_q: float = 30.0,
    clip_uv: float | None = 1024.0,
    fs: int | float = SAMPLE_RATE,
) -> np.ndarray:
    """Filter along the last axis (time) at ``fs`` Hz, zero phase, then clip to +-clip_uv. Float32 out."""
    sos = filter_sos(tuple(bandpass_hz), order, notch_hz, notch_q, fs).astype(np.float32)
    padlen = min(x.shape[-1] - 1, 3 * (2 * len(sos) + 1))
    y = signal.sosfiltfilt(sos, np.asarray(x, dtype=np.float32), axis=-1, padlen=padlen)
    if clip_uv is not None:
        np.clip(y, -clip_uv, clip_uv, out=y)
    return y.astype(np.float32, copy=False)
