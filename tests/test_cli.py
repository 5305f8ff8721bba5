import subprocess
import sys

import pandas as pd
import pytest

from hms.__main__ import main
from hms.constants import VOTE_COLS

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("synth", "folds", "score", "baseline", "stats"):
        assert cmd in out


def test_score_prints_the_score_last(tmp_path, capsys):
    sol = pd.DataFrame([[1, 0, 0, 0, 0, 0, 4]], columns=["eeg_id", *VOTE_COLS])
    sub = pd.DataFrame([[1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.5]], columns=["eeg_id", *VOTE_COLS])
    sol.to_csv(tmp_path / "s.csv", index=False)
    sub.to_csv(tmp_path / "p.csv", index=False)
    assert main(["score", "--solution", str(tmp_path / "s.csv"), "--submission", str(tmp_path / "p.csv")]) == 0
    assert float(capsys.readouterr().out.strip().splitlines()[-1]) == pytest.approx(0.693147, abs=1e-6)


def test_bad_input_gives_a_clean_error(tmp_path, capsys):
    assert main(["folds", "--train", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "f.csv")]) == 2
    assert "nope.csv" in capsys.readouterr().err


@pytest.mark.slow
def test_pipeline_folds_baseline_submission(sim_dir, tmp_path):
    folds = tmp_path / "folds.csv"
    assert main(["folds", "--train", str(sim_dir / "train.csv"), "--out", str(folds), "--n-folds", "3"]) == 0
    models = tmp_path / "baseline"
    assert main(["baseline", "--data", str(sim_dir), "--folds", str(folds), "--out", str(models)]) == 0
    scores = pd.read_csv(models / "scores.csv")
    assert list(scores["part"]) == ["fold0", "fold1", "fold2", "oof"]
    out = tmp_path / "submission.csv"
    cmd = [sys.executable, str(ROOT / "submission.py"), "--data", str(sim_dir), "--models", str(models)]
    run = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    sub = pd.read_csv(out)
    assert list(sub.columns) == list(pd.read_csv(sim_dir / "sample_submission.csv").columns)
    assert sub["eeg_id"].tolist() == pd.read_csv(sim_dir / "test.csv")["eeg_id"].tolist()
    assert (sub[list(VOTE_COLS)].sum(axis=1) - 1).abs().max() < 1e-6
    assert main(["score", "--solution", str(sim_dir / "test_votes.csv"), "--submission", str(out)]) == 0


@pytest.mark.slow
def test_submission_on_the_real_public_test(real_dir, real_train, tmp_path):
    from hms.data import eeg_level, golden_prior
    from hms.io import write_json

    prior = golden_prior(eeg_level(real_train))
    write_json({"prior": dict(zip(VOTE_COLS, prior.tolist(), strict=False))}, tmp_path / "m" / "prior.json")
    out = tmp_path / "submission.csv"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "submission.py"),
            "--data",
            str(real_dir),
            "--models",
            str(tmp_path / "m"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    sub = pd.read_csv(out)
    assert sub["eeg_id"].tolist() == [3911565283]
    assert sub[list(VOTE_COLS)].to_numpy() == pytest.approx(prior[None, :])


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    from hms.io import atomic_write

    def boom(path):
        path.write_text("partial")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "x.csv", boom)
    assert list(tmp_path.iterdir()) == []
