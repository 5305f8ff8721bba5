"""Hand-made band-power features ("hand" in the stacker): log band powers per chain of the EEG window (whole 50 s and
central 10 s) and of the organizer window, plus left-right asymmetries. Computed with the shared front-end (montage,
filters) and scipy's Welch PSD."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import signal
from tqdm.auto import tqdm

from hms.constants import CHAIN_NAMES, LABEL_CENTRE_SECONDS, SPEC_FREQS
from hms.data import Competition, DataError
from hms.signal.config import FrontEndConfig
from hms.signal.spectrogram import preprocess

BANDS: dict[str, tuple[float, float]] = {
    "delta1": (0.5, 2),
    "delta2": (2, 4),
    "theta": (4, 8),
    "alpha": (8, 13),
    "beta": (13, 20),
}


def _band_log_power(freqs: np.ndarray, psd: np.ndarray) -> np.ndarray:
    """psd (..., freqs) -> (..., bands) log of the mean power in each band."""
    out = [np.log(psd[..., (freqs >= lo) & (freqs < hi)].mean(axis=-1) + 1e-6) for lo, hi in BANDS.values()]
    return np.stack(out, axis=-1)


def window_band_powers(eeg: np.ndarray | None, organizer: np.ndarray | None, cfg: FrontEndConfig) -> dict[str, float]:
    feats: dict[str, float] = {}
    if eeg is not None:
        pairs = preprocess(eeg, cfg)  # (16, time) at cfg.sample_rate
        fs = cfg.sample_rate
        half = int(LABEL_CENTRE_SECONDS * fs / 2)
        mid = pairs.shape[-1] // 2
        for view, x in (("eeg50", pairs), ("eeg10", pairs[:, mid - half : mid + half])):
            freqs, psd = signal.welch(x, fs=fs, nperseg=int(2 * fs), axis=-1)
            chains = _band_log_power(freqs, psd.reshape(4, 4, -1).mean(axis=1))  # (4 chains, bands)
            for c, chain in enumerate(CHAIN_NAMES):
                for b, band in enumerate(BANDS):
                    feats[f"{view}_{chain}_{band}"] = float(chains[c, b])
            for b, band in enumerate(BANDS):
                feats[f"{view}_asym_lat_{band}"] = float(chains[0, b] - chains[1, b])
                feats[f"{view}_asym_par_{band}"] = float(chains[2, b] - chains[3, b])
    if organizer is not None:
        freqs = np.asarray(SPEC_FREQS)
        power = organizer.reshape(organizer.shape[0], 4, 100)
        mid = power.shape[0] // 2
        for view, rows in (("org600", power), ("org10", power[mid - 3 : mid + 2])):
            chains = _band_log_power(freqs, rows.mean(axis=0))
            for c, chain in enumerate(CHAIN_NAMES):
                for b, band in enumerate(BANDS):
                    feats[f"{view}_{chain}_{band}"] = float(chains[c, b])
    return feats


def table_band_powers(comp: Competition, rows: pd.DataFrame, cfg: FrontEndConfig, split: str = "train") -> pd.DataFrame:
    """One feature row per label row (NaN where a modality is missing: LightGBM handles it)."""
    records = []
    for row in tqdm(rows.to_dict("records"), desc="band powers", unit="window"):
        eeg = spec = None
        try:
            eeg, _ = comp.clean_eeg_window(row, split)
        except DataError:
            pass
        try:
            spec = comp.clean_spectrogram_window(row, split)
        except DataError:
            pass
        records.append(window_band_powers(eeg, spec, cfg))
    return pd.DataFrame(records, index=rows.index)
