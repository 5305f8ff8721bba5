"""The planted-shortcut audit (simulated data): does a class's model rely on an artifact instead of the pattern?

For every (class, artifact kind) pair, over the fold's validation rows (unseen patients), with the class's top SAE
features (``hms.sae.causal``: chosen on the training part):

- **ground-truth match**: a top feature matches the artifact when, among the rows *without* the class's pattern
  (for ``other``: the rows with a pattern), its activation separates heavy-artifact rows from the rest with AUROC at
  least :data:`MATCH_AUROC` (heavy: at least the 75th percentile of the artifact's load in the window, and some;
  ``hms.synth.truth.artifact_loads``). Outside the pattern, only an artifact detector can do that;
- **causal effect**: ablating the matched features (spliced path) on every heavy-artifact row, with the pattern or
  without: the drop of the class's mean probability (where a shortcut was learned, it acts most on the class's own
  rows that carry the artifact);
- **lift**: the model's own class probability on heavy-artifact rows without the pattern minus on the other rows
  without it (no SAE needed: the symptom the features explain);
- **test-split KL change**: the competition KL on the test split (where the simulator plants no shortcut) with the
  matched features ablated minus without: negative when the model generalises better without them.

``flagged`` = some top feature matches and ablating the matched features drops the class by at least
:data:`FLAG_DROP`. The audit never reads which shortcut was planted; ``planted`` (from ``synth_config.json``) is
written beside the verdict so it can be checked. On real data there is no ground truth: the table lists the pairs
with empty evidence and says so."""

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
MIN_ROWS = 10  # heavy-artifact rows, and others, without the class: fewer and the pair is not judged
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
    test_views: np.ndarray | None = None
    test_targets: np.ndarray | None = None


def heavy(load: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rows carrying much of an artifact: a load above zero and at least its HEAVY_QUANTILE over the ``reference``
    rows (those without the class: the artifact's ordinary distribution)."""
    load = np.asarray(load, float)
    if not reference.any():
        return np.zeros(len(load), bool)
    return (load > 0) & (load >= np.quantile(load[reference], HEAVY_QUANTILE))


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
    outside = ~class_present(inp.factors, name)
    loaded = heavy(inp.loads[artifact].to_numpy(), outside)
    hit = loaded & outside
    record = {"class": name, "artifact": artifact, "n_heavy_rows": int(hit.sum()), "note": ""}
    features = inp.chosen[name].directions
    if hit.sum() < MIN_ROWS or (outside & ~hit).sum() < MIN_ROWS:
        return record | {"flagged": False, "matched_features": "", "note": "too few rows to judge"}
    scores = column_aurocs(hit[outside], codes[outside][:, list(features)])
    matched = tuple(j for j, a in zip(features, scores, strict=True) if a >= MATCH_AUROC)
    drop = 0.0
    if matched:
        drop = _mean_class(inp, views[loaded], c) - _mean_class(inp, views[loaded], c, Edit(ablate=matched))
    return record | {
        "flagged": bool(matched) and drop >= FLAG_DROP,
        "matched_features": " ".join(map(str, matched)),
        "best_match_auroc": float(np.max(scores)),
        "ablation_drop": drop,
        "lift": _mean_class(inp, views[hit], c) - _mean_class(inp, views[outside & ~hit], c),
        "test_kl_change": _test_kl_change(inp, matched),
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
