"""The dashboard's cards from a fold's checks: :func:`pooled_cards` for each class's causal top features of the
pooled SAE, :func:`position_cards` for each class's top per-position features (``hms.explain.positions``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hms.constants import CHAIN_NAMES, CLASSES
from hms.experiment import ExperimentDir
from hms.explain.checks import Checks
from hms.explain.dashboard import N_WINDOWS, Card, WindowSource, draw_windows, histogram, side_chains, truth_matches
from hms.sae.causal import PositionNetwork, position_feature_checks
from hms.sae.model import SparseAutoencoder
from hms.sae.position_codes import PositionCodes
from hms.sae.positions import PositionStore


def _classes_of(chosen: dict, j: int) -> list[str]:
    return [c for c, ch in chosen.items() if j in ch.directions]


def pooled_cards(
    checks: Checks, stats: pd.DataFrame, codes: np.ndarray, rows: pd.DataFrame, factors, source: WindowSource
) -> list[Card]:
    """``codes`` and ``rows``: the fold's validation rows (codes of the pooled SAE); ``factors`` their planted
    factors (None on real data)."""
    features = list(dict.fromkeys(j for ch in checks.chosen.values() for j in ch.directions))
    truths = truth_matches(codes[:, features], factors)
    scored = checks.descriptions.set_index("feature")
    effects = checks.effects.set_index("feature") if len(checks.effects) else pd.DataFrame()
    cols = [f"effect_{c}" for c in CLASSES]
    cards = []
    for j, truth in zip(features, truths, strict=True):
        order = np.argsort(-codes[:, j], kind="stable")[:N_WINDOWS]
        picks = [{"row": int(i), "activation": float(codes[i, j])} for i in order if codes[i, j] > 0]
        description = str(stats.loc[j, "description"])
        cards.append(
            Card(
                kind="pooled",
                feature=int(j),
                classes=_classes_of(checks.chosen, j),
                description=description,
                description_auroc=float(scored["description_auroc"].get(j, np.nan)),
                density=float((codes[:, j] > 0).mean()),
                histogram=histogram(codes[:, j]),
                dla=checks.dla[j],
                effects=effects.loc[j, cols].to_numpy(float) if j in effects.index else None,
                truth=truth,
                windows=draw_windows(source, rows, picks, lambda p, d=description: side_chains(d)),
            )
        )
    return cards


@dataclass(frozen=True)
class PositionFold:
    """A fold's per-position SAE as the dashboard reads it: the experiment and fold (its SAE, store and codes),
    every label row of the embedding cache and the network the features act through."""

    exp: ExperimentDir
    fold: int
    rows: pd.DataFrame
    net: PositionNetwork


def position_cards(pos: PositionFold, located: pd.DataFrame, factors_of, source: WindowSource) -> list[Card]:
    """``located``: the per-position features table (class, feature, auroc, peaks_at, ...); ``factors_of(rows)``
    the rows' planted factors (None on real data)."""
    codes = PositionCodes.load(pos.exp.position_codes(pos.fold))
    store = PositionStore.open(pos.exp.position_store_dir(pos.fold))
    cells = PositionStore.cells_of(pos.exp.position_store_dir(pos.fold))
    valid = np.flatnonzero(pos.rows["fold"].to_numpy()[codes.rows] == pos.fold)
    window_rows = pos.rows.iloc[codes.rows[valid]].reset_index(drop=True)
    peak, where = codes.peak[valid, 0], codes.where[valid, 0]
    features = list(dict.fromkeys(int(j) for j in located["feature"]))
    sae = SparseAutoencoder.load(pos.exp.position_sae_weights(pos.fold))
    dla, effects = position_feature_checks(pos.net, sae, store.valid, features)
    truths = truth_matches(peak[:, features], factors_of(window_rows))
    cards = []
    for k, (j, truth) in enumerate(zip(features, truths, strict=True)):
        mine = located[located["feature"] == j]
        order = np.argsort(-peak[:, j], kind="stable")[:N_WINDOWS]
        picks = [
            {
                "row": int(i),
                "activation": float(peak[i, j]),
                "cell": cells.iloc[int(where[i, j])].to_dict(),
                "position": int(where[i, j]),
                "n_positions": len(cells),
            }
            for i in order
            if peak[i, j] > 0
        ]
        cards.append(
            Card(
                kind="position",
                feature=j,
                classes=list(mine["class"]),
                description=f"peaks at {mine['peaks_at'].iloc[0]} (validation AUROC {mine['auroc'].max():.2f})",
                description_auroc=float("nan"),
                density=float((peak[:, j] > 0).mean()),
                histogram=histogram(peak[:, j]),
                dla=dla[k],
                effects=effects[k],
                truth=truth,
                windows=draw_windows(source, window_rows, picks, _cell_chains),
            )
        )
    return cards


def _cell_chains(pick: dict) -> tuple[str, ...]:
    chain = pick["cell"]["chain"]
    return (chain,) if chain else tuple(CHAIN_NAMES)
