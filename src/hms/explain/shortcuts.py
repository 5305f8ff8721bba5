"""The planted-shortcut audit (simulated data): does a class's model rely on an artifact instead of the pattern?

For every (class, artifact kind) pair — the kinds the simulator can plant, :data:`SHORTCUT_ARTIFACTS` — with the
class's top SAE features (``hms.sae.causal``: chosen on the training part):

- **tie** (the data's side): on the fold's training rows, how well the artifact's load in a window tells the class's
  rows from the others, within each patient (AUROC over same-patient pairs): a shortcut exists only where the
  training data offers one. The simulator's own structure ties some artifacts to some patterns a little (blinks are
  rarer under LPD and commoner under LRDA: about 0.3 and 0.7 on ``bench``); a planted shortcut ties far more.

Then on the validation rows (unseen patients) heavy with the artifact and showing the class (its pattern under the
labelled 10 s; ``other``: no pattern), each beside its **counterfactual** — the same window drawn again by the
simulator without that artifact kind (``hms.explain.counterfactual``), everything else identical:

- **reliance**: the class's mean probability with the artifact minus without it (the model's side, no SAE);
- **ground-truth match**: a top feature matches when the artifact raises it, on average over those rows, by at least
  :data:`MATCH_RISE` of its typical activation;
- **causal effect**: ablating the matched features (spliced path) on those rows: the drop of the class's mean
  probability;
- **lift**: the model's class probability on heavy-artifact validation rows without the class minus on the other rows
  without it (a shortcut that acts outside the class too);
- **test-split KL change**: the competition KL on the test split (where the simulator plants no shortcut) with the
  matched features ablated minus without: negative when the model generalises better without them.

``flagged`` = the tie is at least :data:`TIE_AUROC`, removing the artifact lowers the class by at least
:data:`FLAG_DROP` (reliance), some top feature matches, ablating the matched features drops the class by at least
:data:`FLAG_DROP` too, and ablating them costs the test split at most :data:`TEST_KL_TOLERANCE` (a
feature the test split needs, where no tie was planted, is one the model uses rightly, whatever else it reads; without
a test split this last condition is not checked). Probabilities go through the spliced path (the head on the SAE's
reconstruction), so reliance and drop are in the same units. The audit never reads which shortcut was planted;
``planted`` (from ``synth_config.json``) is written beside the verdict so it can be checked. On real data there is no
ground truth: the table lists the pairs with empty evidence and says so."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from hms.constants import CLASSES
from hms.metric import kl_rows
from hms.sae.causal import NO_EDIT, CausalSplit, Chosen, Dictionary, Edit, edited_probabilities
from hms.sae.recovery import column_aurocs
from hms.synth.shortcuts import SHORTCUT_ARTIFACTS
from hms.synth.truth import PATTERN_CLASSES

TIE_AUROC = 0.8
MATCH_RISE = 0.25  # of a feature's typical activation
FLAG_DROP = 0.02
HEAVY_QUANTILE = 0.75
TEST_KL_TOLERANCE = 0.01
MIN_ROWS = 10  # counterfactual rows showing the class: fewer and the pair is not judged
COLUMNS = (
    "class",
    "artifact",
    "flagged",
    "planted",
    "tie_auroc",
    "reliance",
    "matched_features",
    "best_rise",
    "ablation_drop",
    "lift",
    "test_kl_change",
    "n_rows",
    "note",
)


@dataclass(frozen=True)
class Counterfactual:
    """Validation rows heavy with one artifact kind and their embedding views (n, V, d) drawn without it."""

    rows: np.ndarray  # indices into the validation rows
    views: np.ndarray


@dataclass(frozen=True)
class AuditInputs:
    """What the audit reads: the causal split (head, views, training / validation rows), the SAE as a dictionary,
    each class's chosen features, every row's planted factors, artifact loads and patient (aligned with the split's
    rows), the counterfactuals per artifact kind, and optionally the test split's views (n, V, d) and vote shares."""

    split: CausalSplit
    dictionary: Dictionary
    chosen: dict[str, Chosen]
    factors: pd.DataFrame  # hms.synth.truth.window_factors of the split's rows
    loads: pd.DataFrame  # hms.synth.truth.artifact_loads of the split's rows
    patients: np.ndarray  # patient_id of the split's rows
    counterfactuals: dict[str, Counterfactual] = field(default_factory=dict)
    test_views: np.ndarray | None = None
    test_targets: np.ndarray | None = None


def heavy(load: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Rows carrying much of an artifact: a load above zero and at least its HEAVY_QUANTILE over the ``reference``
    rows (default: all)."""
    load = np.asarray(load, float)
    reference = np.ones(len(load), bool) if reference is None else reference
    if not reference.any():
        return np.zeros(len(load), bool)
    return (load > 0) & (load >= np.quantile(load[reference], HEAVY_QUANTILE))


def within_patient_auroc(hit: np.ndarray, scores: np.ndarray, patients: np.ndarray) -> tuple[np.ndarray, int]:
    """Per column of ``scores``, the AUROC for ``hit`` over pairs of rows of the same patient (each patient's AUROC
    weighted by its pairs), and the number of such pairs."""
    total, pairs = np.zeros(scores.shape[1]), 0
    for patient in np.unique(patients):
        mine = patients == patient
        n_pos, n_neg = int(hit[mine].sum()), int((~hit[mine]).sum())
        if n_pos and n_neg:
            total += n_pos * n_neg * column_aurocs(hit[mine], scores[mine])
            pairs += n_pos * n_neg
    return (total / pairs if pairs else np.full(scores.shape[1], 0.5)), pairs


def class_present(factors: pd.DataFrame, name: str) -> np.ndarray:
    """Rows showing the class: its planted pattern under the labelled 10 s (``other``: no pattern)."""
    if name == "other":
        return ~factors[[f"pattern_{c}" for c in PATTERN_CLASSES]].any(axis=1).to_numpy()
    return factors[f"pattern_{name}"].to_numpy(bool)


def training_tie(inp: AuditInputs, name: str, artifact: str) -> float:
    """The training rows' within-patient AUROC of the artifact's load for the class's rows (0.5: no tie)."""
    train = inp.split.train
    inside = class_present(inp.factors[train], name)
    load = inp.loads[artifact].to_numpy()[train][:, None]
    score, pairs = within_patient_auroc(inside, load, inp.patients[train])
    return float(score[0]) if pairs else float("nan")


def _mean_class(inp: AuditInputs, views: np.ndarray, c: int, edit: Edit = NO_EDIT) -> float:
    return float(edited_probabilities(inp.split.head, inp.dictionary, views, edit)[:, c].mean())


def _codes(inp: AuditInputs, views: np.ndarray) -> np.ndarray:
    return inp.dictionary.scores(torch.from_numpy(np.ascontiguousarray(views[:, 0], dtype=np.float32))).numpy()


def _test_kl_change(inp: AuditInputs, features: tuple[int, ...]) -> float:
    if inp.test_views is None or inp.test_targets is None or not len(inp.test_views) or not features:
        return float("nan")
    base = edited_probabilities(inp.split.head, inp.dictionary, inp.test_views)
    ablated = edited_probabilities(inp.split.head, inp.dictionary, inp.test_views, Edit(ablate=features))
    return float(kl_rows(inp.test_targets, ablated).mean() - kl_rows(inp.test_targets, base).mean())


def _lift(inp: AuditInputs, c: int, inside: np.ndarray, load: np.ndarray) -> float:
    views = inp.split.views[inp.split.valid]
    loaded = heavy(load, ~inside)
    hit, rest = loaded & ~inside, ~loaded & ~inside
    if not hit.any() or not rest.any():
        return float("nan")
    return _mean_class(inp, views[hit], c) - _mean_class(inp, views[rest], c)


def audit_pair(inp: AuditInputs, name: str, artifact: str) -> dict:
    """One row of the audit (without ``planted``)."""
    c = CLASSES.index(name)
    valid = inp.split.valid
    inside = class_present(inp.factors[valid], name)
    tie = training_tie(inp, name, artifact)
    lift = _lift(inp, c, inside, inp.loads[artifact].to_numpy()[valid])
    record = {"class": name, "artifact": artifact, "flagged": False, "tie_auroc": tie, "lift": lift, "note": ""}
    twin = inp.counterfactuals.get(artifact)
    if twin is None:
        return record | {"n_rows": 0, "note": "no counterfactual rows (no validation row heavy with it)"}
    mine = inside[twin.rows]
    record["n_rows"] = int(mine.sum())
    if mine.sum() < MIN_ROWS:
        return record | {"note": "too few validation rows with the class and the artifact to judge"}
    with_views = inp.split.views[valid][twin.rows[mine]]
    without_views = twin.views[mine]
    features = list(inp.chosen[name].directions)
    typical = inp.dictionary.typical.numpy()[features].clip(min=1e-6)
    rise = (_codes(inp, with_views)[:, features] - _codes(inp, without_views)[:, features]).mean(0) / typical
    matched = tuple(j for j, r in zip(features, rise, strict=True) if r >= MATCH_RISE)
    base = _mean_class(inp, with_views, c)
    drop = base - _mean_class(inp, with_views, c, Edit(ablate=matched)) if matched else 0.0
    test_change = _test_kl_change(inp, matched)
    reliance = base - _mean_class(inp, without_views, c)
    relied = reliance >= FLAG_DROP and bool(matched) and drop >= FLAG_DROP and not test_change > TEST_KL_TOLERANCE
    return record | {
        "flagged": bool(tie >= TIE_AUROC) and relied,
        "reliance": reliance,
        "matched_features": " ".join(map(str, matched)),
        "best_rise": float(rise.max()),
        "ablation_drop": drop,
        "test_kl_change": test_change,
    }


def shortcut_audit(inp: AuditInputs, planted: list[tuple[str, str]]) -> pd.DataFrame:
    """The audit table: one row per (class, artifact kind) in :data:`COLUMNS` order; ``planted`` the pairs the
    simulation planted (ground truth, written beside the verdict, never read by it)."""
    rows = [
        audit_pair(inp, name, artifact) | {"planted": (name, artifact) in planted}
        for name in CLASSES
        for artifact in SHORTCUT_ARTIFACTS
    ]
    return pd.DataFrame(rows).reindex(columns=list(COLUMNS))


def unaudited(note: str) -> pd.DataFrame:
    """The table where the audit cannot run (real data: no ground truth), every pair listed with ``note``."""
    rows = [{"class": c, "artifact": a, "flagged": None, "note": note} for c in CLASSES for a in SHORTCUT_ARTIFACTS]
    return pd.DataFrame(rows).reindex(columns=list(COLUMNS))


def audit_words(table: pd.DataFrame, name: str) -> str:
    """The class section's sentence on the audit."""
    mine = table[table["class"] == name]
    if mine["flagged"].isna().all():
        return "Shortcut audit: not run (it needs the simulator's ground truth)."
    flagged = mine[mine["flagged"].astype(bool)]
    kinds = ", ".join(mine["artifact"])
    if flagged.empty:
        return f"Shortcut audit: none of its top features reads an artifact it relies on ({kinds} checked)."
    parts = [
        f"{r['artifact']} (features {r['matched_features']}: removing the artifact lowers {name} by "
        f"{r['reliance']:.3f}, ablating the features by {r['ablation_drop']:.3f}; test-split KL change "
        f"{r['test_kl_change']:+.4f})"
        for _, r in flagged.iterrows()
    ]
    return f"Shortcut audit: FLAGGED — the model reads {'; '.join(parts)}."
