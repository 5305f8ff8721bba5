"""The one owner of every competition constant: classes, channels, chains, sample rate, spectrogram layout."""

from __future__ import annotations

import math

# ---- labels -------------------------------------------------------------------------------------------------------
CLASSES: tuple[str, ...] = ("seizure", "lpd", "gpd", "lrda", "grda", "other")
#: train.csv / submission column per class, in the competition's order
VOTE_COLS: tuple[str, ...] = tuple(f"{c}_vote" for c in CLASSES)
#: expert_consensus strings as written in train.csv, same order as CLASSES
CONSENSUS_NAMES: tuple[str, ...] = ("Seizure", "LPD", "GPD", "LRDA", "GRDA", "Other")
N_CLASSES = len(CLASSES)
#: an eeg_id is "golden" (high quality) when its first label row has at least this many votes
GOLDEN_MIN_VOTES = 10

# ---- raw EEG ------------------------------------------------------------------------------------------------------
SAMPLE_RATE = 200  # Hz
EEG_CHANNELS: tuple[str, ...] = (
    "Fp1",
    "F3",
    "C3",
    "P3",
    "F7",
    "T3",
    "T5",
    "O1",
    "Fz",
    "Cz",
    "Pz",
    "Fp2",
    "F4",
    "C4",
    "P4",
    "F8",
    "T4",
    "T6",
    "O2",
    "EKG",
)
SCALP_CHANNELS: tuple[str, ...] = EEG_CHANNELS[:-1]
EEG_WINDOW_SECONDS = 50
EEG_WINDOW_SAMPLES = EEG_WINDOW_SECONDS * SAMPLE_RATE  # 10,000
#: the label describes the central 10 s of the 50 s window
LABEL_CENTRE_SECONDS = 10

# ---- double-banana montage ----------------------------------------------------------------------------------------
CHAINS: dict[str, tuple[tuple[str, str], ...]] = {
    "LL": (("Fp1", "F7"), ("F7", "T3"), ("T3", "T5"), ("T5", "O1")),
    "RL": (("Fp2", "F8"), ("F8", "T4"), ("T4", "T6"), ("T6", "O2")),
    "LP": (("Fp1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1")),
    "RP": (("Fp2", "F4"), ("F4", "C4"), ("C4", "P4"), ("P4", "O2")),
}
CHAIN_NAMES: tuple[str, ...] = tuple(CHAINS)
MIDLINE_PAIRS: tuple[tuple[str, str], ...] = (("Fz", "Cz"), ("Cz", "Pz"))
#: left <-> right chain swap (hemisphere flip)
MIRROR_CHAINS: dict[str, str] = {"LL": "RL", "RL": "LL", "LP": "RP", "RP": "LP"}
LEFT_CHAINS: tuple[str, ...] = ("LL", "LP")
RIGHT_CHAINS: tuple[str, ...] = ("RL", "RP")
LEFT_CHANNELS: tuple[str, ...] = ("Fp1", "F3", "C3", "P3", "F7", "T3", "T5", "O1")
RIGHT_CHANNELS: tuple[str, ...] = ("Fp2", "F4", "C4", "P4", "F8", "T4", "T6", "O2")
MIDLINE_CHANNELS: tuple[str, ...] = ("Fz", "Cz", "Pz")

# ---- organizer spectrograms ---------------------------------------------------------------------------------------
SPEC_WINDOW_SECONDS = 600
SPEC_SECONDS_PER_ROW = 2
SPEC_WINDOW_ROWS = SPEC_WINDOW_SECONDS // SPEC_SECONDS_PER_ROW  # 300
SPEC_NFFT = 1024  # 5.12 s at 200 Hz: bin k sits at k * 200 / 1024 Hz
SPEC_BINS: tuple[int, ...] = tuple(range(3, 103))  # 0.59 .. 19.92 Hz, 100 bins
SPEC_FREQS: tuple[float, ...] = tuple(k * SAMPLE_RATE / SPEC_NFFT for k in SPEC_BINS)


def _freq_label(f: float) -> str:
    # The organizers round half up to 2 decimals and drop trailing zeros: 3.125 -> "3.13", 4.1015625 -> "4.1"
    return repr(math.floor(f * 100 + 0.5) / 100)


SPEC_COLUMNS: tuple[str, ...] = tuple(f"{chain}_{_freq_label(f)}" for chain in CHAIN_NAMES for f in SPEC_FREQS)
#: centred-window relation: EEG time t (s from EEG start, window start e) <-> spectrogram time t - e - 25 + s + 300
EEG_TO_SPEC_SHIFT = SPEC_WINDOW_SECONDS // 2 - EEG_WINDOW_SECONDS // 2  # 275

# ---- competition layout -------------------------------------------------------------------------------------------
KAGGLE_DATA_DIR = "/kaggle/input/hms-harmful-brain-activity-classification"
TRAIN_COLUMNS: tuple[str, ...] = (
    "eeg_id",
    "eeg_sub_id",
    "eeg_label_offset_seconds",
    "spectrogram_id",
    "spectrogram_sub_id",
    "spectrogram_label_offset_seconds",
    "label_id",
    "patient_id",
    "expert_consensus",
    *VOTE_COLS,
)
TEST_COLUMNS: tuple[str, ...] = ("spectrogram_id", "eeg_id", "patient_id")
SUBMISSION_COLUMNS: tuple[str, ...] = ("eeg_id", *VOTE_COLS)
