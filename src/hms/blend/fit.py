"""``python -m hms blend``: blend the out-of-fold predictions of several models (any OOF files in the submission
format, or this repo's experiments) with one weight per model on its log-probabilities plus one bias per class,
fitted by minimising the competition KL on the rows with enough votes; scored honestly by nested cross-validation
(fit on K-1 patient-grouped folds, score the held-out fold) beside the equal-weight blend and the best single model.

The fitted :class:`~hms.blend.model.Blend` is written as ``blend.json``; ``submission.py`` applies it to the test
predictions of the same models."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import log_softmax
from sklearn.model_selection import GroupKFold

from hms.blend.model import LOG_FLOOR, Blend
from hms.constants import N_CLASSES, VOTE_COLS
from hms.data import Competition, DataError, eeg_level, read_train_csv
from hms.data.labels import vote_probabilities
from hms.experiment import ExperimentDir
from hms.io import write_csv
from hms.metric import score_arrays
from hms.plots import save_figure, subplots

KEYS = ("eeg_id", "eeg_sub_id")
SUM_TOLERANCE = 1e-3  # float32 OOF files sum to 1 within ~1e-6; anything further off is not a probability row


# -- reading and checking the inputs -------------------------------------------------------------------------------
def _prob_columns(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The six class columns as ``*_vote``, whichever naming the file uses (``*_vote`` or ``*_vote_prediction``)."""
    if set(VOTE_COLS) <= set(df.columns):
        return df
    alt = [f"{c}_prediction" for c in VOTE_COLS]
    if set(alt) <= set(df.columns):
        return df.drop(columns=[c for c in VOTE_COLS if c in df.columns]).rename(
            columns=dict(zip(alt, VOTE_COLS, strict=True))
        )
    raise DataError(f"{path}: needs the six columns {list(VOTE_COLS)} (or {alt}); has {list(df.columns)}")


def _check_values(values: np.ndarray, path: Path, probabilities: bool) -> None:
    if not np.isfinite(values).all():
        raise DataError(f"{path}: {int((~np.isfinite(values)).any(axis=1).sum())} rows hold NaN or infinite values")
    if (values < 0).any():
        raise DataError(f"{path}: {int((values < 0).any(axis=1).sum())} rows hold negative values")
    if probabilities:
        off = np.abs(values.sum(axis=1) - 1)
        if (off > SUM_TOLERANCE).any():
            raise DataError(
                f"{path}: {int((off > SUM_TOLERANCE).sum())} rows do not sum to 1 (worst off by "
                f"{off.max():.3g}); pass probabilities, not scores or logits"
            )


def _read_keyed(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    df = _prob_columns(pd.read_csv(path), path)
    if "eeg_id" not in df.columns:
        raise DataError(f"{path}: needs an eeg_id column")
    keys = [k for k in KEYS if k in df.columns]
    if df.duplicated(keys).any():
        raise DataError(f"{path}: {int(df.duplicated(keys).sum())} duplicate rows of {keys}")
    return df, keys


def read_solution(path: str | Path) -> tuple[pd.DataFrame, list[str], bool]:
    """(keys + six columns, key columns, whether the six columns are vote counts rather than probabilities)."""
    df, keys = _read_keyed(path)
    values = df[list(VOTE_COLS)].to_numpy(dtype=float)
    _check_values(values, Path(path), probabilities=False)
    sums = values.sum(axis=1)
    if (sums <= 0).any():
        raise DataError(f"{path}: {int((sums <= 0).sum())} rows have no votes")
    counts = bool((np.abs(sums - 1) > SUM_TOLERANCE).any())
    if not counts:
        _check_values(values, Path(path), probabilities=True)
    return df, keys, counts


def read_predictions(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    df, keys = _read_keyed(path)
    _check_values(df[list(VOTE_COLS)].to_numpy(dtype=float), Path(path), probabilities=True)
    return df, keys


@dataclass
class BlendData:
    """Rows common to the solution and every model: targets (n, 6), predictions (models, n, 6), groups, totals."""

    keys: pd.DataFrame
    target: np.ndarray
    preds: np.ndarray
    names: list[str]
    groups: np.ndarray
    totals: np.ndarray


def align(solution: str | Path, oofs: dict[str, str | Path], train: str | Path | None = None) -> BlendData:
    """Match every model's rows to the solution's on the key columns (eeg_id, and eeg_sub_id when all have it)."""
    if len(oofs) < 2:
        raise DataError(
            f"a blend needs at least two models, got {len(oofs)} ({list(oofs)}); pass --oof NAME=FILE once per model"
        )
    sol, sol_keys, counts = read_solution(solution)
    preds = {name: read_predictions(path) for name, path in oofs.items()}
    keys = [k for k in sol_keys if all(k in pk for _, pk in preds.values())]
    sol_rows = sol[keys].drop_duplicates()
    if len(sol_rows) != len(sol):
        raise DataError(
            f"{solution}: rows repeat on {keys} (the models' files have no eeg_sub_id): give one row per eeg_id in both"
        )
    stacked = []
    for name, (df, _) in preds.items():
        merged = sol[keys].merge(df[[*keys, *VOTE_COLS]], on=keys, how="left", indicator=True)
        missing = int((merged["_merge"] == "left_only").sum())
        if missing:
            raise DataError(f"{oofs[name]} ({name}): {missing} of the {len(sol)} solution rows ({keys}) are missing")
        stacked.append(merged[list(VOTE_COLS)].to_numpy(dtype=float))
    values = sol[list(VOTE_COLS)].to_numpy(dtype=float)
    target = values / values.sum(axis=1, keepdims=True)
    totals = values.sum(axis=1) if counts else np.full(len(sol), np.nan)
    groups = sol["eeg_id"].to_numpy()
    if train is not None:
        groups, from_train = _from_train(sol, keys, train)
        if not counts:
            totals = from_train
    return BlendData(sol[keys].reset_index(drop=True), target, np.stack(stacked), list(oofs), groups, totals)


def _from_train(sol: pd.DataFrame, keys: list[str], train_csv: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(patient_id per solution row, total votes per row: of the matching label row when the solution has
    eeg_sub_id, else of the eeg_id's first label row, which makes --min-votes 10 the golden subset)."""
    train = read_train_csv(train_csv)
    patients = train.drop_duplicates("eeg_id").set_index("eeg_id")["patient_id"]
    missing = ~sol["eeg_id"].isin(patients.index)
    if missing.any():
        raise DataError(f"{train_csv}: {int(missing.sum())} eeg_ids of the solution are not in it")
    votes = train[list(VOTE_COLS)].sum(axis=1)
    if "eeg_sub_id" in keys:
        table = train.assign(total=votes).set_index(["eeg_id", "eeg_sub_id"])["total"]
        index = pd.MultiIndex.from_frame(sol[["eeg_id", "eeg_sub_id"]])
        totals = table.reindex(index).to_numpy(dtype=float)
    else:
        totals = train.assign(total=votes).drop_duplicates("eeg_id").set_index("eeg_id")["total"]
        totals = totals.loc[sol["eeg_id"]].to_numpy(dtype=float)
    return patients.loc[sol["eeg_id"]].to_numpy(), totals


# -- fitting and scoring --------------------------------------------------------------------------------------------
def _loss_and_grad(params: np.ndarray, logp: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    m = logp.shape[0]
    w, b = params[:m], params[m:]
    z = np.tensordot(w, logp, axes=1) + b
    log_q = log_softmax(z, axis=-1)
    loss = float(-(target * log_q).sum(axis=1).mean())  # KL up to the (constant) entropy of the targets
    d = (np.exp(log_q) - target) / len(target)
    return loss, np.concatenate([np.einsum("mnc,nc->m", logp, d), d.sum(axis=0)])


def fit_blend(preds: np.ndarray, target: np.ndarray, names: list[str]) -> Blend:
    """Weights and class biases minimising the mean KL (L-BFGS with the exact gradient), from equal weights."""
    logp = np.log(np.clip(preds, LOG_FLOOR, 1.0))
    m = len(names)
    x0 = np.concatenate([np.full(m, 1.0 / m), np.zeros(N_CLASSES)])
    res = minimize(_loss_and_grad, x0, args=(logp, target), jac=True, method="L-BFGS-B")
    return Blend(list(names), res.x[:m].copy(), res.x[m:].copy())


def kl(probs: np.ndarray, target: np.ndarray) -> float:
    return score_arrays(target, probs / probs.sum(axis=1, keepdims=True))


def nested_scores(data: BlendData, rows: np.ndarray, n_folds: int) -> dict:
    """Held-out KL pooled over the outer folds of: the fitted blend, the equal-weight blend, the best single model
    (chosen on the training folds)."""
    idx = np.flatnonzero(rows)
    n_groups = len(np.unique(data.groups[idx]))
    k = min(n_folds, n_groups)
    if k < 2:
        raise DataError(f"only {n_groups} group(s) among the {len(idx)} rows with enough votes: nested CV needs two")
    fitted = np.zeros((len(idx), N_CLASSES))
    single = np.zeros((len(idx), N_CLASSES))
    picks = []
    for train_pos, test_pos in GroupKFold(n_splits=k).split(idx, groups=data.groups[idx]):
        tr, te = idx[train_pos], idx[test_pos]
        blend = fit_blend(data.preds[:, tr], data.target[tr], data.names)
        fitted[test_pos] = blend.apply(list(data.preds[:, te]))
        best = int(np.argmin([kl(p[tr], data.target[tr]) for p in data.preds]))
        picks.append(data.names[best])
        single[test_pos] = data.preds[best, te]
    equal = Blend.equal(data.names).apply(list(data.preds[:, idx]))
    target = data.target[idx]
    name = Counter(picks).most_common(1)[0][0]
    return {
        "blend": kl(fitted, target),
        "equal_weights": kl(equal, target),
        "best_single": kl(single, target),
        "best_single_name": name,
        "folds": k,
        "rows": int(len(idx)),
    }


def eligible(data: BlendData, min_votes: int) -> np.ndarray:
    if min_votes <= 0:
        return np.ones(len(data.target), bool)
    if np.isnan(data.totals).any():
        raise DataError(
            "the solution holds probabilities, so vote totals are unknown: pass --train TRAIN.csv (its "
            "vote counts) or --min-votes 0"
        )
    rows = data.totals >= min_votes
    if rows.sum() == 0:
        raise DataError(f"no row has at least {min_votes} votes; lower --min-votes")
    return rows


def run_blend(
    solution: str | Path,
    oofs: dict[str, str | Path],
    train: str | Path | None = None,
    min_votes: int = 10,
    out: str | Path | None = None,
    n_folds: int = 5,
) -> tuple[Blend, pd.DataFrame]:
    """Fit on every eligible row (blend.json), score by nested CV; returns the blend and the per-model table."""
    data = align(solution, oofs, train)
    rows = eligible(data, min_votes)
    blend = fit_blend(data.preds[:, rows], data.target[rows], data.names)
    nested = nested_scores(data, rows, n_folds)
    in_sample = kl(blend.apply(list(data.preds[:, rows])), data.target[rows])
    blend.scores = {**nested, "blend_in_sample": in_sample, "min_votes": min_votes}
    table = pd.DataFrame(
        {
            "model": data.names,
            "weight": blend.weights,
            "kl_alone": [kl(p[rows], data.target[rows]) for p in data.preds],
            "kl_alone_all_rows": [kl(p, data.target) for p in data.preds],
        }
    )
    if out is not None:
        out = Path(out)
        blend.save(out / "blend.json")
        write_csv(table, out / "models.csv")
        _plot_weights(table, nested, out / "weights.png")
    return blend, table


def _plot_weights(table: pd.DataFrame, nested: dict, path: Path) -> None:
    fig, (ax1, ax2) = subplots(1, 2, figsize=(10, 0.5 * len(table) + 2.5))
    ax1.barh(table["model"], table["weight"], color="#4c72b0")
    ax1.axvline(1 / len(table), color="grey", ls=":", label="equal weight")
    ax1.set_xlabel("weight on log-probabilities")
    ax1.legend(fontsize=8)
    ax2.barh(table["model"], table["kl_alone"], color="#dd8452")
    for value, label, style in (
        (nested["blend"], "blend (nested CV)", "-"),
        (nested["equal_weights"], "equal weights", "--"),
    ):
        ax2.axvline(value, color="black", ls=style, label=f"{label} {value:.3f}")
    ax2.set_xlabel("KL alone (rows with enough votes)")
    ax2.legend(fontsize=8)
    save_figure(fig, path)


def experiment_oofs(
    experiments: list[str], data: str | Path | None, out: Path, models_root: str | Path
) -> tuple[Path, dict[str, Path], Path]:
    """The ``--experiments A,B`` shortcut: each experiment's own oof.parquet as a prediction file, the eeg_id-level
    vote distribution of train.csv as the solution (written to ``out``), and train.csv for patients and totals."""
    comp = Competition.from_arg(data)
    train = comp.train(require_files=False)
    eegs = eeg_level(train)
    sol = pd.DataFrame(vote_probabilities(eegs), columns=list(VOTE_COLS))
    sol.insert(0, "eeg_id", eegs["eeg_id"].to_numpy())
    common = set(sol["eeg_id"])
    frames = {}
    for name in experiments:
        exp = ExperimentDir.named(name, models_root)
        if not exp.oof_parquet.is_file():
            raise DataError(f"{exp.oof_parquet}: missing; train the experiment first (python -m hms train ...)")
        frames[exp.name] = pd.read_parquet(exp.oof_parquet, columns=["eeg_id", *VOTE_COLS])
        common &= set(frames[exp.name]["eeg_id"])
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in frames.items():
        paths[name] = write_csv(frame[frame["eeg_id"].isin(common)], out / f"oof_{name}.csv")
    solution = write_csv(sol[sol["eeg_id"].isin(common)], out / "solution.csv")
    return solution, paths, comp.train_csv
