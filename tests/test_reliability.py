"""The reliability suite: every bad input we know of, built from the simulated competition, with its exact outcome.

Per-row damage (one submission.py run, one damaged test row per case): the row is either cleaned by the NaN policy
(no fallback, a real prediction) or falls back in the documented way, named in the one summary warning with its
reason. Whole-run damage (bad tables, broken model folders, bad output paths, bad score inputs) stops before any
work with exit code 2 and a message naming the file and the fix, and leaves an existing output byte-identical.
``docs/results.md`` lists the same cases (``test_results_page_lists_every_case`` keeps it in step)."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import TINY_TRAIN, copy_test_split, fallback_reasons
from safetensors.torch import load_file, save_file

from hms.constants import EEG_CHANNELS, VOTE_COLS

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


def _text_in_a_channel(e: pd.DataFrame) -> pd.DataFrame:
    text = e["Fp1"].map(lambda v: f"{v:.3f}").astype(object)
    text.iloc[4000:4010] = "n/a"
    return e.assign(Fp1=text)


HUGE_ROWS = 4_000_000  # 5.6 h at 200 Hz: 320 MB as float32, past the whole-file limit; a test row needs 10,000


def _huge_eeg(path: Path) -> None:
    """Rewrite the EEG as its first 10,000 samples followed by zeros up to ``HUGE_ROWS`` rows, in 1M-row groups."""
    head = pq.read_table(path)
    zeros = pa.table({f.name: np.zeros(1_000_000, f.type.to_pandas_dtype()) for f in head.schema}, schema=head.schema)
    with pq.ParquetWriter(path, head.schema) as writer:
        writer.write_table(head)
        for _ in range(HUGE_ROWS // 1_000_000):
            writer.write_table(zeros)


def _spec_repeated_column(path: Path) -> None:
    t = pq.read_table(path)
    pq.write_table(pa.Table.from_arrays([*t.columns, t.column("LL_0.59")], names=[*t.column_names, "LL_0.59"]), path)


def _spec_shuffled(s: pd.DataFrame) -> pd.DataFrame:
    return s.sample(frac=1.0, random_state=0)


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
    "every scalp channel NaN": (
        _all_scalp_missing,
        None,
        "EEG: every scalp channel missing (NaN/inf) -> spectrogram only",
    ),
    "EEG 10 s long": (
        lambda e: e.iloc[:2000],
        None,
        "EEG too short for the window at offset 0 s: needs samples 0..10000, file has 2000 (10 s) -> spectrogram only",
    ),
    "EEG file missing": ("delete", None, "EEG file not found -> spectrogram only"),
    "EEG file corrupt": ("garbage", None, "EEG unreadable parquet"),
    "EEG without any scalp channel": (
        lambda e: e[["EKG"]],
        None,
        "EEG has none of the scalp channels -> spectrogram only",
    ),
    "spectrogram with NaN rows": (None, _spec_nan_rows, CLEAN),
    "spectrogram file missing": (None, "delete", "spectrogram file not found -> EEG only"),
    "spectrogram missing a column": (
        None,
        lambda s: s.drop(columns="LL_0.59"),
        "spectrogram lacks columns ['LL_0.59'] -> EEG only",
    ),
    "EEG and spectrogram missing": (
        "delete",
        "delete",
        "EEG file not found; spectrogram file not found -> training prior",
    ),
    "text in one channel ('n/a')": (_text_in_a_channel, None, CLEAN),
    "EEG of 4,000,000 rows (5.6 h)": (("file", _huge_eeg), None, CLEAN),
    "spectrogram with a repeated column": (
        None,
        ("file", _spec_repeated_column),
        "spectrogram has repeated columns ['LL_0.59'] -> EEG only",
    ),
    "spectrogram rows out of time order": (None, _spec_shuffled, CLEAN),
}
WARNS = {
    "renamed channel column (Fp1 -> FP1)": "EEG lacks channel(s) Fp1",
    "EKG column missing": "EEG lacks channel(s) EKG",
    "text in one channel ('n/a')": "EEG columns hold text: Fp1 (10 values such as 'n/a')",
    "spectrogram rows out of time order": "spectrogram rows are not in time order; sorted by time",
}


def _apply(path: Path, damage: object, read: Callable[[Path], pd.DataFrame]) -> None:
    if damage is None:
        return
    if damage == "delete":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"not a parquet file")
    elif isinstance(damage, tuple):  # ("file", f): f rewrites the file itself
        damage[1](path)
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
        rc = submission.main(
            [
                "--data",
                str(out),
                "--experiment-dir",
                str(tiny_models),
                "--out",
                str(out / "submission.csv"),
                "--stack",
                "cnn",
            ]
        )
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
        assert f"{eeg_id if WARNS[case].startswith('EEG') else eeg_id - 100_000_000}.parquet: {WARNS[case]}" in log_text


def test_the_clean_row_and_the_cleaned_rows_agree(damaged):
    """A few missing or infinite samples barely move the prediction of an otherwise identical recording."""
    ids, sub, _, _, _ = damaged
    clean = sub.loc[ids["clean"], list(VOTE_COLS)].to_numpy(float)
    for case in ("NaN stretch in one channel", "3 +-inf samples in one channel"):
        np.testing.assert_allclose(sub.loc[ids[case], list(VOTE_COLS)].to_numpy(float), clean, atol=0.05)


def test_reordered_spectrogram_rows_and_a_long_tail_predict_as_the_clean_file(damaged):
    """Sorted back into time order, a shuffled spectrogram is the clean one; an EEG whose extra hours follow the
    window is read only up to the window: both rows get the clean row's prediction."""
    ids, sub, _, _, _ = damaged
    clean = sub.loc[ids["clean"], list(VOTE_COLS)].to_numpy(float)
    for case in ("spectrogram rows out of time order", "EEG of 4,000,000 rows (5.6 h)"):
        np.testing.assert_allclose(sub.loc[ids[case], list(VOTE_COLS)].to_numpy(float), clean, atol=1e-6)


def test_a_huge_eeg_costs_only_the_rows_a_window_needs(tmp_path):
    """Reading a test window of an EEG 400x longer than the window holds memory to the window (the whole file would
    be 320 MB as float32), and reading such a file whole is refused with a clear error, never an out-of-memory kill."""
    path = tmp_path / "huge.parquet"
    pd.DataFrame(np.zeros((10_000, 20), np.float32), columns=list(EEG_CHANNELS)).to_parquet(path)
    _huge_eeg(path)
    code = (
        "import resource, sys\nfrom hms.data import read_eeg\nbefore = resource.getrusage(resource.RUSAGE_SELF)"
        ".ru_maxrss\nx = read_eeg(sys.argv[1], 10_000)\nafter = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(x.shape[0], (after - before) // 1024)"
    )
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    rows, grown_mb = map(int, run.stdout.split())
    assert rows == 10_000 and grown_mb < 100, run.stdout
    from hms.data import DataError, read_eeg

    with pytest.raises(DataError, match=r"EEG has 4,010,000 rows, more than the 2,880,000 this reader accepts"):
        read_eeg(path)


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


def _edit_json(path: Path, edit: Callable[[dict], None]) -> None:
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


def _unknown_family(data: Path, models: Path) -> None:
    _edit_json(models / "fold0.json", lambda m: m.update(family="transformer_xl"))


def _truncated_sidecar(data: Path, models: Path) -> None:
    p = models / "fold1.json"
    p.write_text(p.read_text()[:40])


def _newer_sidecar(data: Path, models: Path) -> None:
    _edit_json(models / "fold0.json", lambda m: m["frontend"].update(superlet_order=5))


def _prior_not_json(data: Path, models: Path) -> None:
    (models / "prior.json").write_text('{"model": "class_prior", "prior": {')


def _prior_nan(data: Path, models: Path) -> None:
    _edit_json(models / "prior.json", lambda m: m["prior"].update(seizure_vote=float("nan")))


def _other_architecture(data: Path, models: Path) -> None:
    p = models / "fold0.safetensors"
    tensors = load_file(str(p))
    name = max(tensors, key=lambda k: tensors[k].numel())
    tensors[name] = tensors[name][..., :1].contiguous()
    save_file(tensors, str(p))


def _id_beyond_int64(data: Path, models: Path) -> None:
    test = pd.read_csv(data / "test.csv")
    text = test.astype(str)
    text.loc[0, "eeg_id"] = "18446744073709551615"
    text.to_csv(data / "test.csv", index=False)


RUN_CASES: dict[str, tuple[Callable[[Path, Path], None], str, list[str]]] = {
    "test.csv with a header only": (_header_only, "test.csv", ["no rows (header only)"]),
    "test.csv without patient_id": (_test_csv_column, "test.csv", ["wrong columns", "missing ['patient_id']"]),
    "model folder lost its weights": (
        _lost_weights,
        "models",
        ["fold0.safetensors missing (its sidecar fold0.json is there)", "Copy the complete experiment folder again"],
    ),
    "truncated fold checkpoint": (
        _truncated,
        "models",
        ["fold0.safetensors unreadable", "truncated or corrupt", "Copy the complete experiment folder again"],
    ),
    "fold sidecar missing": (
        _no_sidecar,
        "models",
        ["fold1.json missing (it records the family and front-end of fold1.safetensors)"],
    ),
    "prior.json missing": (_no_prior, "models", ["prior.json: missing", "python -m hms train"]),
    "fold sidecar names an unknown family": (
        _unknown_family,
        "models",
        ["fold0.json", "unknown model family 'transformer_xl'", "trained with a family this code does not have"],
    ),
    "truncated fold sidecar": (
        _truncated_sidecar,
        "models",
        ["fold1.json: fold sidecar is not valid JSON", "copy it with the weights or retrain the fold"],
    ),
    "fold sidecar of a newer version (unknown front-end key)": (
        _newer_sidecar,
        "models",
        ["fold0.json frontend: unknown keys ['superlet_order']", "another version of hms"],
    ),
    "prior.json not JSON": (_prior_not_json, "models", ["prior.json: the class prior is not valid JSON"]),
    "prior.json with a NaN": (_prior_nan, "models", ["prior.json: prior holds NaN or infinite values"]),
    "fold weights of another architecture": (
        _other_architecture,
        "models",
        ["fold0.safetensors: not the network its sidecar fold0.json describes", "shapes differ"],
    ),
    "test.csv eeg_id beyond int64": (
        _id_beyond_int64,
        "test.csv",
        ["beyond the 64-bit integer range", "18446744073709551615"],
    ),
}


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


OUT_CASES = {
    "the data root's test.csv": ("test.csv", "is one of this run's inputs"),
    "a file in the experiment folder": ("models/prior.json", "lies in one of this run's inputs"),
    "a file under test_eegs/": ("test_eegs/new.csv", "lies in one of this run's inputs"),
    "a named pipe": ("pipe", "is a pipe or socket, not a regular file"),
}


@pytest.mark.parametrize("case", list(OUT_CASES))
def test_output_that_would_destroy_an_input_or_is_no_file_is_refused_first(run_copy, capsys, monkeypatch, case):
    data, models, _ = run_copy
    where, words = OUT_CASES[case]
    out = models / where.split("/", 1)[1] if where.startswith("models/") else data / where
    if case == "a named pipe":
        os.mkfifo(out)
    before = {p: p.read_bytes() for p in [*data.rglob("*"), *models.rglob("*")] if p.is_file()}
    monkeypatch.setattr(submission, "check_experiment", lambda *a, **k: pytest.fail("work started"))
    rc = submission.main(["--data", str(data), "--experiment-dir", str(models), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and str(out) in err and words in err, err
    assert {p: p.read_bytes() for p in before} == before
    assert not out.exists() or case != "a file under test_eegs/"
    assert case != "a named pipe" or stat.S_ISFIFO(out.stat().st_mode)


def test_a_device_is_never_an_output():
    """/dev/null (like /dev/stdout run as root) is refused, never replaced by a regular file; checked without any
    write."""
    from hms.errors import OutputError
    from hms.io import output_target

    with pytest.raises(OutputError, match="is a device, not a regular file"):
        output_target(os.devnull, "submission")


def test_an_output_link_is_followed_and_stays_a_link(run_copy, tmp_path):
    data, models, out = run_copy
    link = tmp_path / "latest.csv"
    link.symlink_to(out)
    assert submission.main(["--data", str(data), "--experiment-dir", str(models), "--out", str(link)]) == 0
    assert link.is_symlink() and os.readlink(link) == str(out)
    assert pd.read_csv(out).columns[0] == "eeg_id"  # the target holds the submission


def test_disk_full_names_the_output_and_keeps_the_old_file(run_copy, capsys, monkeypatch):
    data, models, out = run_copy

    def full(self, path, *args, **kwargs):
        Path(path).write_text("eeg_id,seizure")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    rc = submission.main(["--data", str(data), "--experiment-dir", str(models), "--out", str(out), "--stack", "cnn"])
    err = capsys.readouterr().err
    assert rc == 2 and f"{out}: could not be written (No space left on device)" in err, err
    assert out.read_text() == "an earlier submission\n"
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def _blend_file(path: Path, **changes: object) -> Path:
    meta = {"names": ["s"], "weights": [1.0], "bias": dict.fromkeys(VOTE_COLS, 0.0)} | changes
    path.write_text(json.dumps(meta))
    return path


BLEND_CASES = {
    "weights do not match names": ({"weights": [0.5, 0.5]}, "'weights' (one per name) must be a list of 1 numbers"),
    "a NaN weight": ({"weights": [float("nan")]}, "'weights' (one per name) holds NaN or infinite values"),
    "a class missing from the bias": ({"bias": {"seizure_vote": 0.0}}, "'bias' must map the six classes"),
    "not JSON": (None, "blend file is not valid JSON"),
}


@pytest.mark.parametrize("case", list(BLEND_CASES))
def test_broken_blend_file_is_refused_before_any_work(run_copy, tmp_path, capsys, monkeypatch, case):
    data, models, out = run_copy
    changes, words = BLEND_CASES[case]
    blend = tmp_path / "blend.json"
    if changes is None:
        blend.write_text('{"names": ["s"], "weights": [1.0')
    else:
        _blend_file(blend, **changes)
    monkeypatch.setattr(submission, "predict_test", lambda *a, **k: pytest.fail("inference started"))
    rc = submission.main(
        ["--data", str(data), "--experiment-dir", str(models), "--blend", str(blend), "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert rc == 2 and str(blend) in err and words in err, err
    assert out.read_text() == "an earlier submission\n"


@pytest.mark.slow
def test_corrupt_lightgbm_model_is_refused_before_lightgbm_reads_it(stacked, sim_dir, tmp_path):
    """A non-number inside a tree makes LightGBM's own parser abort the process (exit 134, no exception): the
    checked reader refuses the file first. Run in a subprocess, so that a regression fails this test, not the
    suite."""
    models, _, _, _ = stacked
    copy = tmp_path / "models" / models.name
    shutil.copytree(models, copy)
    model = copy / "stack" / "logits" / "fold0.txt"
    model.write_text(model.read_text().replace("threshold=", "threshold=abc ", 1))
    out = tmp_path / "sub.csv"
    cmd = [
        sys.executable,
        str(ROOT / "submission.py"),
        "--data",
        str(sim_dir),
        "--experiment-dir",
        str(copy),
        "--stack",
        "logits",
        "--out",
        str(out),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 2, run.stderr[-2000:]
    assert f"{model}: changed since it was written" in run.stderr and "Traceback" not in run.stderr
    assert not out.exists()
    meta = model.with_suffix(".json")
    _edit_json(meta, lambda m: m.pop("model_sha256"))  # a stack saved before the hash was recorded
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 2 and "damaged LightGBM model: tree " in run.stderr
    assert "could not convert string to float: 'abc'" in run.stderr


def test_written_submission_keeps_the_mode_it_replaces(run_copy, tmp_path):
    data, models, out = run_copy
    assert (
        submission.main(["--data", str(data), "--experiment-dir", str(models), "--out", str(out), "--stack", "cnn"])
        == 0
    )
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
    "an extra eeg_id": (
        lambda s: pd.concat([s, s.tail(1).assign(eeg_id=99)]),
        "1 eeg_ids that are not in the solution ([99])",
    ),
    "a missing eeg_id": (lambda s: s.head(3), "submission lacks 1 eeg_ids of the solution"),
    "a NaN": (
        lambda s: s.assign(seizure_vote=[np.nan, 1 / 6, 1 / 6, 1 / 6]),
        "lacks 1 eeg_ids of the solution (or holds NaN for them)",
    ),
    "a negative value": (lambda s: s.assign(seizure_vote=-0.1, lpd_vote=1 / 6 + 0.1), "must lie in [0, 1]"),
    "rows not summing to 1": (lambda s: s.assign(seizure_vote=0.5), "every row must sum to 1"),
    "a duplicate eeg_id": (lambda s: pd.concat([s, s.head(1)]), "duplicate eeg_id values"),
    "a text value": (
        lambda s: s.assign(lpd_vote=["high", 1 / 6, 1 / 6, 1 / 6]),
        "column lpd_vote holds values that are not numbers (['high'])",
    ),
}


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


# -- hms train and the other commands: settings, names, folders, the leaderboard -------------------------------------
def _train(sim_dir: Path, root: Path, *extra: str, config: str | Path = ROOT / "configs" / "quick.yaml") -> list[str]:
    sets = [x for item in [*TINY_TRAIN, f"cache={root / 'cache'}", *extra] for x in ("--set", item)]
    return ["train", "--config", str(config), "--data", str(sim_dir), "--models-root", str(root / "models"), *sets]


def _bomb() -> str:
    """A few hundred bytes of YAML that expand to 9**9 values."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


# case -> (--set items, the config's text (None: configs/quick.yaml), words of the error)
TRAIN_CASES: dict[str, tuple[list[str], str | None, list[str]]] = {
    "--set train.epochs_stage1=abc": (
        ["train.epochs_stage1=abc"],
        None,
        ["train.epochs_stage1: expected an integer, got 'abc'"],
    ),
    "--set train.lr=fast": (["train.lr=fast"], None, ["train.lr: expected a number, got 'fast'"]),
    "--set name=../../x": (["name=../../x"], None, ["experiment name '../../x': use letters, digits"]),
    "--set with a !!python tag": (
        ["seed=!!python/name:os.system"],
        None,
        ["--set seed=!!python/name:os.system: the YAML tag", "is refused"],
    ),
    "a config with a !!python tag": (
        [],
        "seed: !!python/object/apply:os.system ['echo hi']\n",
        ["the YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' (line 1) is refused"],
    ),
    "a YAML alias bomb (a few hundred bytes)": (
        [],
        _bomb(),
        ["more than 100,000 values once YAML aliases are expanded"],
    ),
}


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_bad_settings_stop_train_before_any_work(sim_dir, tmp_path, capsys, case):
    from hms.__main__ import main

    sets, text, words = TRAIN_CASES[case]
    config = ROOT / "configs" / "quick.yaml"
    if text is not None:
        config = tmp_path / "bad.yaml"
        config.write_text(text)
    assert main(_train(sim_dir, tmp_path, *sets, config=config)) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert [p.name for p in tmp_path.iterdir()] == ([config.name] if text is not None else [])  # nothing written
    assert not (tmp_path.parent / "x").exists()


def test_train_names_a_missing_recordings_folder(sim_dir, tmp_path, capsys):
    from hms.__main__ import main

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(sim_dir / "train.csv", data / "train.csv")
    shutil.copytree(sim_dir / "train_eegs", data / "train_eegs")
    assert main(_train(data, tmp_path)) == 2
    err = capsys.readouterr().err
    assert f"{data / 'train_spectrograms'}: folder missing" in err and "train_eegs/ and train_spectrograms/" in err
    assert not (tmp_path / "models").exists()


@pytest.fixture()
def broken_board(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    files = tmp_path / "files"
    files.mkdir()
    (files / "leaderboard.csv").write_bytes(b"experiment,oof_kl_golden\n\xff\xfe\x00 broken\n")
    monkeypatch.setenv("HMS_FILES_DIR", str(files))
    return files / "leaderboard.csv"


def test_an_unreadable_leaderboard_is_named_and_stops_train_before_any_work(broken_board, sim_dir, tmp_path, capsys):
    from hms.__main__ import main

    before = broken_board.read_bytes()
    assert main(["leaderboard"]) == 2
    err = capsys.readouterr().err
    assert f"{broken_board}: the leaderboard is not a readable CSV" in err and "move it aside" in err, err
    assert main(_train(sim_dir, tmp_path)) == 2
    assert "the leaderboard is not a readable CSV" in capsys.readouterr().err
    assert not (tmp_path / "models").exists() and broken_board.read_bytes() == before


def test_a_leaderboard_broken_during_a_run_is_kept_and_the_row_is_not_lost(broken_board):
    from hms import leaderboard

    before = broken_board.read_bytes()
    table = leaderboard.append({"experiment": "late", "oof_kl_golden": 0.5})
    assert table["experiment"].tolist() == ["late"]
    assert leaderboard.read(broken_board)["experiment"].tolist() == ["late"]
    kept = list(broken_board.parent.glob("leaderboard.unreadable-*.csv"))
    assert len(kept) == 1 and kept[0].read_bytes() == before


def test_kaggle_package_never_deletes_what_it_did_not_write(tiny_models, tmp_path, capsys):
    from hms.__main__ import main

    out = tmp_path / "out"
    (out / "dataset").mkdir(parents=True)
    (out / "dataset" / "my_notes.txt").write_text("mine")
    args = ["kaggle-package", "--experiment", tiny_models.name, "--models-root", str(tiny_models.parent)]
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out}: the folder holds files kaggle-package did not write" in err, err
    assert (out / "dataset" / "my_notes.txt").read_text() == "mine"
    fresh = tmp_path / "fresh"
    assert main([*args, "--out", str(fresh)]) == 0
    assert (fresh / "dataset" / "submission.py").is_file()
    assert main([*args, "--out", str(fresh)]) == 0  # its own output is rebuilt
    assert (fresh / "kernel" / "kernel-metadata.json").is_file()


def test_other_commands_refuse_to_overwrite_their_input(sim_dir, tmp_path, capsys):
    from hms.__main__ import main

    train = tmp_path / "train.csv"
    shutil.copy(sim_dir / "train.csv", train)
    before = train.read_bytes()
    assert main(["folds", "--train", str(train), "--out", str(train)]) == 2
    assert "is one of this run's inputs" in capsys.readouterr().err and train.read_bytes() == before
    eeg = next((sim_dir / "train_eegs").glob("*.parquet"))
    assert main(["spectrogram", "--eeg", str(eeg), "--out", str(eeg)]) == 2
    assert "is one of this run's inputs" in capsys.readouterr().err


def test_baselines_never_write_over_a_trained_experiment(tiny_models, sim_dir, tmp_path, capsys):
    from hms.__main__ import main

    models = tmp_path / "s"
    shutil.copytree(tiny_models, models)
    before = {p.name: p.read_bytes() for p in models.iterdir() if p.is_file()}
    folds = str(models / "folds.csv")
    for command in (["baseline", "--folds", folds], ["bandpower", "--folds", folds]):
        assert main([*command, "--data", str(sim_dir), "--out", str(models)]) == 2
        err = capsys.readouterr().err
        assert f"{models}: holds a trained experiment (fold0.json" not in err and "fold0.safetensors" in err, err
        assert "would replace its prior.json, scores.csv and oof.parquet" in err
    assert {p.name: p.read_bytes() for p in models.iterdir() if p.is_file()} == before


def results_table() -> str:
    """The markdown table of every case and its outcome, as docs/results.md shows it."""
    lines = ["| input | outcome |", "|---|---|"]
    unreadable = "EEG unreadable parquet (...) -> spectrogram only"
    lines += [
        f"| test row: {c} | {unreadable if o == 'EEG unreadable parquet' else o} |"
        for c, (_, _, o) in ROW_CASES.items()
    ]
    lines += [
        f"| run: {c} | exit 2, names the file: {'; '.join(w)}; old output untouched |"
        for c, (_, _, w) in RUN_CASES.items()
    ]
    lines += [
        "| run: --out is a folder / in a missing folder / in a read-only folder | exit 2 before any work, names "
        "the path and the fix |",
        "| run: --out replaces a 0644 file | the new file is 0644 too |",
    ]
    lines += [
        f"| run: --out is {c} | exit 2 before any work: {w}; every input byte-identical |"
        for c, (_, w) in OUT_CASES.items()
    ]
    lines += [
        "| run: --out is a device (/dev/null; /dev/stdout run as root) | refused before any write: is a device, not "
        "a regular file |",
        "| run: --out is a symbolic link | the submission goes to the link's target; the link stays a link |",
        "| run: disk full while writing --out | exit 2: PATH: could not be written (No space left on device); the old "
        "file byte-identical, no temporary file left |",
    ]
    lines += [
        f"| run: blend.json with {c} | exit 2 before any work, names the file: {w} |"
        for c, (_, w) in BLEND_CASES.items()
    ]
    lines += [
        "| run: a stack's LightGBM model with a non-number in a tree (LightGBM itself aborts: exit 134) | exit 2 "
        "before any work: changed since it was written (SHA-256 in its sidecar); a stack saved before the hash: "
        "damaged LightGBM model: tree N: ... |",
    ]
    lines += [f"| hms score: submission with {c} | exit 2: {w} |" for c, (_, w) in SCORE_CASES.items()]
    lines += [
        f"| hms train with {c} | exit 2 before any work, nothing written: {'; '.join(w)} |"
        for c, (_, _, w) in TRAIN_CASES.items()
    ]
    lines += [
        "| hms train on a data root without train_spectrograms/ | exit 2 before any work: PATH/train_spectrograms: "
        "folder missing |",
        "| hms leaderboard / hms train with an unreadable files/leaderboard.csv | exit 2 naming the file and the fix "
        "(move it aside); train stops before any work |",
        "| a leaderboard that becomes unreadable during a run | kept as leaderboard.unreadable-TIME.csv; the run's "
        "row starts a new leaderboard |",
        "| kaggle-package --out DIR that holds the user's files | exit 2, nothing deleted; a folder it wrote itself is "
        "rebuilt |",
        "| hms folds / hms spectrogram with --out = their input | exit 2, the input untouched |",
        "| hms baseline / hms bandpower with --out = a trained experiment's folder | exit 2, its files untouched |",
        "| a test window of an EEG of 4,000,000 rows | only the window's rows are read (memory grows < 100 MB); the "
        "file read whole is refused past 4 h with a clear error |",
    ]
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
