"""Facts the simulator reproduces, measured on the real train.csv (106,645 rows; see the README's table)."""

from __future__ import annotations

import numpy as np

from hms.constants import CLASSES

#: rows per vote count, low-vote annotator population (1-7 votes)
LOW_VOTE_COUNTS = {1: 4329, 2: 2313, 3: 51801, 4: 3435, 5: 3973, 6: 883, 7: 3}
#: rows per vote count, high-vote annotator population (10-28 votes)
HIGH_VOTE_COUNTS = {
    10: 1144,
    11: 2602,
    12: 4352,
    13: 7524,
    14: 3867,
    15: 10662,
    16: 5186,
    17: 1445,
    18: 1933,
    19: 250,
    20: 632,
    21: 179,
    22: 54,
    23: 24,
    24: 17,
    25: 20,
    26: 6,
    27: 5,
    28: 6,
}
#: share of eeg_ids labelled by the high-vote population (golden eeg_ids: 5,441 of 17,060)
HIGH_POPULATION_SHARE = 0.37

#: class prior of the planted pattern per population (tuned so the mean vote targets land near the real ones:
#: low .30/.10/.08/.14/.21/.16, high .05/.18/.20/.13/.13/.31 for seizure/lpd/gpd/lrda/grda/other)
CLASS_PRIOR_LOW = np.array([0.36, 0.10, 0.07, 0.13, 0.21, 0.13])
CLASS_PRIOR_HIGH = np.array([0.015, 0.19, 0.235, 0.125, 0.095, 0.34])
#: patient-level concentration: small values make each patient's recordings share one dominant pattern
PATIENT_DIRICHLET_ALPHA = 1.5

#: how experts confuse each planted pattern (rows: planted class, columns: voted class; diagonal unused)
CONFUSION = np.array(
    [
        [0.00, 0.30, 0.15, 0.15, 0.10, 0.30],  # seizure
        [0.25, 0.00, 0.30, 0.20, 0.00, 0.25],  # lpd
        [0.15, 0.30, 0.00, 0.00, 0.20, 0.35],  # gpd
        [0.15, 0.20, 0.00, 0.00, 0.35, 0.30],  # lrda
        [0.10, 0.00, 0.20, 0.35, 0.00, 0.35],  # grda
        [0.15, 0.15, 0.15, 0.20, 0.35, 0.00],  # other
    ]
)
#: clarity c of a planted pattern ~ Beta(a, b) per population; oracle = c * onehot + (1 - c) * confusion
CLARITY_BETA_LOW = (3.0, 1.3)
CLARITY_BETA_HIGH = (2.8, 1.4)
#: low-vote annotators vote more decisively: oracle ** gamma, renormalised
SHARPEN_GAMMA_LOW = 1.6
SHARPEN_GAMMA_HIGH = 1.0
#: probability that a planted episode carries a weaker second pattern (an ambiguous mixture)
SECONDARY_PATTERN_PROB = 0.35

#: log-normal structure: (median, sigma of log), fitted to the real quantiles
ROWS_PER_EEG = (3.0, 1.17)  # median 3, p75 6, p90 13, p99 ~51
EEGS_PER_PATIENT = (3.0, 1.44)  # median 3, p90 19
#: chance that a further label row starts a new annotation event with its own votes (81% of rows repeat)
NEW_EVENT_PROB = 0.036
#: offset step between consecutive label rows: 2 s * (1 + geometric); mixture of short and long steps
STEP_MIX = ((0.8, 0.55), (0.2, 0.12))
#: EEGs per spectrogram session: 1 + geometric(q) (median 1, p90 2)
EEGS_PER_SESSION_Q = 0.4
#: the background's 1/f^beta power spectra: beta of its spatially smooth sources drawn from this range, its local
#: (per-channel) noise beta + LOCAL_EXPONENT_SHIFT — bipolar chains cancel the smooth part, so the local exponent sets
#: the organizer spectrograms' slope and the source exponent the referential EEG's. Calibrated on the real sample's
#: six spectrograms (per file the median over time of log10 power, the four chains averaged; median over files:
#: slope -1.92 (log-log, 0.59-19.92 Hz), mean level above 15 Hz -0.58) and five EEGs (Welch slope 1-20 Hz of the
#: 19 referential channels, -1.57): one exponent 1.4-2.0 gave -1.71, -0.35, -1.70; these give -1.87, -0.60, -1.60
#: (30 patients, seed 11; hms.data.stats.spectrum_shape)
BACKGROUND_EXPONENT = (1.2, 1.8)
LOCAL_EXPONENT_SHIFT = 0.6

assert CONFUSION.shape == (len(CLASSES), len(CLASSES))
assert np.allclose(CONFUSION.sum(axis=1), 1.0)

#: the same statistics measured on the real train.csv (hms.data.stats.describe_train), for the side-by-side table
REAL_REFERENCE = {
    "rows_per_eeg.p50": 3,
    "rows_per_eeg.p75": 6,
    "rows_per_eeg.p90": 13,
    "rows_per_eeg.p99": 51,
    "eegs_per_patient.p50": 3,
    "eegs_per_patient.p90": 19,
    "eeg_length_s.p50": 58,
    "eeg_length_s.p75": 84,
    "eeg_length_s.p90": 130,
    "spectrogram_length_s.p50": 622,
    "repeat_row_share": 0.81,
    "low_vote_row_share": 0.63,
    "high_vote_row_share": 0.37,
    "low_vote_mode": 3,
    "low_unanimous_share": 0.71,
    "high_unanimous_share": 0.09,
    "low_mean_target.seizure": 0.30,
    "low_mean_target.lpd": 0.10,
    "low_mean_target.gpd": 0.08,
    "low_mean_target.lrda": 0.14,
    "low_mean_target.grda": 0.21,
    "low_mean_target.other": 0.16,
    "high_mean_target.seizure": 0.05,
    "high_mean_target.lpd": 0.18,
    "high_mean_target.gpd": 0.20,
    "high_mean_target.lrda": 0.13,
    "high_mean_target.grda": 0.13,
    "high_mean_target.other": 0.31,
}
