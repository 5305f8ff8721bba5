"""Competition data layer: validated tables, EEG/spectrogram windows, labels, folds."""

from hms.data.errors import DataError
from hms.data.folds import fold_class_shares, fold_summary, make_folds, read_folds
from hms.data.labels import dedupe_rows, eeg_level, golden_mask, golden_prior, total_votes, vote_probabilities
from hms.data.layout import Competition
from hms.data.signals import (
    clean_eeg,
    clean_spectrogram,
    eeg_window,
    read_eeg,
    read_spectrogram,
    spectrogram_window,
)
from hms.data.tables import read_sample_submission, read_test_csv, read_train_csv

__all__ = [
    "Competition",
    "DataError",
    "clean_eeg",
    "clean_spectrogram",
    "dedupe_rows",
    "eeg_level",
    "eeg_window",
    "fold_class_shares",
    "fold_summary",
    "golden_mask",
    "golden_prior",
    "make_folds",
    "read_eeg",
    "read_folds",
    "read_sample_submission",
    "read_spectrogram",
    "read_test_csv",
    "read_train_csv",
    "spectrogram_window",
    "total_votes",
    "vote_probabilities",
]
