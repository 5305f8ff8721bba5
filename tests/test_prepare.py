import numpy as np
import pandas as pd
import torch

from hms.data import Competition, clean_eeg, clean_spectrogram, eeg_window, read_eeg, read_spectrogram
from hms.data import spectrogram_window as spec_window
from hms.data.signals import missing_samples
from hms.signal.config import FrontEndConfig
from hms.signal.image import build_image
from hms.signal.prepare import CachedRecordings, cache_dir, prepare


def test_prepare_is_idempotent_and_resumes(sim_dir, tmp_path):
    cfg = FrontEndConfig()
    first = prepare(sim_dir, tmp_path, cfg, workers=1)
    n_items = first["done"]
    assert first["errors"] == 0 and first["cached"] == 0 and n_items > 0
    root = cache_dir(tmp_path, cfg)
    # a killed run leaves some items missing (and maybe a stray temp file): the rerun finishes only those
    victims = sorted(root.glob("train_eeg/*.npy"))[:2]
    for v in victims:
        v.unlink()
    (root / "train_eeg" / ".123.npy.x.tmp").write_bytes(b"partial")
    second = prepare(sim_dir, tmp_path, cfg, workers=2)
    assert second == {"done": 2, "cached": n_items - 2, "errors": 0, "files with missing samples": 0}
    assert all(v.exists() for v in victims)


def test_cached_images_match_window_images(sim_dir, tmp_path):
    """Training reads windows out of the cache; they match images built from the window alone (same front-end)."""
    cfg = FrontEndConfig()
    prepare(sim_dir, tmp_path, cfg, workers=1)
    cached = CachedRecordings(tmp_path, cfg)
    comp = Competition(sim_dir)
    train = comp.train()
    row = train.loc[train.groupby("eeg_id")["eeg_sub_id"].transform("max") > 2].iloc[-1].to_dict()
    eeg_path, spec_path = comp.eeg_path(row["eeg_id"]), comp.spectrogram_path(row["spectrogram_id"])
    window, _ = clean_eeg(eeg_window(read_eeg(eeg_path), row["eeg_label_offset_seconds"]))
    times, power = read_spectrogram(spec_path)
    org = clean_spectrogram(spec_window(times, power, row["spectrogram_label_offset_seconds"]))
    direct = build_image(window, org, cfg)
    from_cache = cached.image(row)
    assert from_cache.shape == direct.shape
    # identical organizer half; the EEG half differs only where the whole-recording filter sees beyond the window
    torch.testing.assert_close(from_cache[..., :256], direct[..., :256], atol=2e-3, rtol=0)
    inner = (from_cache[..., 256 + 16 : 512 - 16] - direct[..., 256 + 16 : 512 - 16]).abs()
    assert inner.mean() < 0.02 and np.corrcoef(from_cache.flatten(), direct.flatten())[0, 1] > 0.98
    test_row = pd.read_csv(sim_dir / "test.csv").iloc[0].to_dict()
    assert cached.image(test_row, split="test").shape == (1, 512, 512)


def test_prepare_redoes_a_changed_file_and_counts_its_missing_samples(sim_dir, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(sim_dir, data)
    cfg = FrontEndConfig()
    first = prepare(data, tmp_path / "cache", cfg, workers=1)
    assert first["errors"] == 0
    victim = next(p for p in sorted((data / "train_eegs").glob("*.parquet")) if not missing_samples(read_eeg(p)))
    eeg = pd.read_parquet(victim)
    eeg.iloc[[10, 20, 30], 0] = [np.inf, -np.inf, np.nan]  # a regenerated file: newer than its cached arrays
    eeg.to_parquet(victim)
    second = prepare(data, tmp_path / "cache", cfg, workers=1)
    assert second["done"] == 1 and second["files with missing samples"] == 1 and second["errors"] == 0
    note = (cache_dir(tmp_path / "cache", cfg) / "missing_samples.txt").read_text()
    assert f"{victim}: missing (NaN/inf) samples interpolated or flat: Fp1 3" in note
    cached = np.load(cache_dir(tmp_path / "cache", cfg) / "train_eeg" / f"{victim.stem}.npy")
    assert np.isfinite(cached.astype(np.float32)).all()
