"""Inference on test.csv: raw files -> the shared front-end -> every fold (+ swap TTA) -> averaged probabilities.

A row whose EEG or spectrogram is missing or unreadable keeps the modality that exists (the other panels are blank);
with neither, it gets the training prior. Such rows are reported, never fatal."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from hms.constants import EEG_WINDOW_SAMPLES, SPEC_WINDOW_ROWS, VOTE_COLS
from hms.data import Competition, DataError
from hms.signal.config import FrontEndConfig
from hms.signal.image import eeg_panels, organizer_panels, panels_to_image, stack_panels
from hms.train.loop import load_fold, predict_images

log = logging.getLogger(__name__)


def fold_files(models: str | Path) -> list[Path]:
    return sorted(Path(models).glob("fold*.safetensors"))


def read_prior(models: str | Path) -> np.ndarray:
    path = Path(models) / "prior.json"
    if not path.is_file():
        raise DataError(f"{path}: missing; the training run writes it (python -m hms train or hms baseline)")
    prior = json.loads(path.read_text())["prior"]
    return np.array([prior[c] for c in VOTE_COLS])


def load_inputs(comp: Competition, row: dict, split: str = "test") -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """(clean EEG window or None, clean organizer window or None, problem description)."""
    problems = []
    eeg = spec = None
    try:
        eeg, nan_frac = comp.clean_eeg_window(row, split)
        if nan_frac[:-1].min() == 1.0:  # every scalp channel empty: nothing to read from the EEG
            eeg = None
            problems.append("EEG all NaN")
    except DataError as exc:
        problems.append(str(exc).split(": ", 1)[-1].split(";")[0])
    try:
        spec = comp.clean_spectrogram_window(row, split)
    except DataError as exc:
        problems.append("spectrogram " + str(exc).split(": ", 1)[-1].split(";")[0])
    return eeg, spec, "; ".join(problems)


def images_for(eegs: list[np.ndarray | None], specs: list[np.ndarray | None], cfg: FrontEndConfig) -> torch.Tensor:
    """Batch of images; a missing modality becomes blank (-1) panels."""
    eeg_stack = np.stack([e if e is not None else np.zeros((EEG_WINDOW_SAMPLES, 20), np.float32) for e in eegs])
    spec_stack = np.stack([s if s is not None else np.zeros((SPEC_WINDOW_ROWS, 400), np.float32) for s in specs])
    eeg_p, org_p = eeg_panels(eeg_stack, cfg), organizer_panels(spec_stack, cfg)
    for i, (e, s) in enumerate(zip(eegs, specs, strict=True)):
        if e is None:
            eeg_p[i] = -1.0
        if s is None:
            org_p[i] = -1.0
    return panels_to_image(stack_panels(org_p, eeg_p), cfg.layout)


def predict_test(comp: Competition, models: str | Path, tta_swap: bool = True, batch_size: int = 16) -> pd.DataFrame:
    """eeg_id + six probabilities for every test.csv row, in order; prints per-stage timings."""
    timings = {"read": 0.0, "front-end": 0.0, "cnn": 0.0}
    test = comp.test()
    prior = read_prior(models)
    folds = [load_fold(p) for p in fold_files(models)]
    if not folds:
        raise DataError(f"{models}: no fold*.safetensors; train first (python -m hms train --config ...)")
    cfg = folds[0][1]
    if any(other != cfg for _, other in folds[1:]):
        raise DataError(f"{models}: folds were trained with different front-end settings; predict them separately")
    probs = np.tile(prior, (len(test), 1))
    problems: dict[int, str] = {}
    rows = test.to_dict("records")
    for start in tqdm(range(0, len(rows), batch_size), desc="predict", unit="batch"):
        chunk = rows[start : start + batch_size]
        t0 = time.perf_counter()
        loaded = [load_inputs(comp, r) for r in chunk]
        timings["read"] += time.perf_counter() - t0
        usable = [i for i, (e, s, _) in enumerate(loaded) if e is not None or s is not None]
        for i, (_, _, problem) in enumerate(loaded):
            if problem:
                problems[int(chunk[i]["eeg_id"])] = problem
        if not usable:
            continue
        t0 = time.perf_counter()
        images = images_for([loaded[i][0] for i in usable], [loaded[i][1] for i in usable], cfg)
        timings["front-end"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        fold_probs = [predict_images(model, images, cfg, tta_swap)[0] for model, _ in folds]
        timings["cnn"] += time.perf_counter() - t0
        probs[[start + i for i in usable]] = np.mean(fold_probs, axis=0)
    if problems:
        shown = "; ".join(f"{k}: {v}" for k, v in list(problems.items())[:10])
        log.warning("%d test rows had missing or unreadable inputs (%s%s)", len(problems), shown,
                    " ..." if len(problems) > 10 else "")  # fmt: skip
    n = max(1, len(test))
    print(
        "seconds per test EEG: " + ", ".join(f"{k} {v / n:.4f}" for k, v in timings.items()) + f" ({len(folds)} folds)"
    )
    out = pd.DataFrame(probs, columns=list(VOTE_COLS))
    out.insert(0, "eeg_id", test["eeg_id"].to_numpy())
    return out
