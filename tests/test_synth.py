from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from hms.constants import CLASSES, EEG_CHANNELS, SAMPLE_RATE, VOTE_COLS
from hms.data import Competition, eeg_window, read_eeg, read_spectrogram, spectrogram_window
from hms.data.stats import describe_train
from hms.errors import DataError
from hms.synth.structure import Episode, SessionPlan, build_structure


def test_layout_and_dtypes_match_the_real_competition(sim_dir, real_dir):
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        sim, real = pd.read_csv(sim_dir / name), pd.read_csv(real_dir / name)
        assert list(sim.columns) == list(real.columns), name
        for col in sim.columns:
            if col == "label_id":  # empty for most rows of the rebuilt real copy, so pandas reads floats there
                assert sim[col].dtype == "int64"
                continue
            assert sim[col].dtype == real[col].dtype, (name, col)
    for split in ("train", "test"):
        real_eeg = pq.read_schema(next((real_dir / f"{split}_eegs").glob("*.parquet")))
        sim_eeg = pq.read_schema(next((sim_dir / f"{split}_eegs").glob("*.parquet")))
        assert sim_eeg.names == real_eeg.names and [str(t) for t in sim_eeg.types] == [str(t) for t in real_eeg.types]
        real_spec = pq.read_schema(next((real_dir / f"{split}_spectrograms").glob("*.parquet")))
        sim_spec = pq.read_schema(next((sim_dir / f"{split}_spectrograms").glob("*.parquet")))
        assert sim_spec.names == real_spec.names
        assert [str(t) for t in sim_spec.types] == [str(t) for t in real_spec.types]  # time: int64 train, int16 test


def test_every_label_window_is_extractable(sim_dir):
    comp = Competition(sim_dir)
    train = comp.train()
    assert len(train) == len(pd.read_csv(sim_dir / "train.csv")), "no simulated row lacks its files"
    for eeg_id, rows in train.groupby("eeg_id"):
        eeg = read_eeg(comp.eeg_path(eeg_id))
        assert eeg.shape[0] == (rows["eeg_label_offset_seconds"].max() + 50) * SAMPLE_RATE
        times, spec = read_spectrogram(comp.spectrogram_path(rows["spectrogram_id"].iloc[0]))
        for _, row in rows.iterrows():
            eeg_window(eeg, row["eeg_label_offset_seconds"])
            spectrogram_window(times, spec, row["spectrogram_label_offset_seconds"])
    for _, row in comp.test().iterrows():
        assert read_eeg(comp.eeg_path(row["eeg_id"], "test")).shape == (50 * SAMPLE_RATE, 20)
        times, spec = read_spectrogram(comp.spectrogram_path(row["spectrogram_id"], "test"))
        assert spec.shape == (300, 400) and times[0] == 1 and times[-1] == 599


def test_ground_truth_files(sim_dir):
    train = pd.read_csv(sim_dir / "train.csv")
    oracle = pd.read_csv(sim_dir / "oracle.csv")
    test = pd.read_csv(sim_dir / "test.csv")
    rows = train.merge(oracle, on=["eeg_id", "eeg_sub_id"], validate="one_to_one")
    assert len(rows) == len(train)
    np.testing.assert_allclose(oracle[list(CLASSES)].sum(axis=1), 1.0)
    votes = pd.read_csv(sim_dir / "test_votes.csv")
    assert votes["eeg_id"].tolist() == test["eeg_id"].tolist()
    totals = votes[list(VOTE_COLS)].sum(axis=1)
    assert totals.between(3, 20).all()
    assert set(train["patient_id"]).isdisjoint(test["patient_id"])


def test_same_seed_same_dataset(sim_dir, tmp_path):
    from hms.synth import SynthConfig, simulate

    simulate(tmp_path, SynthConfig(n_patients=6, n_test_patients=2, seed=3, max_eegs_per_patient=3), workers=2)
    for name in ("train.csv", "test.csv", "oracle.csv", "test_votes.csv"):
        assert (tmp_path / name).read_bytes() == (sim_dir / name).read_bytes(), name
    some = next((sim_dir / "train_eegs").glob("*.parquet")).name
    np.testing.assert_array_equal(read_eeg(tmp_path / "train_eegs" / some), read_eeg(sim_dir / "train_eegs" / some))


def test_structure_statistics_match_the_real_train_csv(real_train):
    real = describe_train(real_train)
    sim = describe_train(build_structure(1950, 2, seed=11).train)
    assert sim["rows_per_eeg"]["p50"] == real["rows_per_eeg"]["p50"] == 3
    assert abs(sim["rows_per_eeg"]["p90"] - real["rows_per_eeg"]["p90"]) <= 2
    assert abs(sim["eegs_per_patient"]["p90"] - real["eegs_per_patient"]["p90"]) <= 4
    assert abs(sim["eeg_length_s"]["p50"] - real["eeg_length_s"]["p50"]) <= 4
    assert abs(sim["spectrogram_length_s"]["p50"] - real["spectrogram_length_s"]["p50"]) <= 20
    assert abs(sim["repeat_row_share"] - real["repeat_row_share"]) < 0.03
    assert abs(sim["high_vote_row_share"] - real["high_vote_row_share"]) < 0.03
    assert abs(sim["low_unanimous_share"] - real["low_unanimous_share"]) < 0.05
    assert abs(sim["high_unanimous_share"] - real["high_unanimous_share"]) < 0.03
    for pop in ("low_mean_target", "high_mean_target"):
        for c in CLASSES:
            assert abs(sim[pop][c] - real[pop][c]) < 0.04, (pop, c)


def _band_power(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    spec = np.abs(np.fft.rfft(x - x.mean(axis=0), axis=0)) ** 2
    f = np.fft.rfftfreq(x.shape[0], 1 / SAMPLE_RATE)
    return spec[(f >= lo) & (f < hi)].sum(axis=0)


@pytest.mark.parametrize("cls,lateral", [("lrda", True), ("grda", False), ("lpd", True), ("gpd", False)])
def test_planted_patterns_sit_where_they_should(cls, lateral):
    """Lateralised patterns raise power on one hemisphere only; generalised ones on both."""
    from hms.constants import LEFT_CHANNELS, RIGHT_CHANNELS
    from hms.synth.signals import session_signal

    left = [EEG_CHANNELS.index(c) for c in LEFT_CHANNELS]
    right = [EEG_CHANNELS.index(c) for c in RIGHT_CHANNELS]
    ratios = []
    for seed in range(6):
        plain = SessionPlan(1, 1, "train", 120, seed)
        planted = SessionPlan(1, 1, "train", 120, seed, episodes=[Episode(10, 110, CLASSES.index(cls), 1.0)])
        base, sig = session_signal(plain), session_signal(planted)
        window = slice(2000, 22000)
        hi = 3.5 if cls.endswith("rda") else 20.0  # rhythmic delta vs discharges with harmonics
        extra = _band_power(np.nan_to_num(sig[window]), 0.5, hi) / _band_power(np.nan_to_num(base[window]), 0.5, hi)
        on_left, on_right = np.median(extra[left]), np.median(extra[right])
        ratios.append(abs(np.log(on_left / on_right)))
        assert max(on_left, on_right) > 1.5, "the pattern adds power"
    if lateral:
        assert np.median(ratios) > 1.0
    else:
        assert np.median(ratios) < 0.7


def test_a_changed_organizer_recipe_makes_the_simulation_stale(sim_dir, monkeypatch):
    import importlib
    from dataclasses import replace

    from hms.synth import SynthConfig

    sim = importlib.import_module("hms.synth.simulate")  # the module (hms.synth.simulate is also a function's name)

    cfg = SynthConfig(n_patients=6, n_test_patients=2, seed=3, max_eegs_per_patient=3)  # as conftest's sim_dir
    assert sim._up_to_date(sim_dir, cfg)
    monkeypatch.setattr(sim, "ORGANIZER_RECIPE", replace(sim.ORGANIZER_RECIPE, window_seconds=5.12))
    assert not sim._up_to_date(sim_dir, cfg)


def test_the_ground_truth_events_record_what_was_planted_without_changing_it(sim_dir):
    """events.csv lists every episode and artifact; recording them draws nothing (same signal with or without)."""
    from hms.synth.signals import session_signal
    from hms.synth.structure import build_structure
    from hms.synth.truth import ARTIFACT_KINDS, PATTERN_CLASSES, read_events

    events = read_events(sim_dir)
    assert set(events["kind"]) <= set(ARTIFACT_KINDS) | set(PATTERN_CLASSES)
    assert {"blink", "ekg"} <= set(events["kind"]) and set(events["kind"]) & set(PATTERN_CLASSES)
    assert (events["stop"] > events["start"]).all()
    plan = build_structure(2, 1, 5, 2).sessions[0]
    notes: dict = {}
    np.testing.assert_array_equal(session_signal(plan, notes), session_signal(plan), strict=True)
    assert len(notes["artifacts"]["events"]) > 0


def test_window_factors_read_the_pattern_under_the_label_and_the_artifacts_in_the_window():
    from hms.constants import EEG_TO_SPEC_SHIFT
    from hms.synth.truth import EVENT_COLUMNS, factor_locations, window_factors

    events = pd.DataFrame(
        [
            [1, "lpd", "main", 100.0, 200.0, "Fp1,F7,T3", "left", "temporal", 1.5, 0.9],
            [1, "grda", "secondary", 100.0, 200.0, "Fp1", "bilateral", "frontal", 2.0, 0.3],
            [1, "blink", "artifact", 130.0, 130.5, "Fp1,Fp2", None, None, None, None],
            [1, "ekg", "artifact", 0.0, 600.0, "T3,T4,T5,T6,O1,O2", None, None, None, 0.02],
        ],
        columns=list(EVENT_COLUMNS),
    )
    # window 1 starts at 110 s (label 130-140 s: the LPD); window 2 at 400 s (nothing planted)
    rows = pd.DataFrame({"spectrogram_id": [1, 1], "spectrogram_label_offset_seconds": [110.0, 400.0]})
    rows["spectrogram_label_offset_seconds"] -= EEG_TO_SPEC_SHIFT
    f = window_factors(rows, events)
    assert f.loc[0, "pattern_lpd"] and f.loc[0, "side_left"] and f.loc[0, "region_temporal"]
    assert f.loc[0, "band_delta1"] and not f.loc[0, "pattern_grda"]  # the secondary pattern is not the label's
    assert f.loc[0, "artifact_blink"] and not f.loc[0, "artifact_ekg"]  # a leak of 0.02 is not visible
    assert not f.loc[1].any()
    (chains, t0, t1), nothing = factor_locations(rows, events, "artifact_blink")
    assert chains == ("LL", "RL", "LP", "RP") and (t0, t1) == (20.0, 20.5) and nothing == ((), 0.0, 0.0)
    assert factor_locations(rows, events, "pattern_lpd")[0][0] == ("LL", "LP")


def test_sessions_are_the_simulations_they_were():
    """Two sessions of a 20-patient simulation (seed 42) that draw a flat channel, as this simulator draws
    them since its background spectrum was calibrated (SHA-256 of the float32 signal): recording the ground truth
    must not move a single draw, so a newly recorded event cannot silently change every figure measured on the
    simulator; a deliberate change of the signals (as the calibration was) updates these two hashes."""
    import hashlib

    from hms.synth.signals import session_signal

    expected = {
        1405179712: "06c8b786df9b643b71ab9ab0e7cb687d30fa6b93181ff9d64f5b01e91625c540",
        93005074: "1c53eaa6f350991ea5aa84d51ea23e1339c7c4ad16333f4b1ca4d352bc15e4c5",
    }
    plans = {p.spectrogram_id: p for p in build_structure(20, 5, 42, 15).sessions if p.spectrogram_id in expected}
    notes: dict = {}
    got = {
        i: hashlib.sha256(session_signal(p, notes if i == 93005074 else None).tobytes()).hexdigest()
        for i, p in plans.items()
    }
    assert got == expected
    assert "flat" in {e["kind"] for e in notes["artifacts"]["events"]}


def test_the_simulated_spectrograms_carry_as_much_fast_activity_as_the_real_ones(sim_dir, real_dir):
    """Per organizer spectrogram, the median over time of log10 power (chains averaged): its log-log slope and its
    level above 15 Hz, median over files — the simulator's within 0.1 and 0.2 of the real sample's six files (the
    background's 1/f exponent is calibrated on them: a simulator with too much fast activity rewards what real EEG
    lacks)."""
    from hms.data.stats import spectrum_shape

    def medians(root: Path) -> tuple[float, float]:
        shapes = [spectrum_shape(pd.read_parquet(p)) for p in sorted(root.glob("*_spectrograms/*.parquet"))]
        return float(np.median([x["slope"] for x in shapes])), float(np.median([x["fast_level"] for x in shapes]))

    (real_slope, real_fast), (sim_slope, sim_fast) = medians(real_dir), medians(sim_dir)
    assert -2.1 < real_slope < -1.7 and -0.8 < real_fast < -0.4  # the six real files: -1.92 and -0.58
    assert abs(sim_slope - real_slope) <= 0.1, (sim_slope, real_slope)
    assert abs(sim_fast - real_fast) <= 0.2, (sim_fast, real_fast)


def test_a_shortcut_is_planted_in_the_training_split_only(sim_dir, planted_sim_dir):
    """The planted simulation differs from the clean one only by the shortcut's artifacts, and only in training
    sessions of the class: the labels and every test file are byte-identical, and every extra event is a blink inside
    a training seizure episode."""
    from hms.synth.shortcuts import Shortcut, read_shortcuts
    from hms.synth.truth import read_events

    assert read_shortcuts(planted_sim_dir) == [Shortcut("seizure", "blink")] and read_shortcuts(sim_dir) == []
    for name in ("train.csv", "test.csv", "test_votes.csv", "oracle.csv"):
        assert (planted_sim_dir / name).read_bytes() == (sim_dir / name).read_bytes(), name
    for path in (sim_dir / "test_eegs").glob("*.parquet"):
        assert (planted_sim_dir / "test_eegs" / path.name).read_bytes() == path.read_bytes(), path.name
    clean, planted = read_events(sim_dir), read_events(planted_sim_dir)
    key = ["spectrogram_id", "kind", "start", "stop", "channels"]
    extra = planted.merge(clean[key], on=key, how="left", indicator=True)
    extra = extra[extra["_merge"] == "left_only"]
    assert len(extra) >= 5 and set(extra["kind"]) == {"blink"}
    test_specs = set(pd.read_csv(sim_dir / "test.csv")["spectrogram_id"])
    assert not set(extra["spectrogram_id"]) & test_specs
    seizures = clean[(clean["kind"] == "seizure") & (clean["role"] == "main")]
    for _, event in extra.iterrows():
        own = seizures[seizures["spectrogram_id"] == event["spectrogram_id"]]
        inside = (own["start"] - 1 <= event["start"]) & (event["stop"] <= own["stop"] + 1)
        assert inside.any(), event.to_dict()
    train_eegs = sorted(p.name for p in (sim_dir / "train_eegs").glob("*.parquet"))
    changed = [
        n
        for n in train_eegs
        if (planted_sim_dir / "train_eegs" / n).read_bytes() != (sim_dir / "train_eegs" / n).read_bytes()
    ]
    assert 0 < len(changed) < len(train_eegs)


def test_a_session_drawn_again_without_an_artifact_differs_by_that_artifact_only(sim_dir, planted_sim_dir, tmp_path):
    """The audit's counterfactual: a session drawn again with nothing left out is the written one, byte for byte;
    without blinks, the planted and the clean simulation give the same files (the planted blinks and the ordinary
    ones both gone, nothing else changed), which differ from the written ones where blinks are: in front."""
    from hms.synth.simulate import write_without
    from hms.synth.truth import read_events

    events = read_events(planted_sim_dir)
    train = pd.read_csv(planted_sim_dir / "train.csv")
    blinks = events[(events["kind"] == "blink") & events["spectrogram_id"].isin(train["spectrogram_id"])]
    session = int(blinks.groupby("spectrogram_id").size().idxmax())
    eegs = [f"{e}.parquet" for e in train.loc[train["spectrogram_id"] == session, "eeg_id"].unique()]
    files = [f"train_eegs/{n}" for n in eegs] + [f"train_spectrograms/{session}.parquet"]

    same = write_without(planted_sim_dir, [session], frozenset(), tmp_path / "same")
    assert all((same / f).read_bytes() == (planted_sim_dir / f).read_bytes() for f in files)
    assert sorted(p.name for p in (same / "train_eegs").iterdir()) == sorted(eegs)  # that session only
    no_blinks = write_without(planted_sim_dir, [session], frozenset({"blink"}), tmp_path / "planted")
    clean_no_blinks = write_without(sim_dir, [session], frozenset({"blink"}), tmp_path / "clean")
    assert all((no_blinks / f).read_bytes() == (clean_no_blinks / f).read_bytes() for f in files)
    change = (pd.read_parquet(planted_sim_dir / files[0]) - pd.read_parquet(no_blinks / files[0])).abs().mean()
    assert change[["Fp1", "Fp2"]].min() > 5 * change[["O1", "O2"]].max() > 0  # blinks: frontal, fading backwards
    assert change["EKG"] == 0
    with pytest.raises(DataError, match="no training session"):
        write_without(planted_sim_dir, [1], frozenset({"blink"}), tmp_path / "none")


def test_a_shortcut_names_a_class_and_an_artifact_kind():
    from hms.synth import SynthConfig

    with pytest.raises(ValueError, match="ARTIFACT one of blink, muscle, pop, ekg"):
        SynthConfig(shortcuts=("seizure=chewing",))
    with pytest.raises(ValueError, match="CLASS one of seizure"):
        SynthConfig(shortcuts=("sz=blink",))
    assert SynthConfig(shortcuts=(" LPD = Pop ",)).shortcuts == ("lpd=pop",)
