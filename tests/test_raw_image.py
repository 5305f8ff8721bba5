"""The raw-EEG-as-image family: the rendered image maps back to the right signal (chain) and seconds, pixel by pixel
and per feature-map cell, and an experiment trains from its config and reaches the leaderboard and submission.py."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hms.constants import CHAIN_NAMES, VOTE_COLS
from hms.families import get_family
from hms.families.raw_image import ROWS_PER_SIGNAL, SEGMENTS, image_shape, pixel_source, render
from hms.signal.config import FrontEndConfig
from hms.signal.montage import PAIR_NAMES

ROOT = Path(__file__).resolve().parents[1]
FAMILY = get_family("raw_image")
FS = 50
T = 50 * FS


@pytest.mark.parametrize(("pair", "second"), [(0, 0.0), (5, 12.34), (11, 27.5), (15, 49.98)])
def test_an_impulse_lands_on_the_rows_of_its_signal_and_the_column_of_its_second(pair, second):
    x = torch.zeros(1, 16, T)
    sample = int(round(second * FS))
    x[0, pair, sample] = 1.0
    image = render(x)[0, 0]
    assert tuple(image.shape) == image_shape(T) == (16 * SEGMENTS * ROWS_PER_SIGNAL, T // SEGMENTS)
    rows, cols = torch.nonzero(image, as_tuple=True)
    assert len(rows) == ROWS_PER_SIGNAL and len(set(cols.tolist())) == 1  # one column, the signal's rows
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        assert pixel_source(r, c, T) == (pair, sample)


def test_every_pixel_maps_back_to_the_value_it_shows():
    x = torch.randn(2, 16, T)
    image = render(x)
    rng = np.random.default_rng(0)
    for r, c in zip(rng.integers(0, image.shape[2], 200), rng.integers(0, image.shape[3], 200), strict=True):
        pair, sample = pixel_source(int(r), int(c), T)
        assert torch.equal(image[:, 0, r, c], x[:, pair, sample])


def test_each_feature_map_cell_is_placed_on_the_seconds_its_pixels_show():
    """A stride-32 grid over the (320, 250) image: 10 rows (one per 5 s segment) x 8 columns; each cell's seconds
    and its box on the waveforms are those of the pixels it covers."""
    view, fe = FAMILY.view, FrontEndConfig()
    h, w = 10, 8
    cells = view.position_cells(fe, (16, T), h * w)
    assert len(cells) == h * w and (cells["chain"] == "").all()  # a segment's 16 signals: every chain
    height, width = image_shape(T)
    for p in (0, 9, 17, 42, 79):
        i, j = divmod(p, w)
        r0, c0 = i * 32, j * 32  # stride 32
        c1 = min((j + 1) * 32, width) - 1
        first, last = pixel_source(r0, c0, T), pixel_source(r0, c1, T)
        assert cells.loc[p, "t0"] == pytest.approx(first[1] / FS)
        assert cells.loc[p, "t1"] == pytest.approx((last[1] + 1) / FS)
        x0, y0, x1, y1 = view.cell_box((16, T), h * w, p)
        assert (y0, y1) == (0.0, 16.0) and (x0, x1) == (first[1], last[1] + 1)


def test_finer_rows_name_the_chain_of_a_cell():
    """The chain column is the cell's own chain when its rows hold one chain's signals (a stride-8 grid: 4 signals of
    2 rows per cell)."""
    cells = FAMILY.view.position_cells(FrontEndConfig(), (16, T), 40 * 32)
    assert list(cells["chain"].iloc[[0, 32, 64, 96]]) == list(CHAIN_NAMES)
    assert PAIR_NAMES[0].startswith("Fp1")


def test_the_family_trains_from_its_config_and_reaches_submission(tiny_raw_image, sim_dir, tmp_path):
    sys.path.insert(0, str(ROOT))
    import submission

    scores = pd.read_csv(tiny_raw_image / "scores.csv")
    assert np.isfinite(scores.set_index("part").loc["oof", "kl_all"])
    assert pd.read_csv(tiny_raw_image.parents[1] / "files" / "leaderboard.csv")["experiment"].tolist() == ["img"]
    assert any((tiny_raw_image.parents[1] / "cache").glob("*/train_wave/*.npy"))  # the waveform cache feeds it
    out = tmp_path / "submission.csv"
    assert submission.main(["--data", str(sim_dir), "--experiment-dir", str(tiny_raw_image), "--out", str(out)]) == 0
    np.testing.assert_allclose(pd.read_csv(out)[list(VOTE_COLS)].sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_the_report_places_saliency_and_position_features_on_signals_and_seconds(tiny_raw_image, sim_dir, tmp_path):
    """``hms explain`` on the image family: its saliency maps are drawn on the 16 bipolar signals (the network renders
    the image itself, so gradients land on the waveforms) and its per-position SAE features name their seconds."""
    from conftest import SAE_TINY

    from hms.explain.run import run_explain
    from hms.sae.position_run import run_position_sae
    from hms.sae.positions import PositionSettings
    from hms.sae.run import run_sae

    models = tiny_raw_image.parent
    run_position_sae("img", sim_dir, models, SAE_TINY, PositionSettings(per_window=4), progress=False)
    table = run_sae("img", sim_dir, models, SAE_TINY, files_dir=tmp_path / "files", progress=False)
    assert len(table) == 1 and (table["l0"] > 0).all()
    out = tmp_path / "report"
    settings = {"top": 2, "cards_per_class": 1, "n_saliency": 2, "ig_steps": 2, "progress": False}
    tables = run_explain("img", sim_dir, models, fold=0, out=out, **settings)
    assert len(tables["rankings"]) and (out / "index.html").is_file()
    page = (out / "index.html").read_text()
    assert "rows are the 16 bipolar signals" in page and page.count("data:image/png;base64,") >= 2
    located = pd.read_csv(out / "position_features.csv")
    assert len(located) and (located["peaks_at"].str.contains(r"\d+–\d+ s") | (located["density"] == 0)).all()
