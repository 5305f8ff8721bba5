"""hms blend: weights go to the informative model, nested CV is never better than the in-sample fit, every bad input
is refused with the file named; the experiments shortcut; submission.py and the Kaggle package over two experiments
of different families."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hms.__main__ import main
from hms.blend.fit import fit_blend, run_blend
from hms.blend.model import Blend
from hms.constants import VOTE_COLS
from hms.data import DataError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import submission  # noqa: E402


def _frame(ids: np.ndarray, values: np.ndarray, cols=VOTE_COLS, sub_ids: np.ndarray | None = None) -> pd.DataFrame:
    df = pd.DataFrame(values, columns=list(cols))
    if sub_ids is not None:
        df.insert(0, "eeg_sub_id", sub_ids)
    df.insert(0, "eeg_id", ids)
    return df


@pytest.fixture()
def synthetic(tmp_path) -> dict[str, Path]:
    """400 rows: votes drawn from a hidden distribution; 'good' sees it through noise, 'noise' is unrelated."""
    rng = np.random.default_rng(0)
    n = 400
    truth = rng.dirichlet(np.full(6, 0.5), size=n)
    votes = np.stack([rng.multinomial(rng.integers(3, 20), p) for p in truth])
    good = 0.7 * truth + 0.3 * rng.dirichlet(np.ones(6), size=n)
    noise = rng.dirichlet(np.ones(6), size=n)
    ids = np.arange(1000, 1000 + n)
    paths = {"solution": tmp_path / "sol.csv", "good": tmp_path / "good.csv", "noise": tmp_path / "noise.csv"}
    _frame(ids, votes).to_csv(paths["solution"], index=False)
    _frame(ids, good, [f"{c}_prediction" for c in VOTE_COLS]).to_csv(paths["good"], index=False)  # published naming
    _frame(ids[::-1], noise[::-1]).to_csv(paths["noise"], index=False)  # any row order
    return paths


def test_weight_goes_to_the_informative_model_and_nested_cv_is_honest(synthetic, tmp_path):
    blend, table = run_blend(
        synthetic["solution"],
        {"good": synthetic["good"], "noise": synthetic["noise"]},
        min_votes=10,
        out=tmp_path / "out",
    )
    w = dict(zip(blend.names, blend.weights, strict=True))
    assert w["good"] > 0.5 and abs(w["noise"]) < 0.2 * w["good"]
    s = blend.scores
    assert s["blend_in_sample"] <= s["blend"] + 1e-12, "nested CV must not beat the in-sample fit"
    assert s["blend"] < s["equal_weights"] and s["best_single_name"] == "good"
    assert s["rows"] == int((pd.read_csv(synthetic["solution"])[list(VOTE_COLS)].sum(axis=1) >= 10).sum())
    saved = Blend.load(tmp_path / "out" / "blend.json")
    np.testing.assert_allclose(saved.weights, blend.weights)
    assert (tmp_path / "out" / "weights.png").stat().st_size > 1000
    assert list(table["model"]) == ["good", "noise"] and table.loc[0, "kl_alone"] < table.loc[1, "kl_alone"]


def test_equal_blend_is_the_normalised_geometric_mean_and_a_fit_never_loses_to_it():
    rng = np.random.default_rng(1)
    a, b = rng.dirichlet(np.ones(6), size=50), rng.dirichlet(np.ones(6), size=50)
    geo = np.sqrt(a * b)
    np.testing.assert_allclose(Blend.equal(["a", "b"]).apply([a, b]), geo / geo.sum(axis=1, keepdims=True))
    target = rng.dirichlet(np.ones(6), size=50)
    fitted = fit_blend(np.stack([a, b]), target, ["a", "b"])
    kl = lambda p: float((target * np.log(target / p)).sum(axis=1).mean())  # noqa: E731
    assert kl(fitted.apply([a, b])) <= kl(Blend.equal(["a", "b"]).apply([a, b])) + 1e-9


def test_cli_prints_the_scores_as_its_last_line(synthetic, tmp_path, capsys):
    rc = main(
        [
            "blend",
            "--solution",
            str(synthetic["solution"]),
            "--oof",
            f"good={synthetic['good']}",
            "--oof",
            f"noise={synthetic['noise']}",
            "--out",
            str(tmp_path / "b"),
        ]
    )
    assert rc == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"blend=\d+\.\d{4} equal_weights=\d+\.\d{4} best_single=\d+\.\d{4} \(good\)", last), last


@pytest.mark.parametrize(
    "damage, message",
    [
        ("sum", "rows do not sum to 1"),
        ("nan", "NaN or infinite"),
        ("negative", "negative values"),
        ("missing", "of the 400 solution rows"),
        ("one", "at least two models"),
    ],
)
def test_bad_inputs_are_refused_naming_the_file(synthetic, tmp_path, damage, message):
    bad = pd.read_csv(synthetic["noise"])
    if damage == "sum":
        bad.loc[3, "seizure_vote"] += 0.5
    elif damage == "nan":
        bad.loc[3, "lpd_vote"] = np.nan
    elif damage == "negative":
        bad.loc[3, "gpd_vote"] = -0.1
        bad.loc[3, "grda_vote"] += 0.1
    elif damage == "missing":
        bad = bad.drop(index=[0, 1])
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    oofs = {"good": synthetic["good"]} if damage == "one" else {"good": synthetic["good"], "bad": path}
    with pytest.raises(DataError, match=message) as err:
        run_blend(synthetic["solution"], oofs, min_votes=0)
    if damage != "one":
        assert str(path) in str(err.value)
    if damage == "missing":
        assert "2 of the 400" in str(err.value)


def test_probability_solution_needs_train_for_vote_totals(synthetic, tmp_path):
    sol = pd.read_csv(synthetic["solution"])
    values = sol[list(VOTE_COLS)].to_numpy(dtype=float)
    sol[list(VOTE_COLS)] = values / values.sum(axis=1, keepdims=True)
    sol.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(DataError, match="pass --train"):
        run_blend(tmp_path / "p.csv", {"good": synthetic["good"], "noise": synthetic["noise"]}, min_votes=10)


def test_train_csv_gives_patient_groups_and_golden_rows(sim_dir, tmp_path):
    from hms.data import eeg_level, read_train_csv

    eegs = eeg_level(read_train_csv(sim_dir / "train.csv"))
    votes = eegs[list(VOTE_COLS)].to_numpy(dtype=float)
    target = votes / votes.sum(axis=1, keepdims=True)
    rng = np.random.default_rng(2)
    _frame(eegs["eeg_id"], target).to_csv(tmp_path / "sol.csv", index=False)
    for name, noise in (("a", 0.2), ("b", 0.8)):
        p = (1 - noise) * target + noise * rng.dirichlet(np.ones(6), size=len(eegs))
        _frame(eegs["eeg_id"], p).to_csv(tmp_path / f"{name}.csv", index=False)
    blend, _ = run_blend(
        tmp_path / "sol.csv",
        {"a": tmp_path / "a.csv", "b": tmp_path / "b.csv"},
        train=sim_dir / "train.csv",
        min_votes=10,
        n_folds=2,
    )
    assert blend.scores["rows"] == int(eegs["golden"].sum())  # the first row's votes: the golden subset


def test_two_families_blend_and_submit(tiny_models, tiny_raw, sim_dir, tmp_path, capsys):
    out = tmp_path / "blend"
    rc = main(
        [
            "blend",
            "--experiments",
            f"{tiny_models},{tiny_raw}",
            "--data",
            str(sim_dir),
            "--min-votes",
            "0",
            "--folds",
            "2",
            "--out",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    meta = json.loads((out / "blend.json").read_text())
    assert meta["names"] == ["s", "raw"] and len(meta["weights"]) == 2
    test = pd.read_csv(sim_dir / "test.csv")
    for extra in (["--blend", str(out / "blend.json")], []):
        sub_path = tmp_path / f"sub{len(extra)}.csv"
        rc = submission.main(
            [
                "--data",
                str(sim_dir),
                "--experiment-dir",
                str(tiny_models),
                "--experiment-dir",
                str(tiny_raw),
                *extra,
                "--out",
                str(sub_path),
            ]
        )
        assert rc == 0, capsys.readouterr().err
        sub = pd.read_csv(sub_path)
        assert list(sub["eeg_id"]) == list(test["eeg_id"])
        assert np.abs(sub[list(VOTE_COLS)].sum(axis=1) - 1).max() < 1e-6
    # a blend of other experiments is refused before any work
    (tmp_path / "other.json").write_text(json.dumps(meta | {"names": ["s", "other"]}))
    both = ["--experiment-dir", str(tiny_models), "--experiment-dir", str(tiny_raw)]
    rc = submission.main(
        ["--data", str(sim_dir), *both, "--blend", str(tmp_path / "other.json"), "--out", str(tmp_path / "x.csv")]
    )
    assert rc == 2 and "other.json" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()


@pytest.mark.slow
def test_kaggle_package_with_two_families_runs_offline(tiny_models, tiny_raw, sim_dir, tmp_path):
    from hms.blend.model import Blend
    from hms.kaggle import package

    blend_file = Blend(["s", "raw"], np.array([0.6, 0.4])).save(tmp_path / "blend.json")
    out = package([str(tiny_models), str(tiny_raw)], tmp_path / "kaggle", user="me", blend=blend_file)
    dataset = out["dataset"]
    cell = json.loads((out["kernel"] / "submission.ipynb").read_text())["cells"][1]["source"][0]
    assert (
        "--experiment-dir /kaggle/input/hms-s-raw/models/s --experiment-dir /kaggle/input/hms-s-raw/models/raw" in cell
    )
    assert "--blend /kaggle/input/hms-s-raw/blend.json" in cell
    assert json.loads((dataset / "models/raw/fold0.json").read_text())["family"] == "raw_eeg"
    sub = tmp_path / "sub.csv"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}
    both = ["--experiment-dir", str(dataset / "models/s"), "--experiment-dir", str(dataset / "models/raw")]
    run = subprocess.run(
        [
            sys.executable,
            "-I",
            str(dataset / "submission.py"),
            "--data",
            str(sim_dir),
            *both,
            "--blend",
            str(dataset / "blend.json"),
            "--out",
            str(sub),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "blend" in run.stdout and len(pd.read_csv(sub)) == len(pd.read_csv(sim_dir / "test.csv"))
