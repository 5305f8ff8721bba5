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

from hms.constants import EEG_WINDOW_SAMPLES, SPEC_WINDOW_ROWS, VOTE_COLS
from hms.data import Competition, DataError
from hms.signal.config import FrontEndConfig
from hms.signal.image import eeg_panels, organizer_panels, panels_to_image, stack_panels
from hms.train.loop import load_fold

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


def predict_rows(comp: Competition, rows: pd.DataFrame, models: str | Path, split: str = "test",
                 folds: list[int] | None = None, feature_set: str | None = None, tta_swap: bool = True,
                 batch_size: int = 16, timings: dict[str, float] | None = None,
                 ) -> tuple[np.ndarray, dict[int, str]]:  # fmt: skip
    """Probabilities (n, 6) for label rows: every fold's CNN (-> SAE -> LightGBM when ``feature_set`` names a stack;
    None = the experiment's best.json, "cnn" = CNN alone), averaged over folds; rows with no usable input get the
    training prior. Also returns the problems by row position."""
    from hms.embed import run_rows
    from hms.stack import CNN_ONLY, FoldStack, default_feature_set, needs

    models = Path(models)
    timings = timings if timings is not None else {}
    prior = read_prior(models)
    paths = fold_files(models)
    if folds is not None:
        paths = [p for p in paths if int(p.stem.removeprefix("fold")) in folds]
    if not paths:
        raise DataError(f"{models}: no fold*.safetensors{f' for folds {folds}' if folds else ''}; train first "
                        "(python -m hms train --config ...)")  # fmt: skip
    device = "cuda" if torch.cuda.is_available() else "cpu"
    loaded = [load_fold(p, device) for p in paths]
    cfg = loaded[0][1]
    if any(other != cfg for _, other in loaded[1:]):
        raise DataError(f"{models}: folds were trained with different front-end settings; predict them separately")
    feature_set = feature_set or default_feature_set(models)
    stacks = None
    if feature_set != CNN_ONLY:
        if not tta_swap:
            log.warning("the %s stack was trained on TTA-averaged embeddings; predicting with TTA on", feature_set)
            tta_swap = True
        stacks = [FoldStack(models, feature_set, int(p.stem.removeprefix("fold"))) for p in paths]
    outputs, hand, problems = run_rows(comp, rows, split, [m for m, _ in loaded], cfg, tta_swap=tta_swap,
                                       hand=stacks is not None and needs(feature_set, "hand"),
                                       batch_size=batch_size, timings=timings, desc="predict")  # fmt: skip
    t0 = time.perf_counter()
    if stacks is None:
        per_fold = [o.probs for o in outputs]
    else:
        per_fold = [st.predict(o, hand) for o, st in zip(outputs, stacks, strict=True)]
    timings["stack"] = timings.get("stack", 0.0) + time.perf_counter() - t0
    probs = np.mean(per_fold, axis=0)
    no_input = ~np.isfinite(outputs[0].probs).all(axis=1)
    probs[no_input] = prior
    return probs, problems


def predict_test(comp: Competition, models: str | Path, tta_swap: bool = True, batch_size: int = 16,
                 feature_set: str | None = None) -> pd.DataFrame:  # fmt: skip
    """eeg_id + six probabilities for every test.csv row, in order; prints per-stage timings."""
    timings = {"read": 0.0, "front-end": 0.0, "cnn": 0.0, "stack": 0.0}
    test = comp.test()
    probs, problems = predict_rows(comp, test, models, "test", feature_set=feature_set, tta_swap=tta_swap,
                                   batch_size=batch_size, timings=timings)  # fmt: skip
    if problems:
        shown = "; ".join(f"{int(test['eeg_id'].iloc[i])}: {v}" for i, v in list(problems.items())[:10])
        log.warning("%d test rows had missing or unreadable inputs (%s%s)", len(problems), shown,
                    " ..." if len(problems) > 10 else "")  # fmt: skip
    n = max(1, len(test))
    n_folds = len(fold_files(models))
    print("seconds per test EEG: " + ", ".join(f"{k} {v / n:.4f}" for k, v in timings.items()) + f" ({n_folds} folds)")
    out = pd.DataFrame(probs, columns=list(VOTE_COLS))
    out.insert(0, "eeg_id", test["eeg_id"].to_numpy())
    return out
