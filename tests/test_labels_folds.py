import numpy as np
import pandas as pd

from hms.constants import VOTE_COLS
from hms.data import dedupe_rows, eeg_level, fold_class_shares, golden_mask, make_folds, read_folds


def _toy() -> pd.DataFrame:
    rows = [
        (1, 0, 7, [3, 0, 0, 0, 0, 0]),
        (1, 1, 7, [3, 0, 0, 0, 0, 0]),
        (1, 2, 7, [0, 1, 0, 0, 0, 2]),
        (2, 0, 8, [0, 0, 5, 5, 0, 2]),
    ]
    records = [
        {"eeg_id": e, "eeg_sub_id": s, "patient_id": p, "spectrogram_id": 100 + e}
        | dict(zip(VOTE_COLS, v, strict=True))
        for e, s, p, v in rows
    ]
    return pd.DataFrame(records)


def test_eeg_level_sums_votes_and_flags_golden():
    eegs = eeg_level(_toy())
    first = eegs.set_index("eeg_id")
    assert first.loc[1, "seizure_vote"] == 6 and first.loc[1, "other_vote"] == 2 and first.loc[1, "n_rows"] == 3
    assert first.loc[1, "first_total"] == 3 and not first.loc[1, "golden"]
    assert first.loc[2, "golden"] and first.loc[2, "total_votes"] == 12
    assert golden_mask(eegs).tolist() == [False, True]
    assert first.loc[1, "expert_consensus"] == "Seizure"


def test_dedupe_keeps_first_of_repeated_vote_vectors():
    out = dedupe_rows(_toy())
    assert out[["eeg_id", "eeg_sub_id"]].values.tolist() == [[1, 0], [1, 2], [2, 0]]


def test_real_folds_are_patient_grouped_and_balanced(real_train, tmp_path):
    folds = make_folds(real_train, n_folds=5, seed=42)
    assert set(folds["eeg_id"]) == set(real_train["eeg_id"])
    assert folds["eeg_id"].is_unique and sorted(folds["fold"].unique()) == [0, 1, 2, 3, 4]
    assert folds.groupby("patient_id")["fold"].nunique().max() == 1
    shares = fold_class_shares(folds, real_train)
    gap = (shares.drop(index="all") - shares.loc["all"]).abs().to_numpy().max()
    assert gap < 0.01
    path = tmp_path / "folds.csv"
    folds.to_csv(path, index=False)
    assert read_folds(path, real_train).equals(folds)


def test_folds_are_deterministic(sim_dir):
    from hms.data import read_train_csv

    train = read_train_csv(sim_dir / "train.csv")
    a, b = make_folds(train, 3, seed=1), make_folds(train, 3, seed=1)
    assert a.equals(b)
    assert np.all(a.groupby("patient_id")["fold"].nunique() == 1)


def test_read_folds_rejects_folds_of_another_train(sim_dir, real_train, tmp_path):
    import pytest

    from hms.data import DataError

    path = tmp_path / "folds.csv"
    make_folds(real_train.head(200), 2, seed=0).to_csv(path, index=False)
    with pytest.raises(DataError, match="another train.csv"):
        read_folds(path, real_train)
