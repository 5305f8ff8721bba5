"""``python -m hms prepare``: cache every recording's front-end output so training only slices and stacks.

A 50 s window is 10,000 samples but recordings are reused by many label rows (shifted windows), so the cache holds
per recording what the image is made of — never 512x512 images per label row (106k rows would need ~50 GB):
  * ``{split}_eeg/{eeg_id}.npy``: float16 log power (chains, freqs, frames) of the whole filtered recording, hop 0.2 s;
    a label window at offset o seconds is frames [5 o, 5 o + 251): the frames a window-only STFT gives.
  * ``{split}_eeg_zoom/{eeg_id}.npy`` (with ``zoom``): the short-window view, hop 0.04 s.
  * ``{split}_spec/{spectrogram_id}.npy``: float16 organizer log power (4, 100, rows), NaN policy applied.
  * ``{split}_wave/{eeg_id}.npy`` (waveform families, ``kinds`` with "wave"): float32 bipolar signals decimated to
    ``sample_rate`` (pairs, samples) of the whole recording, before the band-pass; a label window at offset o
    seconds is samples [o fs, o fs + 50 fs), band-passed and clipped as a window when it is read, so it is the
    front-end's output for that window but for the anti-alias filter's 0.12 s at either end. Float32, not float16:
    before the band-pass the signals carry offsets and artifacts of thousands of microvolts, which float16 would
    round by several microvolts.
Folders live under ``CACHE/<hash of the spectrogram settings>/`` so changed settings never mix. Writes are atomic
(temporary file + rename), finished items are skipped, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from hms.constants import EEG_WINDOW_SAMPLES, LABEL_CENTRE_SECONDS, SAMPLE_RATE, SPEC_SECONDS_PER_ROW, SPEC_WINDOW_ROWS
from hms.data.errors import DataError
from hms.data.layout import Competition
from hms.data.signals import clean_eeg, clean_spectrogram, missing_samples, read_eeg, read_spectrogram
from hms.io import atomic_path, write_json, write_text
from hms.signal.config import FrontEndConfig
from hms.signal.image import (
    eeg_panels_from_log,
    organizer_log,
    organizer_panels_from_log,
    panels_to_image,
    stack_panels,
)
from hms.signal.spectrogram import band_filter, chain_spectrogram, decimated_pairs, preprocess

log = logging.getLogger(__name__)

Kinds = tuple[str, ...]
KINDS: Kinds = ("eeg", "spec", "wave")
IMAGE_KINDS: Kinds = ("eeg", "spec")  # what the spectrogram images are made of


@dataclass(frozen=True)
class Item:
    kind: str  # "eeg" (spectrogram views), "wave" (bipolar signals) or "spec" (organizer spectrogram)
    split: str
    item_id: int
    source: Path


def cache_dir(cache: str | os.PathLike[str], cfg: FrontEndConfig) -> Path:
    return Path(cache) / cfg.spectrogram_hash()


def eeg_cache_log(eeg: np.ndarray, cfg: FrontEndConfig) -> list[np.ndarray]:
    """Whole clean recording (time, 20) -> [50 s view, (zoom view)] float16 log power over the whole recording."""
    pairs = preprocess(eeg, cfg)
    views = [chain_spectrogram(pairs, cfg).numpy().astype(np.float16)]
    if cfg.zoom:
        views.append(chain_spectrogram(pairs, cfg, zoom=True).numpy().astype(np.float16))
    return views


def _save(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def _paths(root: Path, item: Item, cfg: FrontEndConfig) -> list[Path]:
    if item.kind in ("spec", "wave"):
        return [root / f"{item.split}_{item.kind}" / f"{item.item_id}.npy"]
    out = [root / f"{item.split}_eeg" / f"{item.item_id}.npy"]
    if cfg.zoom:
        out.append(root / f"{item.split}_eeg_zoom" / f"{item.item_id}.npy")
    return out


def prepare_item(item: Item, root: Path, cfg: FrontEndConfig) -> tuple[str, str]:
    """Compute and save one item; returns ('done' | 'cached' | 'error', note): the error message (a bad file never
    stops the run), or the missing (NaN/inf) samples the NaN policy filled, per channel / in the spectrogram."""
    targets = _paths(root, item, cfg)
    if all(p.exists() and p.stat().st_mtime >= item.source.stat().st_mtime for p in targets):
        return "cached", ""  # and newer than its source file (a regenerated dataset is prepared again)
    note = ""
    try:
        if item.kind == "spec":
            _, power = read_spectrogram(item.source)
            bad = int((~np.isfinite(power)).sum())
            note = f"{item.source}: {bad} missing (NaN/inf) power values set to 0" if bad else ""
            _save(organizer_log(clean_spectrogram(power)).numpy().astype(np.float16), targets[0])
        else:
            raw = read_eeg(item.source)
            missing = missing_samples(raw)
            if missing:
                per = ", ".join(f"{c} {n}" for c, n in missing.items())
                note = f"{item.source}: missing (NaN/inf) samples interpolated or flat: {per}"
            eeg, _ = clean_eeg(raw)
            if eeg.shape[0] < LABEL_CENTRE_SECONDS * SAMPLE_RATE:
                raise DataError(f"{item.source}: EEG shorter than {LABEL_CENTRE_SECONDS} s")
            views = [decimated_pairs(eeg, cfg)] if item.kind == "wave" else eeg_cache_log(eeg, cfg)
            for view, path in zip(views, targets, strict=True):
                _save(view, path)
    except DataError as exc:
        return "error", str(exc)
    return "done", note


def _worker(args: tuple[Item, Path, FrontEndConfig]) -> tuple[str, str]:
    torch.set_num_threads(1)
    return prepare_item(*args)


def list_items(comp: Competition, train: pd.DataFrame | None = None, kinds: Kinds = IMAGE_KINDS) -> list[Item]:
    """Every train and test recording with files, one item per kind of cache file; ``train`` (rows with files) saves
    re-reading train.csv."""
    items: list[Item] = []
    for split in ("train", "test"):
        csv = comp.train_csv if split == "train" else comp.test_csv
        if not csv.is_file():
            continue
        if split == "train":
            table = train if train is not None else comp.train(require_files=True)
        else:
            table = comp.with_files(comp.test(), "test")
        for kind in kinds:
            if kind == "spec":
                items += [
                    Item(kind, split, int(i), comp.spectrogram_path(i, split)) for i in table["spectrogram_id"].unique()
                ]
            else:
                items += [Item(kind, split, int(i), comp.eeg_path(i, split)) for i in table["eeg_id"].unique()]
    return items


def prepare(
    data: str | os.PathLike[str] | None,
    cache: str | os.PathLike[str],
    cfg: FrontEndConfig,
    workers: int = 2,
    train: pd.DataFrame | None = None,
    kinds: Kinds = IMAGE_KINDS,
) -> dict[str, int]:
    """Fill the cache (``kinds``: "eeg" and "spec" for the image families, "wave" for waveform families) for every
    train and test recording of ``data``; returns counts of done / cached / errors and of
    files with missing (NaN/inf) samples (listed in ``missing_samples.txt`` of the cache, errors in ``errors.txt``)."""
    comp = Competition.from_arg(data)
    root = cache_dir(cache, cfg)
    root.mkdir(parents=True, exist_ok=True)
    write_json(cfg.to_dict(), root / "frontend.json")
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"prepare: unknown cache kinds {sorted(unknown)}; known: {KINDS}")
    items = list_items(comp, train, kinds)
    counts = {"done": 0, "cached": 0, "errors": 0, "files with missing samples": 0}
    errors: list[str] = []
    notes: list[str] = []
    jobs = [(item, root, cfg) for item in items]
    bar = tqdm(total=len(jobs), desc="prepare", unit="file")
    # in-process (workers <= 1) the caller's torch thread count stays as it is: only pool processes are pinned to one
    results = (
        ProcessPoolExecutor(workers).map(_worker, jobs, chunksize=8)
        if workers > 1
        else (prepare_item(*job) for job in jobs)
    )
    for status, note in results:
        if status == "error":
            counts["errors"] += 1
            errors.append(f"error: {note}")
        else:
            counts[status] += 1
            if note:
                counts["files with missing samples"] += 1
                notes.append(note)
        bar.update()
    bar.close()
    if errors:
        write_text("\n".join(errors) + "\n", root / "errors.txt")
    if notes:
        write_text("\n".join(notes) + "\n", root / "missing_samples.txt")
        log.warning(
            "prepare: %d files had missing (NaN/inf) samples, filled by the NaN policy (first: %s); all listed in %s",
            len(notes),
            notes[0],
            root / "missing_samples.txt",
        )
    return counts


class CachedRecordings:
    """Slices label windows out of the cache and stacks them into CNN images (training and inference)."""

    def __init__(self, cache: str | os.PathLike[str], cfg: FrontEndConfig) -> None:
        self.root = cache_dir(cache, cfg)
        self.cfg = cfg
        if not self.root.is_dir():
            raise DataError(
                f"{self.root}: no prepared cache for these settings; run: python -m hms prepare --cache {cache}"
            )

    def _load(self, folder: str, item_id: int) -> np.ndarray:
        path = self.root / folder / f"{item_id}.npy"
        if not path.is_file():
            raise DataError(f"{path}: not in the cache; run python -m hms prepare for this dataset")
        return np.load(path, mmap_mode="r")

    def eeg_frames(self, eeg_id: int, split: str = "train") -> int:
        return int(self._load(f"{split}_eeg", eeg_id).shape[-1])

    def eeg_seconds(self, eeg_id: int, split: str = "train") -> float:
        """Length of a recording in seconds, from its cached bipolar signals."""
        return self._load(f"{split}_wave", eeg_id).shape[-1] / self.cfg.sample_rate

    def waveform(self, eeg_id: int, offset_seconds: float, split: str = "train") -> np.ndarray:
        """The label window's front-end output (pairs, 50 s x sample_rate): sliced from the cache, then band-passed
        and clipped as a window (what ``preprocess`` gives for the window read from the raw file)."""
        fs = self.cfg.sample_rate
        start, n = int(round(offset_seconds * fs)), int(round(EEG_WINDOW_SAMPLES / self.cfg.decimate))
        full = self._load(f"{split}_wave", eeg_id)
        if start < 0 or start + n > full.shape[-1]:
            raise DataError(f"eeg {eeg_id}: window at {offset_seconds:g} s runs past the cached recording")
        return band_filter(np.asarray(full[..., start : start + n], dtype=np.float32), self.cfg)

    def spec_rows(self, spectrogram_id: int, split: str = "train") -> int:
        return int(self._load(f"{split}_spec", spectrogram_id).shape[-1])

    def eeg_views(self, eeg_id: int, offset_seconds: float, split: str = "train") -> list[torch.Tensor]:
        hop = self.cfg.hop_seconds * SAMPLE_RATE
        frames = int(round(EEG_WINDOW_SAMPLES / hop)) + 1
        start = int(round(offset_seconds * SAMPLE_RATE / hop))
        full = self._load(f"{split}_eeg", eeg_id)
        if start + frames > full.shape[-1]:
            raise DataError(f"eeg {eeg_id}: window at {offset_seconds:g} s runs past the cached recording")
        views = [torch.from_numpy(np.array(full[..., start : start + frames]))]
        if self.cfg.zoom:
            zoom = self._load(f"{split}_eeg_zoom", eeg_id)
            zhop = self.cfg.zoom_hop_seconds * SAMPLE_RATE
            half = LABEL_CENTRE_SECONDS * SAMPLE_RATE // 2
            z0 = int(round((offset_seconds * SAMPLE_RATE + EEG_WINDOW_SAMPLES // 2 - half) / zhop))
            views.append(torch.from_numpy(np.array(zoom[..., z0 : z0 + int(round(2 * half / zhop)) + 1])))
        return views

    def organizer(self, spectrogram_id: int, offset_seconds: float, split: str = "train") -> torch.Tensor:
        full = self._load(f"{split}_spec", spectrogram_id)
        start = int(offset_seconds // SPEC_SECONDS_PER_ROW)
        if start + SPEC_WINDOW_ROWS > full.shape[-1]:
            raise DataError(f"spectrogram {spectrogram_id}: window at {offset_seconds:g} s runs past its end")
        return torch.from_numpy(np.array(full[..., start : start + SPEC_WINDOW_ROWS]))

    def panels(self, row: dict, split: str = "train") -> torch.Tensor:
        """(views, 4, H, W) panels for a label row (eeg_id, spectrogram_id and both offsets; test rows: 0)."""
        eeg = eeg_panels_from_log(
            self.eeg_views(int(row["eeg_id"]), row.get("eeg_label_offset_seconds", 0.0), split), self.cfg
        )
        org = organizer_panels_from_log(
            self.organizer(int(row["spectrogram_id"]), row.get("spectrogram_label_offset_seconds", 0.0), split),
            self.cfg,
        )
        return stack_panels(org, eeg)

    def image(self, row: dict, split: str = "train") -> torch.Tensor:
        return panels_to_image(self.panels(row, split), self.cfg.layout)
