"""The reliability suite: every bad input we know of, built from the simulated competition, with its exact outcome.

Per-row damage (one submission.py run, one damaged test row per case): the row is either cleaned by the NaN policy
(no fallback, a real prediction) or falls back in the documented way, named in the one summary warning with its
reason. Whole-run damage (bad tables, broken model folders, bad output paths, bad score inputs) stops before any
work with exit code 2 and a message naming the file and the fix, and leaves an existing output byte-identical.
``docs/results.md`` lists the same cases (``test_results_page_lists_every_case`` keeps it in step)."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import copy_test_split, fallback_reasons

from hms.constants import VOTE_COLS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import submission  # noqa: E402

CLEAN = "cleaned by the NaN policy: a real prediction, no fallback"


def _nan_stretch(e: pd.DataFrame) -> pd.DataFrame:
    e.iloc[2000:3000, 3] = np.nan
    return e


def _inf(e: pd.DataFrame) -> pd.DataFrame:
    e.iloc[[100, 5000, 9000], 0] = [np.inf, -np.inf, np.inf]
    return e


def _dead_channel(e: pd.DataFrame) -> pd.DataFrame:
    e.iloc[:, 5] = np.nan
    return e


def _flat_channel(e: pd.DataFrame) -> pd.DataFrame:
    e.iloc[:, 5] = 0.0
    return e


def _spikes(e: pd.DataFrame) -> pd.DataFrame:
    e.iloc[::997, 2] = 5000.0
    return e


def _all_scalp_missing(e: pd.DataFrame) -> pd.DataFrame:
    e.iloc[:, :-1] = np.nan
    return e


def _spec_nan_rows(s: pd.DataFrame) -> pd.DataFrame:
    s.iloc[100:140, 1:] = np.nan
    return s


# case -> (EEG damage, spectrogram damage, expected outcome of the row); None damage = file left as it is,
# "delete" = file removed, "garbage" = not a parquet file
ROW_CASES: dict[str, tuple[object, object, str]] = {
    "NaN stretch in one channel": (_nan_stretch, None, CLEAN),
    "3 +-inf samples in one channel": (_inf, None, CLEAN),
    "dead (all-NaN) channel": (_dead_channel, None, CLEAN),
    "flat (all-zero) channel": (_flat_channel, None, CLEAN),
    "5000 uV spikes": (_spikes, None, CLEAN),
    "renamed channel column (Fp1 -> FP1)": (lambda e: e.rename(columns={"Fp1": "FP1"}), None, CLEAN),
    "EKG column missing": (lambda e: e.drop(columns="EKG"), None, CLEAN),
    "every scalp channel NaN": (_all_scalp_missing, None,
                                "EEG: every scalp channel missing (NaN/inf) -> spectrogram only"),
    "EEG 10 s long": (lambda e: e.iloc[:2000], None, "EEG too short for the window at offset 0 s: needs samples "
                      "0..10000, file has 2000 (10 s) -> spectrogram only"),
    "EEG file missing": ("delete", None, "EEG file not found -> spectrogram only"),
    "EEG file corrupt": ("garbage", None, "EEG unreadable parquet"),
    "EEG without any scalp channel": (lambda e: e[["EKG"]], None, "EEG has none of the scalp channels -> "
                                      "spectrogram only"),
    "spectrogram with NaN rows": (None, _spec_nan_rows, CLEAN),
    "spectrogram file missing": (None, "delete", "spectrogram file not found -> EEG only"),
    "spectrogram missing a column": (None, lambda s: s.drop(columns="LL_0.59"),
                                     "spectrogram lacks columns ['LL_0.59'] -> EEG only"),
    "EEG and spectrogram missing": ("delete", "delete", "EEG file not found; spectrogram file not found -> "
                                    "training prior"),
}  # fmt: skip
WARNS = {"renamed channel column (Fp1 -> FP1)": "lacks channel(s) Fp1", "EKG column missing": "lacks channel(s) EKG"}


def _apply(path: Path, damage: object, read: Callable[[Path], pd.DataFrame]) -> None:
    if damage is None:
        return
    if damage == "delete":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"not a parquet file")
    else:
        damage(read(path)).to_parquet(path)


@pytest.fixture(scope="module")
def damaged(sim_dir: Path, tiny_models: Path, tmp_path_factory: pytest.TempPathFactory):
    """One test row per case (copies of the first simulated test recording, then damaged) + one clean row; runs
    submission.py once. Returns (eeg_id per case, submission, fallback reasons by eeg_id, log text, prior)."""
    out = tmp_path_factory.mktemp("damaged")
    for name in ("sample_submission.csv",):
        shutil.copy(sim_dir / name, out / name)
    (out / "test_eegs").mkdir()
    (out / "test_spectrograms").mkdir()
    base = pd.read_csv(sim_dir / "test.csv").iloc[0]
    rows, ids = [], {}
    for i, (case, (eeg_damage, spec_damage, _)) in enumerate({"clean": (None, None, CLEAN), **ROW_CASES}.items()):
        eeg_id, spec_id = 910_000_000 + i, 810_000_000 + i
        eeg_path, spec_path = out / f"test_eegs/{eeg_id}.parquet", out / f"test_spectrograms/{spec_id}.parquet"
        shutil.copy(sim_dir / f"test_eegs/{base['eeg_id']}.parquet", eeg_path)
        shutil.copy(sim_dir / f"test_spectrograms/{base['spectrogram_id']}.parquet", spec_path)
        _apply(eeg_path, eeg_damage, pd.read_parquet)
        _apply(spec_path, spec_damage, pd.read_parquet)
        rows.append({"spectrogram_id": spec_id, "eeg_id": eeg_id, "patient_id": int(base["patient_id"])})
        ids[case] = eeg_id
    pd.DataFrame(rows).to_csv(out / "test.csv", index=False)
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger().addHandler(handler)
    try:
        rc = submission.main(["--data", str(out), "--experiment-dir", str(tiny_models), "--out",
                              str(out / "submission.csv"), "--stack", "cnn"])  # fmt: skip
    finally:
        logging.getLogger().removeHandler(handler)
    assert rc == 0
    text = [r.getMessage() for r in records]
    summaries = [m for m in text if "fell back" in m]
    assert len(summaries) == 1, summaries
    reasons = fallback_reasons(summaries[0])
    sub = pd.read_csv(out / "submission.csv").set_index("eeg_id")
    prior = np.array([pd.read_json(tiny_models / "prior.json", typ="series")["prior"][c] for c in VOTE_COLS])
    return ids, sub, reasons, "\n".join(text), prior


@pytest.mark.parametrize("case", list(ROW_CASES))
def test_damaged_row(damaged, case):
    ids, sub, reasons, log_text, prior = damaged
    eeg_id, expected = ids[case], ROW_CASES[case][2]
    p = sub.loc[eeg_id, list(VOTE_COLS)].to_numpy(float)
    assert np.isfinite(p).all() and abs(p.sum() - 1) < 1e-6
    if expected == CLEAN:
        assert eeg_id not in reasons, reasons.get(eeg_id)
        assert not np.allclose(p, prior, atol=1e-6)  # a real prediction, not the prior
    elif expected == "EEG unreadable parquet":  # the parquet library's own words follow
        assert reasons[eeg_id].startswith("EEG unreadable parquet") and reasons[eeg_id].endswith("-> spectrogram only")
    else:
        assert reasons[eeg_id] == expected
    if expected.endswith("training prior"):
        np.testing.assert_allclose(p, prior, atol=1e-9)
    if case in WARNS:
        assert f"{eeg_id}.parquet: EEG {WARNS[case]}" in log_text


def test_the_clean_row_and_the_cleaned_rows_agree(damaged):
    """A few missing or infinite samples barely move the prediction of an otherwise identical recording."""
    ids, sub, _, _, _ = damaged
    clean = sub.loc[ids["clean"], list(VOTE_COLS)].to_numpy(float)
    for case in ("NaN stretch in one channel", "3 +-inf samples in one channel"):
        np.testing.assert_allclose(sub.loc[ids[case], list(VOTE_COLS)].to_numpy(float), clean, atol=0.05)


# -- whole-run damage: stop before any work, name the file and the fix, leave the old output alone -------------------
def _header_only(data: Path, models: Path) -> None:
    (data / "test.csv").write_text("spectrogram_id,eeg_id,patient_id\n")


def _test_csv_column(data: Path, models: Path) -> None:
    pd.read_csv(data / "test.csv").drop(columns="patient_id").to_csv(data / "test.csv", index=False)


def _lost_weights(data: Path, models: Path) -> None:
    for p in models.glob("fold*.safetensors"):
        p.unlink()


def _truncated(data: Path, models: Path) -> None:
    p = models / "fold0.safetensors"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _no_sidecar(data: Path, models: Path) -> None:
    (models / "fold1.json").unlink()


def _no_prior(data: Path, models: Path) -> None:
    (models / "prior.json").unlink()


RUN_CASES: dict[str, tuple[Callable[[Path, Path], None], str, list[str]]] = {
    "test.csv with a header only": (_header_only, "test.csv", ["no rows (header only)"]),
    "test.csv without patient_id": (_test_csv_column, "test.csv", ["wrong columns", "missing ['patient_id']"]),
    "model folder lost its weights": (_lost_weights, "models", ["fold0.safetensors missing (its sidecar fold0.json "
                                      "is there)", "Copy the complete experiment folder again"]),
    "truncated fold checkpoint": (_truncated, "models", ["fold0.safetensors unreadable", "truncated or corrupt",
                                  "Copy the complete experiment folder again"]),
    "fold sidecar missing": (_no_sidecar, "models", ["fold1.json missing (it records the family and front-end of "
                             "fold1.safetensors)"]),
    "prior.json missing": (_no_prior, "models", ["prior.json: missing", "python -m hms train"]),
}  # fmt: skip


@pytest.fixture()
def run_copy(sim_dir: Path, tiny_models: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(test data copy, experiment folder copy, an existing 0644 submission.csv that must survive)."""
    data = copy_test_split(sim_dir, tmp_path / "data")
    models = tmp_path / "models" / tiny_models.name
    shutil.copytree(tiny_models, models)
    out = tmp_path / "submission.csv"
    out.write_text("an earlier submission\n")
    out.chmod(0o644)
    return data, models, out


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_damaged_run_stops_before_any_work(run_copy, capsys, monkeypatch, case):
    data, models, out = run_copy
    damage, names, words = RUN_CASES[case]
    damage(data, models)
    monkeypatch.setattr(submission, "predict_test", lambda *a, **k: pytest.fail("inference started"))
    rc = submission.main(["--data", str(data), "--experiment-dir", str(models), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(data / "test.csv") in err if names == "test.csv" else str(models) in err
    for w in words:
        assert w in err, (w, err)
    assert out.read_text() == "an earlier submission\n"


@pytest.mark.parametrize("case", ["a folder", "a missing folder", "a read-only folder"])
def test_bad_output_path_is_refused_first(run_copy, tmp_path, capsys, monkeypatch, case):
    data, models, _ = run_copy
    monkeypatch.setattr(submission, "check_experiment", lambda *a, **k: pytest.fail("work started"))
    if case == "a folder":
        out, words = tmp_path / "folder", ["is a folder; give a file name"]
        out.mkdir()
    elif case == "a missing folder":
        out, words = tmp_path / "nowhere" / "sub.csv", ["does not exist; create it"]
    else:
        if os.geteuid() == 0:
            pytest.skip("root may write into read-only folders")
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        out, words = ro / "sub.csv", ["is not writable"]
    rc = submission.main(["--data", str(data), "--experiment-dir", str(models), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and str(out) in err and all(w in err for w in words), err


def test_written_submission_keeps_the_mode_it_replaces(run_copy, tmp_path):
    data, models, out = run_copy
    assert submission.main(["--data", str(data), "--experiment-dir", str(models), "--out", str(out),
                            "--stack", "cnn"]) == 0  # fmt: skip
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    fresh = tmp_path / "fresh.csv"
    old = os.umask(0o022)
    try:
        assert submission.main(["--data", str(data), "--experiment-dir", str(models), "--out", str(fresh)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644


# -- hms score ------------------------------------------------------------------------------------------------------
def _solution() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    votes = rng.integers(0, 5, size=(4, 6)) + np.eye(6)[:4].astype(int)
    return pd.DataFrame(votes, columns=list(VOTE_COLS)).assign(eeg_id=[1, 2, 3, 4])[["eeg_id", *VOTE_COLS]]


def _good(sol: pd.DataFrame) -> pd.DataFrame:
    return sol.assign(**{c: 1 / 6 for c in VOTE_COLS})


SCORE_CASES: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], str]] = {
    "an extra eeg_id": (lambda s: pd.concat([s, s.tail(1).assign(eeg_id=99)]), "1 eeg_ids that are not in the "
                        "solution ([99])"),
    "a missing eeg_id": (lambda s: s.head(3), "submission lacks 1 eeg_ids of the solution"),
    "a NaN": (lambda s: s.assign(seizure_vote=[np.nan, 1 / 6, 1 / 6, 1 / 6]), "lacks 1 eeg_ids of the solution "
              "(or holds NaN for them)"),
    "a negative value": (lambda s: s.assign(seizure_vote=-0.1, lpd_vote=1 / 6 + 0.1), "must lie in [0, 1]"),
    "rows not summing to 1": (lambda s: s.assign(seizure_vote=0.5), "every row must sum to 1"),
    "a duplicate eeg_id": (lambda s: pd.concat([s, s.head(1)]), "duplicate eeg_id values"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SCORE_CASES))
def test_score_refuses(tmp_path, capsys, case):
    from hms.__main__ import main

    damage, words = SCORE_CASES[case]
    sol = _solution()
    sol.to_csv(tmp_path / "solution.csv", index=False)
    damage(_good(sol)).to_csv(tmp_path / "sub.csv", index=False)
    assert main(["score", "--solution", str(tmp_path / "solution.csv"), "--submission", str(tmp_path / "sub.csv")]) == 2
    err = capsys.readouterr().err
    assert words in err and str(tmp_path / "sub.csv") in err, err


def test_score_of_a_correct_file(tmp_path, capsys):
    from hms.__main__ import main

    sol = _solution()
    sol.to_csv(tmp_path / "solution.csv", index=False)
    _good(sol).sample(frac=1, random_state=0).to_csv(tmp_path / "sub.csv", index=False)  # any row order
    assert main(["score", "--solution", str(tmp_path / "solution.csv"), "--submission", str(tmp_path / "sub.csv")]) == 0
    assert float(capsys.readouterr().out) > 0


def results_table() -> str:
    """The markdown table of every case and its outcome, as docs/results.md shows it."""
    lines = ["| input | outcome |", "|---|---|"]
    unreadable = "EEG unreadable parquet (...) -> spectrogram only"
    lines += [f"| test row: {c} | {unreadable if o == 'EEG unreadable parquet' else o} |"
              for c, (_, _, o) in ROW_CASES.items()]  # fmt: skip
    lines += [f"| run: {c} | exit 2, names the file: {'; '.join(w)}; old output untouched |"
              for c, (_, _, w) in RUN_CASES.items()]  # fmt: skip
    lines += [
        "| run: --out is a folder / in a missing folder / in a read-only folder | exit 2 before any work, names "
        "the path and the fix |",
        "| run: --out replaces a 0644 file | the new file is 0644 too |",
    ]
    lines += [f"| hms score: submission with {c} | exit 2: {w} |" for c, (_, w) in SCORE_CASES.items()]
    lines += [
        "| hms train killed mid-epoch, then --resume | same weights as an uninterrupted run; train_minutes "
        "counts the killed run's time (test_training) |",
        "| three processes appending to the leaderboard at once | all 30 rows kept (test_training) |",
    ]
    return "\n".join(lines) + "\n"


def test_results_page_lists_every_case():
    page = (ROOT / "docs" / "results.md").read_text()
    assert results_table() in page, "docs/results.md: paste tests.test_reliability.results_table() into it"


def test_non_finite_model_output_is_an_error_not_the_prior(run_copy, capsys, monkeypatch):
    """A model that returns NaN for a row it had inputs for is a bug to report: exit 2 naming the rows."""
    import hms.predict

    data, models, out = run_copy

    def broken(model, family, inputs, frontend, tta_swap):
        return np.full((len(inputs), 6), np.nan, np.float32), np.zeros((len(inputs), 2, 4), np.float32)

    monkeypatch.setattr(hms.predict, "forward_views", broken)
    rc = submission.main(["--data", str(data), "--experiment-dir", str(models), "--out", str(out), "--stack", "cnn"])
    err = capsys.readouterr().err
    first = int(pd.read_csv(data / "test.csv")["eeg_id"].iloc[0])
    assert rc == 2 and "non-finite probabilities" in err and "this is a bug" in err and str(first) in err
    assert out.read_text() == "an earlier submission\n"


def test_leaderboard_page_shows_missing_values_blank(tmp_path):
    from hms import leaderboard

    leaderboard.append({"experiment": "a", "oof_kl_golden": 0.5, "sae_l0": None}, tmp_path)
    leaderboard.append({"experiment": "b", "oof_kl_golden": 0.6, "sae_l0": 3.0}, tmp_path)
    page = (tmp_path / "LEADERBOARD.md").read_text()
    assert "None" not in page and "nan" not in page
    row_a = next(line for line in page.splitlines() if line.startswith("| a |"))
    assert "| 0.5000 |" in row_a and "|  |" in row_a
