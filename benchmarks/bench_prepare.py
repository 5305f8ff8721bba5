"""EEG -> stacked-image throughput: ours (hms.signal) against the popular public-starter recipe, same run, one core.

Reference (written here, as the starter notebooks do it): librosa melspectrogram per bipolar pair on the central
10,000 samples, n_fft 1024, win_length 128, hop len//256, 128 mels, fmax 20, power_to_db, (x + 40) / 40, mean of the
chain's 4 pairs -> four 128x256 panels. Ours: NaN policy, montage, band-pass, torch.stft chain spectrograms, log,
scaling and resize -> four 128x256 panels (the EEG half of the 512x512 image).

Then it measures ``prepare`` on a simulated competition (2 workers) and projects the time to prepare the full
training set (17,089 EEGs, 11,138 spectrograms) on 2 cores, and checks that memory stays flat over a long run.
The last line is the throughput ratio.

    python benchmarks/bench_prepare.py [--rounds 5] [--sim data/sim]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from hms.constants import CHAINS, EEG_CHANNELS, EEG_WINDOW_SAMPLES  # noqa: E402
from hms.data import (  # noqa: E402
    Competition,  # noqa: E402
    clean_eeg,
    read_eeg,
)
from hms.paths import REPO_ROOT, SHARED_SAMPLE_DIR  # noqa: E402
from hms.signal.config import FrontEndConfig  # noqa: E402
from hms.signal.image import eeg_panels  # noqa: E402
from hms.signal.prepare import cache_dir, list_items, prepare, prepare_item  # noqa: E402

torch.set_num_threads(1)
FULL_EEGS, FULL_SPECS = 17_089, 11_138
REAL_MEAN_EEG_SECONDS = 80.0  # mean of (last label offset + 50 s) over the real train.csv


def reference_panels(window: np.ndarray) -> np.ndarray:
    """The public-starter recipe (librosa), four (128, 256) chain panels."""
    import librosa

    index = {c: i for i, c in enumerate(EEG_CHANNELS)}
    out = np.zeros((128, 256, 4), dtype=np.float32)
    for k, pairs in enumerate(CHAINS.values()):
        for a, b in pairs:
            x = window[:, index[a]] - window[:, index[b]]
            finite = np.isfinite(x)
            m = float(x[finite].mean()) if finite.any() else 0.0  # the starters fill NaN with the mean
            x = np.nan_to_num(x, nan=m)
            mel = librosa.feature.melspectrogram(
                y=x, sr=200, hop_length=len(x) // 256, n_fft=1024, n_mels=128, fmin=0, fmax=20, win_length=128
            )
            db = (librosa.power_to_db(mel, ref=np.max).astype(np.float32)[:, :256] + 40) / 40
            out[:, :, k] += db
        out[:, :, k] /= 4.0
    return out


def ours_panels(window: np.ndarray, cfg: FrontEndConfig) -> torch.Tensor:
    clean, _ = clean_eeg(window)
    return eeg_panels(clean, cfg)


def load_windows(sim: Path) -> dict[str, list[np.ndarray]]:
    sets: dict[str, list[np.ndarray]] = {}
    real = sorted((SHARED_SAMPLE_DIR / "train_eegs").glob("*.parquet")) + sorted(
        (SHARED_SAMPLE_DIR / "test_eegs").glob("*.parquet")
    )
    if real:
        sets["real"] = [_central(read_eeg(p)) for p in real]
    sets["simulated"] = [_central(read_eeg(p)) for p in sorted((sim / "train_eegs").glob("*.parquet"))[:24]]
    return sets


def _central(eeg: np.ndarray) -> np.ndarray:
    mid = eeg.shape[0] // 2
    return np.ascontiguousarray(eeg[mid - EEG_WINDOW_SAMPLES // 2 : mid + EEG_WINDOW_SAMPLES // 2])


def throughput(fn, windows: list[np.ndarray], rounds: int) -> float:
    fn(windows[0])  # warm-up
    start = time.perf_counter()
    for _ in range(rounds):
        for w in windows:
            fn(w)
    return rounds * len(windows) / (time.perf_counter() - start)


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sim", default=str(REPO_ROOT / "data" / "sim"), help="simulated competition (make run)")
    parser.add_argument("--memory-iterations", type=int, default=3000)
    args = parser.parse_args()
    sim = Path(args.sim)
    if not (sim / "train.csv").is_file():
        raise SystemExit(f"{sim}: no simulated competition; run `make run` or python -m hms synth --out {sim}")
    cfg = FrontEndConfig()
    sets = load_windows(sim)

    # 1) front-end throughput, interleaved rounds so both see the same machine state
    totals = {"ours": 0.0, "reference": 0.0}
    counts = {"ours": 0, "reference": 0}
    for name, windows in sets.items():
        ours_rates, ref_rates = [], []
        for _ in range(args.rounds):
            ref_rates.append(throughput(reference_panels, windows, 1))
            ours_rates.append(throughput(lambda w: ours_panels(w, cfg), windows, 1))
        ours, ref = float(np.median(ours_rates)), float(np.median(ref_rates))
        print(
            f"{name:9s} ({len(windows)} EEGs): ours {ours:7.1f} EEG/s   reference {ref:6.1f} EEG/s   x{ours / ref:.1f}"
        )
        totals["ours"] += len(windows) / ours
        totals["reference"] += len(windows) / ref
        counts["ours"] += len(windows)
        counts["reference"] += len(windows)

    # 2) memory over a long run
    windows = sets["simulated"]
    marks = []
    for i in range(args.memory_iterations):
        ours_panels(windows[i % len(windows)], cfg)
        if i in (args.memory_iterations // 10, args.memory_iterations // 2, args.memory_iterations - 1):
            marks.append(rss_mb())
    print(f"memory over {args.memory_iterations} images: RSS {marks[0]:.0f} -> {marks[1]:.0f} -> {marks[2]:.0f} MB")

    # 3) prepare: per-file cost on one core (EEG cost scales with recording length), then the real 2-worker run
    comp_items = list_items(Competition(sim))
    tmp = Path(tempfile.mkdtemp(prefix="hms-bench-"))
    try:
        root = cache_dir(tmp / "one", cfg)
        eeg_time = eeg_seconds = spec_time = 0.0
        n_spec = 0
        for item in comp_items:
            start = time.perf_counter()
            prepare_item(item, root, cfg)
            took = time.perf_counter() - start
            if item.kind == "eeg":
                eeg_time += took
                eeg_seconds += read_eeg(item.source).shape[0] / 200
            else:
                spec_time += took
                n_spec += 1
        start = time.perf_counter()
        done = prepare(sim, tmp / "two", cfg, workers=2)["done"]
        wall = time.perf_counter() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    per_eeg_second, per_spec = eeg_time / eeg_seconds, spec_time / n_spec
    print(
        f"prepare, one core: {per_eeg_second * 1000:.2f} ms per EEG second, {per_spec * 1000:.1f} ms per spectrogram;"
        f" 2 workers: {done} files in {wall:.1f} s"
    )
    projected = (FULL_EEGS * REAL_MEAN_EEG_SECONDS * per_eeg_second + FULL_SPECS * per_spec) / 2
    print(
        f"projected full training set ({FULL_EEGS} EEGs of {REAL_MEAN_EEG_SECONDS:.0f} s on average, "
        f"{FULL_SPECS} spectrograms) on 2 cores: {projected / 60:.1f} min"
    )
    ours_rate = counts["ours"] / totals["ours"]
    ref_rate = counts["reference"] / totals["reference"]
    print(
        f"EEG -> stacked image, one core: ours {ours_rate:.1f} EEG/s, reference {ref_rate:.1f} EEG/s, "
        f"ratio {ours_rate / ref_rate:.1f}x"
    )


if __name__ == "__main__":
    main()
