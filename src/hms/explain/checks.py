"""The checks ``hms explain`` runs on a fold's SAE beyond its statistics: the causal class checks with their
baselines and every feature's logit attribution (``hms.sae.causal``), each reported feature's own ablation effect, the
held-out score of its description (``hms.explain.descriptions``) and, on simulated data, the planted-shortcut audit
(``hms.explain.shortcuts``, with the windows drawn again without each artifact: ``hms.explain.counterfactual``;
real data gets the table with the reason it is empty)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from hms.constants import CLASSES
from hms.data import Competition
from hms.explain.counterfactual import counterfactuals
from hms.explain.descriptions import score_descriptions
from hms.explain.shortcuts import AuditInputs, shortcut_audit, unaudited
from hms.predict import LoadedFold, run_rows
from hms.sae.causal import CausalSplit, Chosen, causal_table, feature_effects
from hms.sae.model import SparseAutoencoder
from hms.synth.shortcuts import read_shortcuts
from hms.synth.truth import artifact_loads, read_events, test_targets, window_factors

log = logging.getLogger(__name__)
NO_TRUTH = "real data: no ground truth of artifacts (the audit runs on simulations: python -m hms synth --shortcut)"


@dataclass
class Checks:
    causal: pd.DataFrame  # causal.csv: per class and method, ablation / steering changes and selectivity
    dla: np.ndarray  # (d_sae, 6) direct logit attribution of every SAE feature
    chosen: dict[str, Chosen]  # each class's top features (chosen on the training part)
    effects: pd.DataFrame  # per reported feature, its own ablation effect on every class
    descriptions: pd.DataFrame  # per live feature, its training-part description and validation score
    shortcuts: pd.DataFrame  # shortcuts.csv


@dataclass(frozen=True)
class CheckInputs:
    """A fold's SAE, model and the label rows it has outputs for: their views (n, V, d), vote shares, band powers
    and rows (with ``fold``)."""

    comp: Competition
    loaded: LoadedFold
    sae: SparseAutoencoder
    rows: pd.DataFrame
    views: np.ndarray
    targets: np.ndarray
    hand: pd.DataFrame
    fold: int


def _test_split(comp: Competition, loaded: LoadedFold) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The fold's views of the test split and their vote shares (simulated data), or None when it has none."""
    test = comp.test()
    if not len(test) or not (comp.root / "test_votes.csv").is_file():
        return None, None
    (outputs,), _, _ = run_rows(comp, test, "test", [loaded], desc="test split")
    ok = np.isfinite(outputs.probs).all(axis=1)
    return outputs.views[ok], test_targets(comp.root, test["eeg_id"].to_numpy()[ok])


def run_checks(inp: CheckInputs, top: int, seed: int, features: list[int] | None = None) -> Checks:
    """Every check; ``features`` the ones whose own ablation effect is reported (default: the chosen ones)."""
    fold = inp.rows["fold"].to_numpy()
    split = CausalSplit(inp.loaded.model.head, inp.views, fold != inp.fold, fold == inp.fold)
    causal, extra = causal_table(split, inp.sae, top, seed)
    chosen = extra["chosen"]
    reported = features if features is not None else sorted({j for c in chosen.values() for j in c.directions})
    effects = feature_effects(split, extra["dictionary"], reported)
    view_codes = tuple(inp.sae.codes(torch.from_numpy(inp.views[:, v])).numpy() for v in (0, -1))
    codes = inp.sae.codes(torch.from_numpy(inp.views.mean(axis=1))).numpy()
    descriptions = score_descriptions(codes, view_codes, inp.targets, inp.hand, split.train)
    if inp.comp.simulated:
        events = read_events(inp.comp.root)
        test_views, test_y = _test_split(inp.comp, inp.loaded)
        loads = artifact_loads(inp.rows, events).reset_index(drop=True)
        factors = window_factors(inp.rows, events).reset_index(drop=True)
        valid = split.valid
        truth = (loads[valid].reset_index(drop=True), factors[valid].reset_index(drop=True))
        twins = counterfactuals(inp.comp, inp.loaded, inp.rows[valid], truth, seed)
        audit = AuditInputs(
            split,
            extra["dictionary"],
            chosen,
            factors,
            loads,
            inp.rows["patient_id"].to_numpy(),
            twins,
            test_views,
            test_y,
        )
        planted = [(s.cls, s.artifact) for s in read_shortcuts(inp.comp.root)]
        shortcuts = shortcut_audit(audit, planted)
    else:
        shortcuts = unaudited(NO_TRUTH)
    flagged = shortcuts[shortcuts["flagged"].fillna(False).astype(bool)]
    pairs = [f"{c}={a}" for c, a in zip(flagged["class"], flagged["artifact"], strict=True)]
    log.info("shortcut audit: %d flagged pair(s) %s", len(flagged), pairs)
    return Checks(causal, extra["dla"], chosen, effects, descriptions, shortcuts)


def feature_columns(checks: Checks, n_features: int) -> pd.DataFrame:
    """Per SAE feature (rows 0..n-1): DLA per class, its description's held-out score, its own ablation effects."""
    out = pd.DataFrame({f"dla_{c}": checks.dla[:, k] for k, c in enumerate(CLASSES)})
    scored = checks.descriptions.set_index("feature")["description_auroc"]
    out["description_auroc"] = scored.reindex(range(n_features)).to_numpy()
    effects = checks.effects.set_index("feature") if len(checks.effects) else pd.DataFrame()
    for c in CLASSES:
        col = f"effect_{c}"
        out[col] = effects[col].reindex(range(n_features)).to_numpy() if col in effects else np.nan
    return out
