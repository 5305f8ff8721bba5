import pandas as pd
import pytest

from hms.constants import TRAIN_COLUMNS
from hms.data import DataError, read_sample_submission, read_test_csv, read_train_csv


def test_real_train_csv(real_train):
    assert len(real_train) == 106_645
    assert real_train["patient_id"].nunique() == 1950
    assert tuple(real_train.columns) == TRAIN_COLUMNS
    assert real_train["eeg_id"].dtype == "int64"


def test_real_test_and_sample_submission(real_dir):
    test = read_test_csv(real_dir / "test.csv")
    sample = read_sample_submission(real_dir / "sample_submission.csv")
    assert test["eeg_id"].tolist() == sample["eeg_id"].tolist() == [3911565283]


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(DataError, match="train.csv"):
        read_train_csv(tmp_path / "train.csv")


def test_wrong_columns(tmp_path, real_dir):
    path = tmp_path / "train.csv"
    pd.read_csv(real_dir / "train.csv", nrows=5).drop(columns=["gpd_vote"]).to_csv(path, index=False)
    with pytest.raises(DataError, match="gpd_vote"):
        read_train_csv(path)


def test_zero_vote_row_rejected(tmp_path, real_dir):
    df = pd.read_csv(real_dir / "train.csv", nrows=5)
    df.loc[2, [c for c in df.columns if c.endswith("_vote")]] = 0
    df.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(DataError, match="zero votes"):
        read_train_csv(tmp_path / "train.csv")


def test_test_csv_duplicates_and_extra_columns(tmp_path):
    path = tmp_path / "test.csv"
    pd.DataFrame({"spectrogram_id": [1, 2], "eeg_id": [5, 5], "patient_id": [1, 1]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="duplicate eeg_ids"):
        read_test_csv(path)
    pd.DataFrame({"spectrogram_id": [1], "eeg_id": [5], "patient_id": [1], "x": [0]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="unexpected"):
        read_test_csv(path)


def test_garbage_csv(tmp_path):
    path = tmp_path / "test.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="cannot parse"):
        read_test_csv(path)
