"""submission.py: bad inputs never crash it, bad tables stop it before any work, the output is exactly what Kaggle
accepts, it imports only what the Kaggle image has and never opens a connection; the Kaggle package runs alone."""

import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import copy_test_split, fallback_reasons

from hms.constants import VOTE_COLS
from hms.submit import SubmissionError, make_submission, write_submission

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import submission  # noqa: E402


@pytest.fixture()
def test_copy(sim_dir, tmp_path) -> Path:
    """The simulated test split, copied so files can be broken."""
    out = copy_test_split(sim_dir, tmp_path / "data")
    test = pd.read_csv(out / "test.csv")
    extra = []
    for i in range(max(0, 6 - len(test))):  # enough rows to break five of them in different ways
        row = test.iloc[i % len(test)].copy()
        new_eeg, new_spec = 900_000_000 + i, 800_000_000 + i
        shutil.copy(out / f"test_eegs/{row['eeg_id']}.parquet", out / f"test_eegs/{new_eeg}.parquet")
        shutil.copy(
            out / f"test_spectrograms/{row['spectrogram_id']}.parquet", out / f"test_spectrograms/{new_spec}.parquet"
        )
        extra.append(row.to_dict() | {"eeg_id": new_eeg, "spectrogram_id": new_spec})
    pd.concat([test, pd.DataFrame(extra)], ignore_index=True).to_csv(out / "test.csv", index=False)
    return out


def _sub(out: Path) -> pd.DataFrame:
    sub = pd.read_csv(out)
    assert list(sub.columns) == ["eeg_id", *VOTE_COLS]
    p = sub[list(VOTE_COLS)].to_numpy()
    assert np.isfinite(p).all() and np.abs(p.sum(axis=1) - 1).max() < 1e-6
    return sub


def test_broken_inputs_fall_back_per_row_with_one_warning(test_copy, tiny_models, tmp_path, caplog):
    test = pd.read_csv(test_copy / "test.csv")
    assert len(test) >= 6
    ids = test["eeg_id"].astype(int).tolist()
    spec_ids = test["spectrogram_id"].astype(int).tolist()
    (test_copy / f"test_spectrograms/{spec_ids[0]}.parquet").unlink()  # spectrogram missing -> EEG only
    (test_copy / f"test_eegs/{ids[1]}.parquet").write_bytes(b"not a parquet file")  # unreadable EEG
    eeg = pd.read_parquet(test_copy / f"test_eegs/{ids[2]}.parquet")
    eeg.iloc[:, :] = np.nan
    eeg.to_parquet(test_copy / f"test_eegs/{ids[2]}.parquet")  # all-NaN EEG
    eeg = pd.read_parquet(test_copy / f"test_eegs/{ids[3]}.parquet")
    eeg.iloc[:2000].to_parquet(test_copy / f"test_eegs/{ids[3]}.parquet")  # 10 s: too short
    (test_copy / f"test_eegs/{ids[4]}.parquet").unlink()  # both missing -> training prior
    (test_copy / f"test_spectrograms/{spec_ids[4]}.parquet").unlink()
    out = tmp_path / "sub.csv"
    with caplog.at_level(logging.WARNING):
        rc = submission.main(
            ["--data", str(test_copy), "--models", str(tiny_models), "--out", str(out), "--stack", "cnn"]
        )
    assert rc == 0
    sub = _sub(out)
    assert sub["eeg_id"].tolist() == ids
    warnings = [r.getMessage() for r in caplog.records if "fell back" in r.getMessage()]
    assert len(warnings) == 1
    got = fallback_reasons(warnings[0])
    assert got == {
        ids[0]: "spectrogram file not found -> EEG only",
        ids[1]: got[ids[1]],  # the parquet library's own words follow; checked below
        ids[2]: "EEG: every scalp channel missing (NaN/inf) -> spectrogram only",
        ids[3]: got[ids[3]],
        ids[4]: "EEG file not found; spectrogram file not found -> training prior",
    }
    assert got[ids[1]].startswith("EEG unreadable parquet") and got[ids[1]].endswith("-> spectrogram only")
    assert got[ids[3]].startswith("EEG too short for the window") and got[ids[3]].endswith("-> spectrogram only")
    prior = json.loads((tiny_models / "prior.json").read_text())["prior"]
    np.testing.assert_allclose(sub.loc[4, list(VOTE_COLS)].to_numpy(float), [prior[c] for c in VOTE_COLS], atol=1e-9)
    assert not np.allclose(sub.loc[0, list(VOTE_COLS)].to_numpy(float), [prior[c] for c in VOTE_COLS])


@pytest.mark.parametrize("problem", ["extra column", "duplicate eeg_id"])
def test_bad_test_csv_stops_before_any_work(test_copy, tiny_models, tmp_path, capsys, monkeypatch, problem):
    test = pd.read_csv(test_copy / "test.csv")
    if problem == "extra column":
        test["label"] = 1
    else:
        test = pd.concat([test, test.head(1)])
    test.to_csv(test_copy / "test.csv", index=False)
    monkeypatch.setattr(submission, "predict_test", lambda *a, **k: pytest.fail("work started on a bad test.csv"))
    out = tmp_path / "sub.csv"
    assert submission.main(["--data", str(test_copy), "--models", str(tiny_models), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "test.csv" in err and not out.exists()


def test_validation_refuses_bad_submissions_and_writes_atomically(tmp_path):
    test = pd.DataFrame({"spectrogram_id": [1, 2], "eeg_id": [10, 20], "patient_id": [5, 6]})
    good = make_submission(np.array([10, 20]), np.array([[1, 1, 1, 1, 1, 1], [6, 0, 0, 0, 0, 0]], float))
    out = tmp_path / "submission.csv"
    write_submission(good, test, out)
    before = out.read_bytes()
    bad = [
        good.iloc[::-1].reset_index(drop=True),
        good.assign(seizure_vote=np.nan),
        good.iloc[:1],
        good[["eeg_id", *reversed(VOTE_COLS)]],
        good.assign(seizure_vote=0.5),
    ]
    for sub in bad:
        with pytest.raises(SubmissionError):
            write_submission(sub, test, out)
        assert out.read_bytes() == before, "a refused submission never touches the existing file"
    assert not list(tmp_path.glob(".*.tmp"))


def test_runs_on_the_real_public_test_example(real_dir, tiny_models, tmp_path):
    out = tmp_path / "sub.csv"
    assert submission.main(["--data", str(real_dir), "--models", str(tiny_models), "--out", str(out)]) == 0
    sub = _sub(out)
    assert sub["eeg_id"].tolist() == pd.read_csv(real_dir / "test.csv")["eeg_id"].tolist()
