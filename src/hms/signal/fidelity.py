"""How closely ``organizer_spectrogram`` reproduces the organizers' files on real EEG/spectrogram pairs.

Windows are centred on the same moment, so with EEG window start e and spectrogram window start s, EEG time t maps to
spectrogram time t - e - 25 + s + 300. Organizer rows are interpolated (in log power) to our row times, and per chain
we correlate (1) the time-averaged log spectrum and (2) the log total power over time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hms.constants import CHAIN_NAMES, EEG_TO_SPEC_SHIFT
from hms.data.signals import clean_eeg, read_eeg, read_spectrogram
from hms.signal.organizer import DEFAULT_PARAMS, OrganizerParams, organizer_spectrogram

LOG_FLOOR = 1e-2  # organizer values are rounded to 0.01


@dataclass(frozen=True)
class Pair:
    eeg: Path
    spectrogram: Path
    eeg_offset: float
    spec_offset: float


def real_pairs(sample_dir: Path) -> list[Pair]:
    """Every EEG of the real sample with its spectrogram and the offsets of its first label row."""
    train = pd.read_csv(sample_dir / "train.csv")
    pairs = []
    for eeg_path in sorted((sample_dir / "train_eegs").glob("*.parquet")):
        row = train[train["eeg_id"] == int(eeg_path.stem)].iloc[0]
        spec = sample_dir / "train_spectrograms" / f"{int(row['spectrogram_id'])}.parquet"
        pairs.append(Pair(eeg_path, spec, row["eeg_label_offset_seconds"], row["spectrogram_label_offset_seconds"]))
    test = pd.read_csv(sample_dir / "test.csv").iloc[0]
    pairs.append(
        Pair(
            sample_dir / "test_eegs" / f"{int(test['eeg_id'])}.parquet",
            sample_dir / "test_spectrograms" / f"{int(test['spectrogram_id'])}.parquet",
            0.0,
            0.0,
        )
    )
    return pairs


def pair_fidelity(
    pair: Pair, params: OrganizerParams = DEFAULT_PARAMS, margin: float = 6.0, lag: float = 0.0
) -> dict[str, np.ndarray]:
    """Per-chain Pearson r of the mean log spectrum and of the log total power over time, plus the overlap rows."""
    eeg, _ = clean_eeg(read_eeg(pair.eeg))
    ours_t, ours = organizer_spectrogram(eeg, params)
    spec_t, spec = read_spectrogram(pair.spectrogram)
    shift = -pair.eeg_offset + EEG_TO_SPEC_SHIFT + pair.spec_offset + lag
    mapped = ours_t + shift
    duration = eeg.shape[0] / 200
    keep = (ours_t >= margin) & (ours_t <= duration - margin) & (mapped >= spec_t[0]) & (mapped <= spec_t[-1])
    log_ref = np.log(np.maximum(np.nan_to_num(spec, nan=0.0), LOG_FLOOR))
    ref = np.stack([np.interp(mapped[keep], spec_t, log_ref[:, j]) for j in range(log_ref.shape[1])], axis=1)
    mine = np.log(np.maximum(ours[keep], LOG_FLOOR))
    r_spec, r_time, ratio = [], [], []
    for c in range(len(CHAIN_NAMES)):
        cols = slice(c * 100, (c + 1) * 100)
        r_spec.append(np.corrcoef(ref[:, cols].mean(axis=0), mine[:, cols].mean(axis=0))[0, 1])
        tot_ref = np.log(np.exp(ref[:, cols]).sum(axis=1))
        tot_mine = np.log(np.exp(mine[:, cols]).sum(axis=1))
        r_time.append(np.corrcoef(tot_ref, tot_mine)[0, 1])
        ratio.append(np.median(np.exp(ref[:, cols] - mine[:, cols])))
    return {
        "r_spectrum": np.array(r_spec),
        "r_power_time": np.array(r_time),
        "scale_ratio": np.array(ratio),
        "rows": np.array(int(keep.sum())),
    }


def fidelity_report(sample: Path) -> str:
    """The table ``python -m hms fidelity`` prints: per real pair, r of the time-averaged spectrum, r of the log total
    power over time and the power ratio, per chain; then the pooled time r."""
    lines = ["eeg_id       rows  r_spectrum LL/RL/LP/RP       r_power_time LL/RL/LP/RP     power ratio"]
    pooled = []
    fmt = lambda a: " ".join(f"{v:.3f}" for v in a)  # noqa: E731
    for pair in real_pairs(sample):
        r = pair_fidelity(pair)
        pooled.append(r["r_power_time"])
        lines.append(f"{pair.eeg.stem:11s} {int(r['rows']):5d}  {fmt(r['r_spectrum'])}   {fmt(r['r_power_time'])}   "
                     f"{fmt(r['scale_ratio'])}")  # fmt: skip
    allr = np.concatenate(pooled)
    lines.append(f"r_power_time over all chains: median {np.median(allr):.3f}, mean {allr.mean():.3f}, "
                 f"min {allr.min():.3f}")  # fmt: skip
    return "\n".join(lines)
