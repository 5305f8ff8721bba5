"""How much fast activity the simulator's recordings carry, against the real competition sample, same run.

Organizer spectrograms (``hms.data.stats.spectrum_shape``): per file the median over time of log10 power, the four
chains averaged; its log-log slope over 0.59-19.92 Hz and its mean above 15 Hz; median over files. Raw EEG: per
recording the first 50 s of the 19 scalp channels, the median over channels of the standard deviation (uV) and the
log-log slope of the median Welch spectrum over 1-20 Hz; median over recordings. Real: the six spectrograms and six
EEGs of ``../shared/hms_sample``; simulated: every session of a simulation's structure drawn in memory (no files).
The last line is the gap of the spectrogram slope and fast level (simulated minus real).

    python benchmarks/bench_simulator_spectrum.py [--n-patients 30 --seed 11]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from scipy.signal import welch
from tqdm.auto import tqdm

from hms.constants import SAMPLE_RATE, SCALP_CHANNELS
from hms.data.stats import spectrum_shape
from hms.paths import SHARED_SAMPLE_DIR
from hms.signal.organizer import organizer_table
from hms.synth.signals import session_signal
from hms.synth.structure import build_structure

SECONDS = 50


def eeg_shape(signal: np.ndarray) -> tuple[float, float]:
    """(median channel std in uV, Welch log-log slope 1-20 Hz) of the first 50 s of (samples, scalp channels)."""
    x = np.asarray(signal[: SECONDS * SAMPLE_RATE], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a channel that is all NaN in the window
        x = np.nan_to_num(x - np.nanmean(x, axis=0))
    f, p = welch(x.T, fs=SAMPLE_RATE, nperseg=512)
    band = (f >= 1) & (f <= 20)
    slope = np.polyfit(np.log10(f[band]), np.log10(np.median(p[:, band], axis=0)), 1)[0]
    return float(np.median(x.std(axis=0))), float(slope)


def real_figures() -> dict[str, float]:
    specs = sorted(SHARED_SAMPLE_DIR.glob("*_spectrograms/*.parquet"))
    eegs = sorted(SHARED_SAMPLE_DIR.glob("*_eegs/*.parquet"))
    if not specs or not eegs:
        raise SystemExit(f"{SHARED_SAMPLE_DIR}: the real competition sample is needed beside the checkout")
    shapes = [spectrum_shape(pd.read_parquet(p)) for p in specs]
    raw = [eeg_shape(pd.read_parquet(p)[list(SCALP_CHANNELS)].to_numpy()) for p in eegs]
    return _figures(shapes, raw, len(specs))


def simulated_figures(n_patients: int, seed: int) -> dict[str, float]:
    sessions = build_structure(n_patients, max(2, n_patients // 6), seed, None).sessions
    shapes, raw = [], []
    for plan in tqdm(sessions, desc="simulated sessions", unit="session"):
        signal = session_signal(plan)
        shapes.append(spectrum_shape(organizer_table(signal, np.int64)))
        raw.append(eeg_shape(signal[:, : len(SCALP_CHANNELS)]))
    return _figures(shapes, raw, len(sessions))


def _figures(shapes: list[dict], raw: list[tuple[float, float]], n: int) -> dict[str, float]:
    return {
        "files": n,
        "spectrogram slope": float(np.median([s["slope"] for s in shapes])),
        "spectrogram level > 15 Hz": float(np.median([s["fast_level"] for s in shapes])),
        "EEG std (uV)": float(np.median([r[0] for r in raw])),
        "EEG Welch slope": float(np.median([r[1] for r in raw])),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-patients", type=int, default=30)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    real, sim = real_figures(), simulated_figures(args.n_patients, args.seed)
    table = pd.DataFrame({"real sample": real, f"simulated ({args.n_patients} patients, seed {args.seed})": sim})
    print(table.round(3).to_string())
    gap_slope = sim["spectrogram slope"] - real["spectrogram slope"]
    gap_fast = sim["spectrogram level > 15 Hz"] - real["spectrogram level > 15 Hz"]
    print(f"gap (simulated - real): spectrogram slope {gap_slope:+.3f}, level > 15 Hz {gap_fast:+.3f}")


if __name__ == "__main__":
    main()
