"""The planted-shortcut audit (simulated data): does a class's model rely on an artifact instead of the pattern?

For every (class, artifact kind) pair, over the fold's validation rows (unseen patients), with the class's top SAE
features (``hms.sae.causal``: chosen on the training part):

- **ground-truth match**: a top feature matches the artifact when its activation separates heavy-artifact rows
  from the others with AUROC at least :data:`MATCH_AUROC` *within* a stratum where the class cannot explain it: the
  class's rows (its pattern under the labelled 10 s; ``other``: no pattern), or the rest; and within each patient
  (pairs of rows of one patient only, pooled: an artifact rate that is a trait of a few patients would otherwise pass
  for a feature's preference). Heavy: at least the 75th percentile of the artifact's load in the window over the
  rows without the class, and some (``hms.synth.truth.artifact_loads``);
- **causal effect**: ablating the matched features (spliced path) on every heavy-artifact row, with the pattern or
  without: the drop of the class's mean probability (where a shortcut was learned, it acts most on the class's own
  rows that carry the artifact);
- **lift**: the model's own class probability on heavy-artifact rows without the pattern minus on the other rows
  without it (no SAE needed: the symptom the features explain);
- **test-split KL change**: the competition KL on the test split (where the simulator plants no shortcut) with the
  matched features ablated minus without: negative when the model generalises better without them.

``flagged`` = some top feature matches, ablating the matched features drops the class by at least
:data:`FLAG_DROP`, and ablating them costs the test split at most :data:`TEST_KL_TOLERANCE` (a feature the test split
needs, where no tie was planted, is one the model uses rightly, whatever else it reads; without a test split this
last condition is not checked). The audit never reads which shortcut was planted; ``planted`` (from
``synth_config.json``) is written beside the verdict so it can be checked. On real data there is no ground truth: the
table lists the pairs with empty evidence and says so."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from hms.constants import CLASSES
from hms.metric import kl_rows
from hms.sae.causal import NO_EDIT, CausalSplit, Chosen, Dictionary, Edit, edited_probabilities
from hms.sae.recovery import column_aurocs
from hms.synth.truth import ARTIFACT_KINDS, PATTERN_CLASSES

MATCH_AUROC = 0.75
FLAG_DROP = 0.02
HEAVY_QUANTILE = 0.75
TEST_KL_TOLERANCE = 0.01
MIN_ROWS = 10  # heavy-artifact rows, and others: fewer and the pair is not judged
MIN_PAIRS = 100  # within-patient (heavy, other) row pairs a stratum needs to judge a match
COLUMNS = (
    "class",
    "artifact",
    "flagged",
    "planted",
    "matched_features",
    "best_match_auroc",
    "ablation_drop",
    "lift",
    "test_kl_change",
    "n_heavy_rows",
    "note",
)


@dataclass(frozen=True)
class AuditInputs:
    """What the audit reads: the causal split (head, views, training / validation rows), the SAE as a dictionary,
    each class's chosen features, the validation rows' planted factors and artifact loads (aligned with the
    validation rows), and optionally the test split's views (n, V, d) and vote shares."""

    split: CausalSplit
    dictionary: Dictionary
    chosen: dict[str, Chosen]
    factors: pd.DataFrame  # hms.synth.truth.window_factors of the validation rows
    loads: pd.DataFrame  # hms.synth.truth.artifact_loads of the validation rows
    patients: np.ndarray  # patient_id of the validation rows
    test_views: np.ndarray | None = None
    test_targets: np.ndarray | None = None


def heavy(load: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rows carrying much of an artifact: a load above zero and at least its HEAVY_QUANTILE over the ``reference``
    rows (those without the class: the artifact's ordinary distribution)."""
    load = np.asarray(load, float)
    if not reference.any():
        return np.zeros(len(load), bool)
    return (load > 0) & (load >= np.quantile(load[reference], HEAVY_QUANTILE))


def within_patient_auroc(hit: np.ndarray, codes: np.ndarray, patients: np.ndarray) -> tuple[np.ndarray, int]:
    """Per column of ``codes``, the AUROC for ``hit`` over pairs of rows of the same patient (each patient's AUROC
    weighted by its pairs), and the number of such pairs."""
    total, pairs = np.zeros(codes.shape[1]), 0
    for patient in np.unique(patients):
        mine = patients == patient
        n_pos, n_neg = int(hit[mine].sum()), int((~hit[mine]).sum())
        if n_pos and n_neg:
            total += n_pos * n_neg * column_aurocs(hit[mine], codes[mine])
            pairs += n_pos * n_neg
    return (total / pairs if pairs else np.full(codes.shape[1], 0.5)), pairs


def stratified_match(hit: np.ndarray, codes: np.ndarray, patients: np.ndarray, strata: tuple) -> np.ndarray:
    """Per column of ``codes``, the largest within-patient AUROC for ``hit`` over the ``strata`` (row masks) with at
    least MIN_PAIRS pairs; 0.5 where none has."""
    best = np.full(codes.shape[1], 0.5)
    for stratum in strata:
        scores, pairs = within_patient_auroc(hit[stratum], codes[stratum], patients[stratum])
        if pairs >= MIN_PAIRS:
            best = np.maximum(best, scores)
    return best


def class_present(factors: pd.DataFrame, name: str) -> np.ndarray:
    """Rows showing the class: its planted pattern under the labelled 10 s (``other``: no pattern)."""
    if name == "other":
        return ~factors[[f"pattern_{c}" for c in PATTERN_CLASSES]].any(axis=1).to_numpy()
    return factors[f"pattern_{name}"].to_numpy(bool)


def _mean_class(inp: AuditInputs, views: np.ndarray, c: int, edit: Edit = NO_EDIT) -> float:
    return float(edited_probabilities(inp.split.head, inp.dictionary, views, edit)[:, c].mean())


def _test_kl_change(inp: AuditInputs, features: tuple[int, ...]) -> float:
    if inp.test_views is None or inp.test_targets is None or not len(inp.test_views) or not features:
        return float("nan")
    base = edited_probabilities(inp.split.head, inp.dictionary, inp.test_views)
    ablated = edited_probabilities(inp.split.head, inp.dictionary, inp.test_views, Edit(ablate=features))
    return float(kl_rows(inp.test_targets, ablated).mean() - kl_rows(inp.test_targets, base).mean())


def audit_pair(inp: AuditInputs, codes: np.ndarray, name: str, artifact: str) -> dict:
    """One row of the audit (without ``planted``); ``codes`` the validation rows' codes (n, d_sae), unswapped view."""
    c = CLASSES.index(name)
    views = inp.split.views[inp.split.valid]
    inside = class_present(inp.factors, name)
    loaded = heavy(inp.loads[artifact].to_numpy(), ~inside)
    record = {"class": name, "artifact": artifact, "n_heavy_rows": int(loaded.sum()), "note": ""}
    features = inp.chosen[name].directions
    if loaded.sum() < MIN_ROWS or (~loaded).sum() < MIN_ROWS:
        return record | {"flagged": False, "matched_features": "", "note": "too few rows to judge"}
    scores = stratified_match(loaded, codes[:, list(features)], inp.patients, (inside, ~inside))
    matched = tuple(j for j, a in zip(features, scores, strict=True) if a >= MATCH_AUROC)
    drop = 0.0
    if matched:
        drop = _mean_class(inp, views[loaded], c) - _mean_class(inp, views[loaded], c, Edit(ablate=matched))
    outside_hit, outside_rest = loaded & ~inside, ~loaded & ~inside
    test_change = _test_kl_change(inp, matched)
    lift = float("nan")
    if outside_hit.any() and outside_rest.any():
        lift = _mean_class(inp, views[outside_hit], c) - _mean_class(inp, views[outside_rest], c)
    return record | {
        "flagged": bool(matched) and drop >= FLAG_DROP and not test_change > TEST_KL_TOLERANCE,
        "matched_features": " ".join(map(str, matched)),
        "best_match_auroc": float(np.max(scores)),
        "ablation_drop": drop,
        "lift": lift,
        "test_kl_change": test_change,
    }


def shortcut_audit(inp: AuditInputs, planted: list[tuple[str, str]]) -> pd.DataFrame:
    """The audit table: one row per (class, artifact kind) in :data:`COLUMNS` order; ``planted`` the pairs the
    simulation planted (ground truth, written beside the verdict, never read by it)."""
    x = torch.from_numpy(np.ascontiguousarray(inp.split.views[inp.split.valid][:, 0], dtype=np.float32))
    codes = inp.dictionary.scores(x).numpy()
    rows = [
        audit_pair(inp, codes, name, artifact) | {"planted": (name, artifact) in planted}
        for name in CLASSES
        for artifact in ARTIFACT_KINDS
    ]
    return pd.DataFrame(rows).reindex(columns=list(COLUMNS))


def unaudited(note: str) -> pd.DataFrame:
    """The table where the audit cannot run (real data: no ground truth), every pair listed with ``note``."""
    rows = [{"class": c, "artifact": a, "flagged": None, "note": note} for c in CLASSES for a in ARTIFACT_KINDS]
    return pd.DataFrame(rows).reindex(columns=list(COLUMNS))


def audit_words(table: pd.DataFrame, name: str) -> str:
    """The class section's sentence on the audit."""
    mine = table[table["class"] == name]
    if mine["flagged"].isna().all():
        return "Shortcut audit: not run (it needs the simulator's ground truth)."
    flagged = mine[mine["flagged"].astype(bool)]
    kinds = ", ".join(mine["artifact"])
    if flagged.empty:
        return f"Shortcut audit: none of its top features reads an artifact ({kinds} checked)."
    parts = [
        f"{r['artifact']} (features {r['matched_features']}: ablating them drops {name} by "
        f"{r['ablation_drop']:.3f} on the rows heavy with it; test-split KL change "
        f"{r['test_kl_change']:+.4f})"
        for _, r in flagged.iterrows()
    ]
    return f"Shortcut audit: FLAGGED — the model reads {'; '.join(parts)}."
