"""Scoring an experiment's out-of-fold predictions: the score table (per fold and OOF, all and golden eeg_ids, per-class
KL) and its leaderboard row (with, on simulated data, the Bayes floor, the class prior and the gap left)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hms import leaderboard
from hms.constants import CLASSES
from hms.data import Competition
from hms.data.labels import vote_probabilities
from hms.metric import kl_per_class, score_arrays
from hms.synth.simulate import bayes_floor


def score_table(eegs: pd.DataFrame, pred: np.ndarray) -> pd.DataFrame:
    """Scores per fold and out of fold, on all eeg_ids and on the golden subset, with per-class KL (golden)."""
    solution = vote_probabilities(eegs)
    rows = []
    folds = sorted(eegs["fold"].unique())
    for name, mask in [
        *((f"fold{k}", (eegs["fold"] == k).to_numpy()) for k in folds),
        ("oof", np.ones(len(eegs), bool)),
    ]:
        golden = mask & eegs["golden"].to_numpy()
        row: dict[str, float | int | str] = {
            "part": name,
            "n_eegs": int(mask.sum()),
            "n_golden": int(golden.sum()),
            "kl_all": score_arrays(solution[mask], pred[mask]),
            "kl_golden": score_arrays(solution[golden], pred[golden]) if golden.any() else float("nan"),
        }
        if golden.any():
            row.update(
                {
                    f"kl_{c}": float(v)
                    for c, v in zip(CLASSES, kl_per_class(solution[golden], pred[golden]), strict=True)
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)


def record_run(
    experiment: str,
    scores: pd.DataFrame,
    data_root: Path,
    golden_eegs: pd.DataFrame,
    minutes: float,
    files_dir: str | Path | None = None,
    **extra,
) -> None:
    """One leaderboard row: OOF scores, and on simulated data the Bayes floor, the class prior and the gap left."""
    overall = scores.set_index("part").loc["oof"]
    refs = simulated_references(data_root, golden_eegs)
    gap = float("nan")
    if refs and refs["class_prior_kl"] > refs["bayes_floor"]:
        gap = (overall["kl_golden"] - refs["bayes_floor"]) / (refs["class_prior_kl"] - refs["bayes_floor"])
    row = {
        "experiment": experiment,
        "oof_kl_all": float(overall["kl_all"]),
        "oof_kl_golden": float(overall["kl_golden"]),
        "bayes_floor": refs.get("bayes_floor"),
        "class_prior_kl": refs.get("class_prior_kl"),
        "gap_left": gap,
        "train_minutes": round(minutes, 2),
        "notes": f"data={data_root}",
    } | extra
    leaderboard.append(row, files_dir)


def simulated_references(data_root: Path, eegs: pd.DataFrame) -> dict[str, float]:
    """Bayes floor and class prior on exactly the golden eeg_ids that were scored (simulated data only)."""
    comp = Competition(Path(data_root))
    if not comp.simulated:
        return {}
    train = pd.read_csv(comp.train_csv)
    train = train[train["eeg_id"].isin(eegs["eeg_id"])]
    ref = bayes_floor(train, pd.read_csv(comp.oracle_csv))
    return {"bayes_floor": ref.get("bayes_floor", float("nan")), "class_prior_kl": ref.get("class_prior", float("nan"))}
