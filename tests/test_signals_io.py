import logging

import numpy as np
import pandas as pd
import pytest

from hms.constants import EEG_CHANNELS, EEG_WINDOW_SAMPLES, SPEC_WINDOW_ROWS
from hms.data import (
    Competition,
    DataError,
    clean_eeg,
    clean_spectrogram,
    eeg_window,
    read_eeg,
    read_spectrogram,
    spectrogram_window,
)


def test_real_eeg_and_spectrogram_windows(real_dir, real_train):
    rows = real_train[real_train["eeg_id"] == 2088807520]
    assert len(rows) == 16 and (rows["spectrogram_id"] == 198643605).all()
    eeg = read_eeg(real_dir / "train_eegs" / "2088807520.parquet")
    times, spec = read_spectrogram(real_dir / "train_spectrograms" / "198643605.parquet")
    assert eeg.shape == (16_800, 20) and eeg.dtype == np.float32
    assert spec.shape == (317, 400) and times[0] == 1 and times[-1] == 633
    for _, row in rows.iterrows():
        assert eeg_window(eeg, row["eeg_label_offset_seconds"]).shape == (EEG_WINDOW_SAMPLES, 20)
        window = spectrogram_window(times, spec, row["spectrogram_label_offset_seconds"])
        assert window.shape == (SPEC_WINDOW_ROWS, 400)
    last = rows["eeg_label_offset_seconds"].max()
    np.testing.assert_array_equal(eeg_window(eeg, last), eeg[-EEG_WINDOW_SAMPLES:])


def test_too_short_windows_name_the_file(real_dir):
    path = real_dir / "test_eegs" / "3911565283.parquet"
    eeg = read_eeg(path)
    with pytest.raises(DataError, match=r"3911565283.*too short"):
        eeg_window(eeg, 2.0, path)
    times, spec = read_spectrogram(real_dir / "test_spectrograms" / "853520.parquet")
    with pytest.raises(DataError, match="too short"):
        spectrogram_window(times, spec, 10.0, "853520.parquet")


def test_bad_parquet_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_eeg(tmp_path / "1.parquet")
    (tmp_path / "2.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(DataError, match="unreadable parquet"):
        read_eeg(tmp_path / "2.parquet")
    pd.DataFrame({"EKG": np.zeros(10, np.float32)}).to_parquet(tmp_path / "3.parquet")
    with pytest.raises(DataError, match="none of the scalp channels"):
        read_eeg(tmp_path / "3.parquet")
    pd.DataFrame({"time": [1, 3]}).to_parquet(tmp_path / "4.parquet")
    with pytest.raises(DataError, match="LL_0.59"):
        read_spectrogram(tmp_path / "4.parquet")


def test_an_absent_channel_reads_as_missing_with_a_warning(tmp_path, caplog):
    cols = {c: np.arange(10, dtype=np.float32) for c in EEG_CHANNELS if c != "C3"}
    pd.DataFrame(cols).rename(columns={"Fp1": "FP1"}).to_parquet(tmp_path / "5.parquet")
    with caplog.at_level("WARNING"):
        eeg = read_eeg(tmp_path / "5.parquet")
    assert eeg.shape == (10, 20)
    absent = [EEG_CHANNELS.index("Fp1"), EEG_CHANNELS.index("C3")]
    assert np.isnan(eeg[:, absent]).all() and np.isfinite(np.delete(eeg, absent, axis=1)).all()
    assert "lacks channel(s) Fp1, C3" in caplog.text


def test_infinite_samples_are_missing_samples(tmp_path):
    from hms.data.signals import missing_samples

    t = np.arange(100, dtype=np.float32)
    window = np.stack([t] * 20, axis=1)
    window[10, 0], window[20, 0], window[30, 4] = np.inf, -np.inf, np.nan
    assert missing_samples(window) == {"Fp1": 2, "F7": 1}
    clean, frac = clean_eeg(window)
    np.testing.assert_allclose(clean[:, 0], t)
    assert frac[0] == 0.02 and frac[4] == 0.01 and np.isfinite(clean).all()


def test_nan_policy_interpolates_and_zeroes_dead_channels():
    t = np.arange(1000, dtype=np.float32)
    window = np.stack([t, t * 2, np.full(1000, np.nan, np.float32)], axis=1)
    window[100:200, 0] = np.nan  # a stretch inside: linear interpolation restores the ramp
    window[:50, 1] = np.nan  # a stretch at the edge: held at the first valid value
    clean, frac = clean_eeg(window)
    np.testing.assert_allclose(clean[:, 0], t)
    assert (clean[:50, 1] == 100).all()
    assert (clean[:, 2] == 0).all()
    np.testing.assert_allclose(frac, [0.1, 0.05, 1.0])
    assert np.isnan(window[100, 0]), "the input is not modified"
    assert not np.isnan(clean_spectrogram(np.array([[np.nan, 1.0]]))).any()


def test_rows_without_files_are_skipped_with_one_warning(real_dir, caplog):
    comp = Competition(real_dir)
    with caplog.at_level(logging.WARNING):
        train = comp.train()
    assert train["eeg_id"].nunique() == 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipping 106" in warnings[0].getMessage()
