"""The raw-EEG family: its waveform augmentations (hemisphere swap, time shift, reversal, channel dropout), its
network, and an experiment that trains from a config, lands on the leaderboard and feeds SAE, stack and explain."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from hms.constants import CLASSES, EEG_CHANNELS, VOTE_COLS
from hms.data import Competition
from hms.data.windows import random_shift
from hms.experiment import ExperimentDir, load_config
from hms.families import AugmentConfig, get_family
from hms.families.raw_eeg import (
    SWAP_PAIRS,
    RawEEGConfig,
    RawEEGNet,
    WaveformDataset,
    drop_channels,
    swap_waveforms,
    waveforms,
)
from hms.signal.config import FrontEndConfig
from hms.signal.hemisphere import swap_eeg
from hms.signal.montage import PAIR_NAMES

FE = FrontEndConfig()  # 50 Hz, as configs/raw_quick.yaml
RAW = get_family("raw_eeg")
NONE = AugmentConfig(swap_p=0.0, shift_seconds=0, mask_p=0.0)


@pytest.fixture(scope="module")
def comp(sim_dir) -> Competition:
    return Competition(sim_dir)


def _window(comp: Competition, i: int = 0) -> np.ndarray:
    eeg, _ = comp.clean_eeg_window(comp.train().iloc[i].to_dict())
    return eeg


def test_swap_twice_is_the_identity_and_exchanges_named_pairs():
    x = torch.randn(3, 16, 100)
    torch.testing.assert_close(swap_waveforms(swap_waveforms(x)), x)
    left, right = PAIR_NAMES.index("Fp1-F7"), PAIR_NAMES.index("Fp2-F8")
    assert SWAP_PAIRS[left] == right and SWAP_PAIRS[PAIR_NAMES.index("P3-O1")] == PAIR_NAMES.index("P4-O2")


def test_swap_of_the_signal_is_the_signal_of_the_swapped_recording(comp):
    eeg = _window(comp)
    torch.testing.assert_close(
        swap_waveforms(waveforms([eeg], FE)), waveforms([swap_eeg(eeg)], FE), atol=1e-3, rtol=1e-4
    )


def test_waveforms_are_the_shared_front_end_without_normalisation(comp):
    eeg = _window(comp)
    x = waveforms([eeg, None], FE)
    assert x.shape == (2, 16, 50 * 50)  # 50 s at 50 Hz
    assert float(x[0].abs().max()) <= FE.clip_uv and float(x[0].std()) > 1.0  # microvolts, not z-scores
    assert float(x[1].abs().max()) == 0.0  # a missing EEG is blank


def shifted_offset(offset: float, recording_seconds: float, max_shift: int, rng: np.random.Generator) -> float:
    """The raw family's shift of a label offset: the shared window shift, in whole seconds, EEG window only."""
    row = {"eeg_label_offset_seconds": offset}
    return random_shift(row, rng, max_shift, 1, recording_seconds - 50)["eeg_label_offset_seconds"]


def test_time_shift_stays_inside_the_recording_and_reads_the_shifted_window(comp):
    rng = np.random.default_rng(0)
    for _ in range(50):
        d = shifted_offset(3.0, 60.0, 4, rng)
        assert 0 <= d <= 10 and abs(d - 3.0) <= 4 and d == int(d)
    assert shifted_offset(0.0, 50.0, 4, rng) == 0.0  # no room: unchanged
    rows = comp.train().head(8)
    shifted = WaveformDataset(RAW, rows, comp, FE, AugmentConfig(swap_p=0.0, shift_seconds=4, mask_p=0.0), seed=1)
    moved = 0
    for i in range(len(rows)):
        row = rows.iloc[i].to_dict()
        rng = np.random.default_rng([1, 0, int(row["eeg_id"]) % (2**32), i])
        seconds = comp.eeg_seconds(int(row["eeg_id"]))
        offset = shifted_offset(float(row["eeg_label_offset_seconds"]), seconds, 4, rng)
        eeg, _ = comp.clean_eeg_window(row | {"eeg_label_offset_seconds": offset})
        torch.testing.assert_close(shifted[i]["inputs"], waveforms([eeg], FE)[0])
        moved += offset != row["eeg_label_offset_seconds"]
    assert moved > 0


def test_reversal_and_channel_dropout(comp):
    rows = comp.train().head(4)
    plain = WaveformDataset(RAW, rows, comp, FE, NONE)
    reversed_ = WaveformDataset(
        RAW, rows, comp, FE, AugmentConfig(swap_p=0.0, shift_seconds=0, mask_p=0.0, reverse_p=1.0)
    )
    for i in range(len(rows)):
        torch.testing.assert_close(reversed_[i]["inputs"], plain[i]["inputs"].flip(-1))
        assert torch.equal(reversed_[i]["target"], plain[i]["target"])
    x = torch.randn(16, 50) + 5
    out = drop_channels(x, 3, np.random.default_rng(0))
    zero = (out == 0).all(dim=1)
    assert int(zero.sum()) == 3 and torch.equal(out[~zero], x[~zero])
    dropped = WaveformDataset(
        RAW,
        rows,
        comp,
        FE,
        AugmentConfig(swap_p=0.0, shift_seconds=0, mask_p=0.0, channel_drop_p=1.0, channel_drop_max=2),
    )
    n_zero = [int((dropped[i]["inputs"] == 0).all(dim=1).sum()) for i in range(len(rows))]
    assert all(1 <= n <= 2 for n in n_zero)


def test_augmentations_are_deterministic_in_seed_and_epoch(comp):
    rows = comp.train().head(4)
    aug = AugmentConfig(swap_p=0.5, shift_seconds=4, mask_p=0.0, reverse_p=0.5, channel_drop_p=0.5)
    a, b = (
        WaveformDataset(RAW, rows, comp, FE, aug, seed=3, epoch=1),
        WaveformDataset(RAW, rows, comp, FE, aug, seed=3, epoch=1),
    )
    for i in range(len(rows)):
        assert torch.equal(a[i]["inputs"], b[i]["inputs"])


@pytest.mark.parametrize("sequence", ["gru", "attention", "none"])
def test_network_returns_logits_and_embedding(sequence):
    net = RawEEGNet(RawEEGConfig(filters=4, blocks=2, width=8, sequence=sequence)).eval()
    out = net(torch.randn(2, 16, 2500) * 30)
    assert out["logits"].shape == (2, 6) and out["embedding"].shape == (2, net.embed_dim)
    with pytest.raises(ValueError, match="sequence"):
        RawEEGConfig(sequence="lstm")


def test_configs_load_with_the_family_settings():
    for name, rate in (("raw_quick", 50.0), ("raw_kaggle", 200.0)):
        cfg = load_config(f"configs/{name}.yaml")
        assert cfg.family == "raw_eeg" and isinstance(cfg.model, RawEEGConfig) and cfg.frontend.sample_rate == rate
    assert get_family("raw_eeg").modalities == ("eeg",)


def test_raw_experiment_trains_and_lands_on_the_leaderboard(tiny_raw):
    exp = ExperimentDir(tiny_raw)
    assert exp.folds_with_weights() == [0, 1]
    oof = pd.read_parquet(exp.oof_parquet)
    p = oof[list(VOTE_COLS)].to_numpy()
    assert np.isfinite(p).all() and np.abs(p.sum(axis=1) - 1).max() < 1e-5
    board = pd.read_csv(tiny_raw.parents[1] / "files" / "leaderboard.csv")
    assert (board["experiment"] == "raw").sum() == 1 and np.isfinite(board["oof_kl_golden"]).all()


@pytest.mark.slow
def test_raw_experiment_feeds_sae_stack_and_explain(tiny_raw, sim_dir, tmp_path):
    from conftest import SAE_TINY

    from hms.explain.run import run_explain
    from hms.sae.position_run import run_position_sae
    from hms.sae.positions import PositionSettings
    from hms.sae.run import run_sae
    from hms.stack.run import run_stack

    files = tmp_path / "files"
    run_position_sae("raw", sim_dir, tiny_raw.parent, SAE_TINY, PositionSettings(per_window=4), progress=False)
    table = run_sae("raw", sim_dir, tiny_raw.parent, SAE_TINY, files_dir=files, progress=False)
    assert len(table) == 2 and (table["l0"] > 0).all()
    ablation = run_stack("raw", sim_dir, tiny_raw.parent, ("logits", "logits_sae"), rounds=10, files_dir=files)
    assert np.isfinite(ablation["oof_kl_all"]).all()
    out = tmp_path / "report"
    tables = run_explain(
        "raw",
        sim_dir,
        tiny_raw.parent,
        fold=0,
        top=2,
        out=out,
        cards_per_class=1,
        n_saliency=2,
        ig_steps=2,
        progress=False,
    )
    assert len(tables["rankings"]) and (out / "index.html").is_file()
    page = (out / "index.html").read_text()
    assert "rows are the 16 bipolar signals" in page  # waveform saliency maps (bipolar signal x seconds)
    located = pd.read_csv(out / "position_features.csv")  # the per-position SAE's features and the seconds they fire
    assert len(located) and 'id="positions"' in page
    assert (located["peaks_at"].str.contains(r"\d+–\d+ s") | (located["density"] == 0)).all()
    assert page.count("data:image/png;base64,") >= 2
    cards = json.loads((out / "dashboard.json").read_text())  # per-position cards: effect and DLA through the pool
    located_cards = [c for c in cards if c["kind"] == "position"]
    assert located_cards and all(set(c["dla"]) == set(CLASSES) for c in located_cards)


def test_the_prepared_waveform_cache_gives_the_windows_the_raw_files_give(comp, tmp_path):
    """``prepare`` writes each recording's decimated bipolar signals once; a window sliced from them (with the same
    seeded shift) and band-passed as a window is the front-end of the window read from the parquet file, but for the
    anti-alias filter's first and last 0.12 s (the cache decimates the whole recording)."""
    rows = comp.train().head(6)
    RAW.prepare(comp, rows, FE, str(tmp_path), workers=1)
    source = RAW.train_source(comp, FE, str(tmp_path))
    aug = AugmentConfig(swap_p=0.5, shift_seconds=4, mask_p=0.0)
    cached, direct = (
        RAW.train_dataset(rows, source, FE, aug, seed=2),
        WaveformDataset(RAW, rows, comp, FE, aug, seed=2),
    )
    for i in range(len(rows)):
        a, b = cached[i]["inputs"], direct[i]["inputs"]
        assert a.shape == b.shape == (16, 2500) and a.dtype == torch.float32
        d = (a - b).abs()
        assert float(d.mean()) < 0.01 * float(b.std())  # the same signal
        assert float(d[:, 5 * 50 : 45 * 50].max()) < 0.01 * float(b.abs().max())  # to the microvolt inside
    assert sorted(p.name for p in (next(tmp_path.iterdir()) / "train_wave").iterdir()) == sorted(
        f"{i}.npy" for i in rows["eeg_id"].unique()
    )


def test_the_quality_flags_mark_exactly_the_signals_a_missing_channel_flattens(comp):
    """An electrode that is all NaN becomes zeros under the NaN policy: the bipolar signals it takes part in, and only
    those, are flagged."""
    from hms.data import clean_eeg
    from hms.signal.montage import PAIR_NAMES

    raw = _window(comp).copy()
    raw[:, EEG_CHANNELS.index("C3")] = np.nan
    raw[:, EEG_CHANNELS.index("F3")] = np.nan
    eeg, _ = clean_eeg(raw)
    flags = RAW.quality(waveforms([eeg], FE), FE)[0]
    assert {PAIR_NAMES[i] for i in np.flatnonzero(flags.numpy())} == {"F3-C3"}
    one = _window(comp).copy()
    one[:, EEG_CHANNELS.index("C3")] = np.nan
    eeg_one, _ = clean_eeg(one)
    assert RAW.quality(waveforms([eeg_one], FE), FE).sum() == 0  # one missing electrode: its pairs still move
