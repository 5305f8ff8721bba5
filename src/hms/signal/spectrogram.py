"""EEG-derived chain spectrograms with ``torch.stft``: per chain the mean power of its bipolar pairs, log scaled.

Batched: any leading dims are kept, and the same code runs on CPU or GPU tensors.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from scipy import signal

from hms.constants import SAMPLE_RATE
from hms.signal.config import FrontEndConfig
from hms.signal.filters import decimate, filter_signals
from hms.signal.montage import bipolar


@lru_cache(maxsize=8)
def mel_filterbank(n_fft: int, n_mels: int, fmin: float, fmax: float, fs: float = SAMPLE_RATE) -> np.ndarray:
    """Triangular mel filters (HTK mel scale, area-normalised), shape (n_mels, n_fft // 2 + 1)."""
    mel = lambda f: 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)  # noqa: E731
    inv = lambda m: 700.0 * (10 ** (np.asarray(m) / 2595.0) - 1.0)  # noqa: E731
    edges = inv(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1 / fs)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lower) / (centre - lower)
    down = (upper - freqs[None]) / (upper - centre)
    bank = np.maximum(0.0, np.minimum(up, down))
    bank /= np.maximum(bank.sum(axis=1, keepdims=True), 1e-12)
    return bank.astype(np.float32)


def frequency_axis(cfg: FrontEndConfig, zoom: bool = False) -> np.ndarray:
    """Centre frequency (Hz) of each row of the spectrogram that ``chain_spectrogram`` returns (low to high)."""
    n_fft, _ = cfg.stft_lengths(zoom)
    freqs = np.fft.rfftfreq(n_fft, 1 / cfg.sample_rate)
    if cfg.freq_scale == "mel":
        bank = mel_filterbank(n_fft, cfg.n_mels, cfg.fmin_hz, cfg.fmax_hz, cfg.sample_rate)
        return (bank * freqs[None]).sum(axis=1)
    return freqs[(freqs >= cfg.fmin_hz) & (freqs <= cfg.fmax_hz)]


def decimated_pairs(eeg: np.ndarray, cfg: FrontEndConfig) -> np.ndarray:
    """Referential EEG (..., time, 20) at 200 Hz, NaN policy applied -> bipolar pairs decimated to
    ``cfg.sample_rate`` (FIR anti-alias), not yet band-passed: (..., pairs, time)."""
    return decimate(np.asarray(bipolar(np.asarray(eeg, dtype=np.float32), midline=cfg.midline)), cfg.decimate)


def band_filter(pairs: np.ndarray, cfg: FrontEndConfig) -> np.ndarray:
    """Decimated bipolar pairs -> band-passed (Butterworth, zero phase), notched and clipped, along the last axis."""
    return filter_signals(
        pairs, cfg.bandpass_hz, cfg.filter_order, cfg.notch_hz, cfg.notch_q, cfg.clip_uv, fs=cfg.sample_rate
    )


def preprocess(eeg: np.ndarray, cfg: FrontEndConfig) -> np.ndarray:
    """Referential EEG (..., time, 20) at 200 Hz, NaN policy applied -> bipolar pairs decimated to
    ``cfg.sample_rate`` (FIR anti-alias), band-passed (Butterworth, zero phase) and clipped: (..., pairs, time)."""
    return band_filter(decimated_pairs(eeg, cfg), cfg)


def stft_windows(cfg: FrontEndConfig, zoom: bool, device: torch.device) -> torch.Tensor:
    """(tapers, n_fft): the Hann window (``transform: stft``), or ``multitaper_k`` DPSS tapers of time-half-bandwidth
    ``multitaper_nw`` (``multitaper``) scaled to the Hann window's energy, so both give the same power density."""
    n_fft, _ = cfg.stft_lengths(zoom)
    if cfg.transform != "multitaper":
        return torch.hann_window(n_fft, periodic=True, dtype=torch.float32)[None].to(device)
    return dpss_tapers(n_fft, cfg.multitaper_nw, cfg.multitaper_k).to(device)


@lru_cache(maxsize=8)
def dpss_tapers(n_fft: int, nw: float, k: int) -> torch.Tensor:
    """(k, n_fft) DPSS tapers (scipy's have unit energy) scaled to the periodic Hann window's energy; computed once
    per setting (every spectrogram call reads them)."""
    hann = torch.hann_window(n_fft, periodic=True, dtype=torch.float32)
    tapers = torch.from_numpy(np.ascontiguousarray(signal.windows.dpss(n_fft, nw, k, sym=False))).float()
    return tapers.reshape(k, n_fft) * hann.square().sum().sqrt()


def stft_power(flat: torch.Tensor, cfg: FrontEndConfig, zoom: bool = False) -> torch.Tensor:
    """(series, time) -> power density (series, freqs, frames) by ``torch.stft``, averaged over the tapers."""
    n_fft, hop_length = cfg.stft_lengths(zoom)
    fs = cfg.sample_rate
    windows = stft_windows(cfg, zoom, flat.device).to(flat.dtype)
    power = None
    for window in windows:
        spec = torch.stft(
            flat,
            n_fft=n_fft,
            hop_length=hop_length,
            window=window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        p = spec.real.square() + spec.imag.square()
        power = p if power is None else power + p
    power = power / len(windows)
    freqs = np.fft.rfftfreq(n_fft, 1 / fs)
    if cfg.freq_scale == "mel":
        bank = torch.as_tensor(mel_filterbank(n_fft, cfg.n_mels, cfg.fmin_hz, cfg.fmax_hz, fs), device=flat.device)
        power = torch.einsum("mf,bft->bmt", bank.to(power.dtype), power)
    else:
        keep = np.flatnonzero((freqs >= cfg.fmin_hz) & (freqs <= cfg.fmax_hz))
        power = power[:, keep[0] : keep[-1] + 1]
    return power / (fs * windows[0].square().sum())


def cwt_power(flat: torch.Tensor, cfg: FrontEndConfig, zoom: bool = False) -> torch.Tensor:
    """(series, time) -> power (series, freqs, frames) of a continuous wavelet transform (``ptwt`` with PyWavelets'
    complex Morlet ``cwt_wavelet``) at the STFT's frequencies (:func:`frequency_axis`), averaged over each frame's hop
    and scaled so that a sinusoid gets the power the Hann STFT gives it: the images keep their log range."""
    import ptwt  # deferred: the wavelet libraries are needed only by frontend.transform: cwt
    import pywt  # deferred: as ptwt

    _, hop = cfg.stft_lengths(zoom)
    freqs = frequency_axis(cfg, zoom)
    wavelet = pywt.ContinuousWavelet(cfg.cwt_wavelet)
    scales = torch.as_tensor(pywt.frequency2scale(wavelet, freqs / cfg.sample_rate))
    gain = torch.as_tensor(cwt_gain(cfg, zoom), dtype=flat.dtype, device=flat.device)[:, None]
    n_frames = 1 + flat.shape[-1] // hop
    out = []
    for series in flat:  # one series at a time: a long recording's coefficients stay small
        coef, _ = ptwt.cwt(series[None], scales, wavelet, sampling_period=1.0 / cfg.sample_rate)  # (freqs, 1, time)
        power = (coef.real.square() + coef.imag.square())[:, 0].to(flat.dtype)
        padded = torch.nn.functional.pad(power[None], (hop // 2, hop), mode="replicate")[0]
        frames = torch.nn.functional.avg_pool1d(padded[:, None], hop, hop)[:, 0, :n_frames]  # frame j: around j hop
        out.append(frames * gain)
    return torch.stack(out)


@lru_cache(maxsize=8)
def cwt_gain(cfg: FrontEndConfig, zoom: bool) -> np.ndarray:
    """Per frequency: the Hann STFT's power density of a unit sinusoid at its bin over the CWT's power of it."""
    import ptwt  # deferred: the wavelet libraries are needed only by frontend.transform: cwt
    import pywt  # deferred: as ptwt

    n_fft, _ = cfg.stft_lengths(zoom)
    fs = cfg.sample_rate
    freqs = frequency_axis(cfg, zoom)
    wavelet = pywt.ContinuousWavelet(cfg.cwt_wavelet)
    scales = torch.as_tensor(pywt.frequency2scale(wavelet, freqs / fs))
    t = torch.arange(int(40 * fs), dtype=torch.float64) / fs
    sines = torch.sin(2 * np.pi * torch.as_tensor(freqs)[:, None] * t)  # (freqs, time): one per frequency
    coef, _ = ptwt.cwt(sines, scales, wavelet, sampling_period=1.0 / fs)  # (freqs, sines, time)
    middle = slice(int(10 * fs), int(30 * fs))
    own = (coef.abs().square()[:, :, middle].mean(-1)).diagonal().numpy()
    hann = np.hanning(n_fft + 1)[:-1]
    stft_unit = (hann.sum() / 2) ** 2 / (fs * np.square(hann).sum())
    return (stft_unit / own).astype(np.float32)


def chain_power(pairs: torch.Tensor, cfg: FrontEndConfig, zoom: bool = False) -> torch.Tensor:
    """Preprocessed bipolar signals at ``cfg.sample_rate`` (..., 16 or 18, time) -> log power per chain
    (..., 4 or 5, freqs, frames); frame j is centred on sample j * hop."""
    lead = pairs.shape[:-2]
    flat = pairs.reshape(-1, pairs.shape[-1])
    power = cwt_power(flat, cfg, zoom) if cfg.transform == "cwt" else stft_power(flat, cfg, zoom)
    n_pairs = pairs.shape[-2]
    power = power.reshape(*lead, n_pairs, power.shape[-2], power.shape[-1])
    chains = [power[..., 4 * c : 4 * c + 4, :, :].mean(dim=-3) for c in range(4)]
    if n_pairs > 16:  # midline pairs form a fifth "chain"
        chains.append(power[..., 16:, :, :].mean(dim=-3))
    return torch.log(torch.stack(chains, dim=-3).clamp_min(1e-8))


def chain_spectrogram(pairs: np.ndarray | torch.Tensor, cfg: FrontEndConfig, zoom: bool = False) -> torch.Tensor:
    """Preprocessed bipolar signals (..., pairs, time) -> log power (..., chains, freqs, frames).

    ``zoom`` uses the short window and hop of the zoomed view (apply it to the central 10 s).
    """
    x = pairs.float() if isinstance(pairs, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(pairs, np.float32))
    return chain_power(x, cfg, zoom)
