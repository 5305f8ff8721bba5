"""Statistics of a train.csv, the same code for the real and the simulated one (the simulator is judged by them)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from hms.constants import (
    CHAIN_NAMES,
    CLASSES,
    EEG_WINDOW_SECONDS,
    GOLDEN_MIN_VOTES,
    SPEC_COLUMNS,
    SPEC_FREQS,
    SPEC_WINDOW_SECONDS,
    VOTE_COLS,
)
from hms.data.labels import total_votes, vote_probabilities
from hms.data.tables import read_train_csv


def _q(series: pd.Series, qs: tuple[float, ...]) -> dict[str, float]:
    return {f"p{int(q * 100)}": float(series.quantile(q)) for q in qs}


def describe_train(train: pd.DataFrame) -> dict[str, object]:
    """Structure and label statistics. EEG length is taken as the last label offset + 50 s and spectrogram length as
    the last spectrogram offset + 600 s (exact on the real files in the sample)."""
    totals = total_votes(train)
    probs = vote_probabilities(train)
    unanimous = probs.max(axis=1) == 1.0
    high = (totals >= GOLDEN_MIN_VOTES).to_numpy()
    by_eeg = train.groupby("eeg_id")
    stats: dict[str, object] = {
        "rows": len(train),
        "eeg_ids": int(train["eeg_id"].nunique()),
        "spectrogram_ids": int(train["spectrogram_id"].nunique()),
        "patients": int(train["patient_id"].nunique()),
        "rows_per_eeg": _q(by_eeg.size(), (0.5, 0.75, 0.9, 0.99)),
        "eegs_per_patient": _q(train.groupby("patient_id")["eeg_id"].nunique(), (0.5, 0.9)),
        "eeg_length_s": _q(by_eeg["eeg_label_offset_seconds"].max() + EEG_WINDOW_SECONDS, (0.5, 0.75, 0.9)),
        "spectrogram_length_s": _q(
            train.groupby("spectrogram_id")["spectrogram_label_offset_seconds"].max() + SPEC_WINDOW_SECONDS, (0.5,)
        ),
        "repeat_row_share": float(train.duplicated(["eeg_id", *VOTE_COLS]).mean()),
        "low_vote_row_share": float((totals <= 7).mean()),
        "high_vote_row_share": float(high.mean()),
        "low_vote_mode": int(totals[~high].mode().iloc[0]) if (~high).any() else 0,
        "low_unanimous_share": float(unanimous[~high].mean()) if (~high).any() else float("nan"),
        "high_unanimous_share": float(unanimous[high].mean()) if high.any() else float("nan"),
        "low_mean_target": dict(zip(CLASSES, np.round(probs[~high].mean(axis=0), 3).tolist(), strict=True)),
        "high_mean_target": dict(zip(CLASSES, np.round(probs[high].mean(axis=0), 3).tolist(), strict=True)),
    }
    return stats


def compare_table(sim: dict[str, object], real: dict[str, object]) -> pd.DataFrame:
    """Flatten two ``describe_train`` dicts side by side."""

    def flat(d: dict[str, object], prefix: str = "") -> dict[str, object]:
        out: dict[str, object] = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    a, b = flat(sim), flat(real)
    return pd.DataFrame({"simulated": pd.Series(a), "real": pd.Series(b)})


def real_comparison(train_csv: str | Path, real: dict[str, object]) -> pd.DataFrame:
    """``python -m hms stats``: a train.csv's statistics beside the real competition's (``real``)."""
    table = compare_table(describe_train(read_train_csv(train_csv)), {})
    table["real"] = pd.Series(real)
    return table


#: the organizer spectrograms' frequencies above which :func:`spectrum_shape` averages the fast level (Hz)
FAST_HZ = 15.0


def spectrum_shape(spectrogram: pd.DataFrame) -> dict[str, float]:
    """The shape of one organizer-format spectrogram (``time`` + the 400 chain x frequency columns): the median over
    time of log10 power averaged over the four chains, then its slope against log10 frequency (0.59-19.92 Hz) and its
    mean above :data:`FAST_HZ` — how much fast activity a recording carries (the simulator is checked against the
    real files with it)."""
    freqs = np.asarray(SPEC_FREQS)
    chains = [
        spectrogram[[f"{chain}_{c.split('_', 1)[1]}" for c in SPEC_COLUMNS[: len(freqs)]]] for chain in CHAIN_NAMES
    ]
    logs = np.stack([np.log10(np.clip(c.to_numpy(dtype=float), 1e-10, None)) for c in chains])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames of a recording's gaps
        profile = np.nanmedian(np.nanmean(logs, axis=0), axis=0)
    ok = np.isfinite(profile)
    slope = float(np.polyfit(np.log10(freqs[ok]), profile[ok], 1)[0]) if ok.sum() > 2 else float("nan")
    return {"slope": slope, "fast_level": float(np.nanmean(profile[freqs > FAST_HZ]))}
