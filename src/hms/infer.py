"""Test-time inference of one experiment: raw files -> the family's inputs -> every fold (+ swap TTA) -> (SAE or
per-position SAE -> LightGBM when the experiment has a stack) -> averaged probabilities.

A row whose EEG or spectrogram is missing or unreadable keeps the modality that exists (the other is blank); with
neither, it gets the training prior. Every such row is named in the summary warning with its reason, never fatal. A
non-finite model output for a row that had inputs is a bug (``hms.predict.ModelOutputError``), not a fallback."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError, safe_open

from hms.constants import VOTE_COLS
from hms.data import Competition, DataError
from hms.experiment import ExperimentDir
from hms.predict import check_fold_weights, fold_spec, load_folds, run_rows
from hms.sae.position_codes import PositionCodeSink
from hms.stack.model import CNN_ONLY, FoldStack, StackInputs, check_feature_set, default_feature_set, needs
from hms.timing import timed

log = logging.getLogger(__name__)


def check_experiment(exp: ExperimentDir | str | Path, feature_set: str | None = None) -> str:
    """Check everything inference will read, before any work, and say what it will do. Raises ``DataError`` naming
    each missing or broken file and the fix: a folder without a valid prior.json; fold sidecars without their weights
    (e.g. a Kaggle dataset upload that lost the *.safetensors) or weights without sidecars; a sidecar that is not JSON,
    names an unknown family or settings this version does not know; weights that are truncated, corrupt or of another
    architecture; the stack's LightGBM models, their sidecars and the SAEs when a stack is used."""
    exp = ExperimentDir.of(exp)
    if not exp.root.is_dir():
        raise DataError(
            f"{exp.root}: no such experiment folder; pass --experiment-dir models/NAME (python -m hms train writes it)"
        )
    exp.read_prior()
    weights, sidecars = exp.folds_with_weights(), exp.folds_with_sidecars()
    problems = [
        f"{exp.weights(k).name} missing (its sidecar {exp.sidecar(k).name} is there)"
        for k in sidecars
        if k not in weights
    ]
    problems += [
        f"{exp.sidecar(k).name} missing (it records the family and front-end of {exp.weights(k).name})"
        for k in weights
        if k not in sidecars
    ]
    for k in weights:
        try:
            with safe_open(str(exp.weights(k)), "pt") as f:
                f.keys()
        except (SafetensorError, OSError) as exc:
            problems.append(f"{exp.weights(k).name} unreadable ({exc}): truncated or corrupt")
    if problems:
        raise DataError(
            f"{exp.root}: " + "; ".join(problems) + ". Copy the complete experiment folder again "
            "(every fold*.safetensors with its fold*.json) or retrain"
        )
    if not weights:
        return f"{exp.name}: no fold models (prior.json only): every row gets the training prior"
    for k in weights:
        check_fold_weights(exp, k, fold_spec(exp, k))
    chosen = check_feature_set(feature_set, "--stack") if feature_set else default_feature_set(exp)
    if chosen != CNN_ONLY:
        missing = [p for k in weights for p in stack_files(exp, chosen, k) if not p.is_file()]
        if missing:
            raise DataError(
                f"{exp.root}: the {chosen} stack lacks {', '.join(str(p) for p in missing[:6])}; run "
                f"python -m hms stack --experiment {exp.name}, or pass --stack cnn"
            )
        for k in weights:
            FoldStack(exp, chosen, k)
    return f"{exp.name}: folds {weights}" + ("" if chosen == CNN_ONLY else f" with the {chosen} stack")


def stack_files(exp: ExperimentDir, feature_set: str, fold: int) -> list[Path]:
    """The files fold ``fold``'s stack of ``feature_set`` reads: its LightGBM model and sidecar (+ the fold's SAE or
    per-position SAE)."""
    model = exp.stack_model(feature_set, fold)
    saes = [exp.sae_weights(fold)] if needs(feature_set, "sae") else []
    saes += [exp.position_sae_weights(fold)] if needs(feature_set, "position_sae") else []
    return [model, model.with_suffix(".json"), *saes]


def predict_rows(
    comp: Competition,
    rows: pd.DataFrame,
    exp: ExperimentDir | str | Path,
    split: str = "test",
    folds: list[int] | None = None,
    feature_set: str | None = None,
    tta_swap: bool = True,
    batch_size: int = 16,
    timings: dict[str, float] | None = None,
) -> tuple[np.ndarray, dict[int, str]]:
    """Probabilities (n, 6) for label rows: every fold's model (-> SAE -> LightGBM when ``feature_set`` names a
    stack; None = the experiment's best.json, "cnn" = the fold models alone), averaged over folds; rows with no
    usable input get the training prior. Also returns the fallbacks by row position (``fallbacks``)."""
    exp = ExperimentDir.of(exp)
    timings = timings if timings is not None else {}
    prior = exp.read_prior()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    loaded = load_folds(exp, folds, device)
    feature_set = feature_set or default_feature_set(exp)
    stacks, sink = None, None
    if feature_set != CNN_ONLY:
        if not tta_swap:
            log.warning("the %s stack was trained on TTA-averaged embeddings; predicting with TTA on", feature_set)
            tta_swap = True
        stacks = [FoldStack(exp, feature_set, f.fold) for f in loaded]
        if needs(feature_set, "position_sae"):
            sink = PositionCodeSink([st.position_sae for st in stacks], len(rows), views=2)
    outputs, hand, problems = run_rows(
        comp,
        rows,
        split,
        loaded,
        tta_swap=tta_swap,
        hand=stacks is not None and needs(feature_set, "hand"),
        batch_size=batch_size,
        timings=timings,
        desc="predict",
        positions=sink,
    )
    with timed(timings, "stack"):
        if stacks is None:
            per_fold = [o.probs for o in outputs]
        else:
            peaks = sink.peak if sink is not None else [None] * len(stacks)
            given = [StackInputs(o, hand=hand, position_peak=pk) for o, pk in zip(outputs, peaks, strict=True)]
            per_fold = [st.predict(g) for g, st in zip(given, stacks, strict=True)]
    probs = np.mean(per_fold, axis=0)
    no_input = ~np.isfinite(outputs[0].probs).all(axis=1)  # run_rows raises on non-finite output of a real input
    probs[no_input] = prior
    return probs, fallbacks(problems, no_input, loaded[0].family.modalities)


def fallbacks(problems: dict[int, str], no_input: np.ndarray, modalities: tuple[str, ...]) -> dict[int, str]:
    """Row position -> "what was wrong -> what the row got", for every row that got the training prior or lost a
    modality the family reads (a problem with a modality the family does not read changes nothing: not listed)."""
    out = {}
    for i in np.flatnonzero(no_input):
        out[int(i)] = f"{problems.get(int(i), 'no usable input')} -> training prior"
    for i, problem in problems.items():
        if i in out:
            continue
        parts = [
            p
            for p in problem.split("; ")
            if ("eeg" in modalities and p.startswith("EEG"))
            or ("spectrogram" in modalities and p.startswith("spectrogram"))
        ]
        if parts:
            kept = "spectrogram" if parts[0].startswith("EEG") else "EEG"
            out[i] = f"{'; '.join(parts)} -> {kept} only"
    return out


def summarize_fallbacks(eeg_ids: np.ndarray, found: dict[int, str], what: str) -> str:
    """One line per distinct fallback, naming every row it hit."""
    groups: dict[str, list[int]] = {}
    for i, reason in sorted(found.items()):
        groups.setdefault(reason, []).append(int(eeg_ids[i]))
    lines = [f"{len(found)} {what} rows fell back:"] + [
        f"  {reason}: eeg_id {', '.join(map(str, ids))}" for reason, ids in groups.items()
    ]
    return "\n".join(lines)


def predict_test(
    comp: Competition,
    exp: ExperimentDir | str | Path,
    tta_swap: bool = True,
    batch_size: int = 16,
    feature_set: str | None = None,
) -> pd.DataFrame:
    """eeg_id + six probabilities for every test.csv row, in order; prints per-stage timings."""
    exp = ExperimentDir.of(exp)
    timings = {"read": 0.0, "front-end": 0.0, "model": 0.0, "stack": 0.0}
    test = comp.test()
    probs, problems = predict_rows(
        comp, test, exp, "test", feature_set=feature_set, tta_swap=tta_swap, batch_size=batch_size, timings=timings
    )
    if problems:
        log.warning(summarize_fallbacks(test["eeg_id"].to_numpy(), problems, f"{exp.name} test"))
    n = max(1, len(test))
    n_folds = len(exp.folds_with_weights())
    print("seconds per test EEG: " + ", ".join(f"{k} {v / n:.4f}" for k, v in timings.items()) + f" ({n_folds} folds)")
    out = pd.DataFrame(probs, columns=list(VOTE_COLS))
    out.insert(0, "eeg_id", test["eeg_id"].to_numpy())
    return out
