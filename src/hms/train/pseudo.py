"""Pseudo-labels for the low-vote rows (``train.pseudo_teacher``: a trained experiment's name; the 8th and 15th
places' recipe): a training row with fewer than ``train.stage2_min_votes`` votes gets the target
``(1 - share) * votes + share * teacher`` (``train.pseudo_share``, default 0.9), its vote count kept, so its weight
in stage 1 is unchanged. The rows of the student's fold k are labelled by the teacher's own fold-k model only, and
only after checking on the teacher's ``folds.csv`` that every eeg_id of the student's fold-k validation part sits in
the teacher's fold k too — a teacher model that trained on those rows would leak them into the student's OOF."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hms.constants import VOTE_COLS
from hms.data import Competition, DataError
from hms.data.labels import total_votes, vote_probabilities
from hms.experiment import ExperimentDir
from hms.predict import load_fold, run_rows


def check_teacher_folds(teacher: ExperimentDir, fold: int, validation_eegs: np.ndarray) -> None:
    """``DataError`` naming the teacher's folds file unless the teacher's fold-k model never trained on any of the
    student's fold-k validation eeg_ids (they all lie in the teacher's fold k)."""
    folds = teacher.read_folds().set_index("eeg_id")["fold"]
    where = folds.reindex(pd.Index(validation_eegs)).to_numpy()
    leaked = np.asarray(validation_eegs)[~(where == fold)]
    if len(leaked):
        raise DataError(
            f"{teacher.folds_csv}: the teacher's fold {fold} model trained on {len(leaked)} eeg_id(s) of the "
            f"student's fold {fold} validation part (e.g. {int(leaked[0])}): its pseudo-labels would leak them. "
            "Train the teacher with the student's n_folds and seed on the same data."
        )


def pseudo_labelled(
    rows: pd.DataFrame, comp: Competition, teacher: ExperimentDir, fold: int, settings: tuple[int, float]
) -> pd.DataFrame:
    """``rows`` (the student's fold-``fold`` training part) with the votes of its low-vote rows replaced;
    ``settings``: (min_votes, share)."""
    min_votes, share = settings
    if not teacher.weights(fold).is_file():
        raise DataError(f"{teacher.weights(fold)}: the teacher has no fold {fold} model; train it first")
    low = (total_votes(rows) < min_votes).to_numpy()
    if not low.any():
        return rows
    (outputs,), _, _ = run_rows(comp, rows[low].reset_index(drop=True), "train", [load_fold(teacher, fold)])
    probs = np.where(np.isfinite(outputs.probs), outputs.probs, vote_probabilities(rows[low]))  # no input: own votes
    mixed = (1.0 - share) * vote_probabilities(rows[low]) + share * probs
    out = rows.copy()
    out[list(VOTE_COLS)] = out[list(VOTE_COLS)].astype(float)
    out.loc[low, list(VOTE_COLS)] = mixed * total_votes(rows[low]).to_numpy()[:, None]
    return out
