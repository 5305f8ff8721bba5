"""Test-time inference of one experiment: raw files -> the family's inputs -> every fold (+ swap TTA) -> (SAE ->
LightGBM when the experiment has a stack) -> averaged probabilities.

A row whose EEG or spectrogram is missing or unreadable keeps the modality that exists (the other is blank); with
neither, it gets the training prior. Such rows are reported, never fatal."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hms.constants import VOTE_COLS
from hms.data import Competition
from hms.experiment import ExperimentDir
from hms.predict import load_folds, run_rows
from hms.stack.model import CNN_ONLY, FoldStack, default_feature_set, needs

log = logging.getLogger(__name__)


def predict_rows(comp: Competition, rows: pd.DataFrame, exp: ExperimentDir | str | Path, split: str = "test",
                 folds: list[int] | None = None, feature_set: str | None = None, tta_swap: bool = True,
                 batch_size: int = 16, timings: dict[str, float] | None = None,
                 ) -> tuple[np.ndarray, dict[int, str]]:  # fmt: skip
    """Probabilities (n, 6) for label rows: every fold's model (-> SAE -> LightGBM when ``feature_set`` names a
    stack; None = the experiment's best.json, "cnn" = the fold models alone), averaged over folds; rows with no
    usable input get the training prior. Also returns the problems by row position."""
    exp = ExperimentDir.of(exp)
    timings = timings if timings is not None else {}
    prior = exp.read_prior()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    loaded = load_folds(exp, folds, device)
    feature_set = feature_set or default_feature_set(exp)
    stacks = None
    if feature_set != CNN_ONLY:
        if not tta_swap:
            log.warning("the %s stack was trained on TTA-averaged embeddings; predicting with TTA on", feature_set)
            tta_swap = True
        stacks = [FoldStack(exp, feature_set, f.fold) for f in loaded]
    outputs, hand, problems = run_rows(comp, rows, split, loaded, tta_swap=tta_swap,
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


def predict_test(comp: Competition, exp: ExperimentDir | str | Path, tta_swap: bool = True, batch_size: int = 16,
                 feature_set: str | None = None) -> pd.DataFrame:  # fmt: skip
    """eeg_id + six probabilities for every test.csv row, in order; prints per-stage timings."""
    exp = ExperimentDir.of(exp)
    timings = {"read": 0.0, "front-end": 0.0, "model": 0.0, "stack": 0.0}
    test = comp.test()
    probs, problems = predict_rows(comp, test, exp, "test", feature_set=feature_set, tta_swap=tta_swap,
                                   batch_size=batch_size, timings=timings)  # fmt: skip
    if problems:
        shown = "; ".join(f"{int(test['eeg_id'].iloc[i])}: {v}" for i, v in list(problems.items())[:10])
        log.warning("%d test rows had missing or unreadable inputs (%s%s)", len(problems), shown,
                    " ..." if len(problems) > 10 else "")  # fmt: skip
    n = max(1, len(test))
    n_folds = len(exp.folds_with_weights())
    print("seconds per test EEG: " + ", ".join(f"{k} {v / n:.4f}" for k, v in timings.items()) + f" ({n_folds} folds)")
    out = pd.DataFrame(probs, columns=list(VOTE_COLS))
    out.insert(0, "eeg_id", test["eeg_id"].to_numpy())
    return out
