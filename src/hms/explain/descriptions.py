"""Scored descriptions: does a feature's plain-words description (``hms.sae.latents.describe``) predict where it
fires, on rows it was not written from?

The description is written from the training part's statistics of the fold; each of its factors becomes a per-row
value on the validation rows, standardised with the training part's mean and scale and signed as the description
says:

- the band ("delta2 2-4 Hz (r 0.42)"): the chain-averaged band power of the central 10 s, signed by r;
- the side ("left chains"): the left-minus-right lateral asymmetry in that band (right: its negative);
- the spread ("one-sided" / "bilateral"): the size of that asymmetry (bilateral: its negative);
- the class ("lrda (selectivity 0.58)"): the row's vote share of that class.

Their sum is the description's prediction, and its score the validation AUROC of that sum for the feature firing
(the simulation step of automated interpretability, with the factors computed instead of guessed by a language
model). 0.5: the description says nothing about where the feature fires."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hms.constants import CLASSES
from hms.sae.latents import describe, feature_table
from hms.sae.recovery import column_aurocs

VIEW = "eeg10"  # the band powers the descriptions are written from (hms.sae.latents.band_and_side)


def _band_power(hand: pd.DataFrame, band: str) -> np.ndarray:
    chains = [c for c in hand.columns if c.startswith(f"{VIEW}_") and c.endswith(f"_{band}") and "asym" not in c]
    return hand[chains].to_numpy(dtype=float).mean(axis=1)


def factor_values(stats: pd.Series, hand: pd.DataFrame, targets: np.ndarray) -> np.ndarray:
    """(n, factors): each factor of the feature's description on every row, signed as the description says."""
    asym = hand[f"{VIEW}_asym_lat_{stats['band']}"].to_numpy(dtype=float)
    columns = [np.sign(stats["band_corr"] or 1.0) * _band_power(hand, stats["band"])]
    if stats["side"] != "both":
        columns.append(asym if stats["side"] == "left" else -asym)
    columns.append(np.abs(asym) if stats["lateralization"] >= 0.5 else -np.abs(asym))
    columns.append(targets[:, CLASSES.index(stats["top_class"])])
    return np.nan_to_num(np.stack(columns, axis=1))


def description_score(stats: pd.Series, hand: pd.DataFrame, targets: np.ndarray, fires: np.ndarray, train) -> float:
    """Validation AUROC of the description's summed, standardised factors for ``fires`` (NaN when the feature fires
    on all or none of the validation rows)."""
    values = factor_values(stats, hand, targets)
    mean, scale = values[train].mean(0), values[train].std(0) + 1e-9
    prediction = ((values[~train] - mean) / scale).sum(1)
    y = fires[~train]
    if y.all() or not y.any():
        return float("nan")
    return float(column_aurocs(y, prediction[:, None])[0])


def score_descriptions(
    codes: np.ndarray, view_codes: tuple[np.ndarray, np.ndarray], targets: np.ndarray, hand: pd.DataFrame, train
) -> pd.DataFrame:
    """Per live feature: the description written from the ``train`` rows and its validation score (``~train``);
    ``view_codes`` the codes of the two hemisphere views (for the lateralization)."""
    train = np.asarray(train, bool)
    hand = hand.reset_index(drop=True)
    stats = feature_table(
        codes[train], view_codes[0][train], view_codes[1][train], targets[train], hand[train].reset_index(drop=True)
    )
    fires = codes > 0
    out = []
    for j, row in stats.iterrows():
        if row["density"] == 0:
            continue
        out.append(
            {
                "feature": int(j),
                "description_train": describe(row),
                "description_auroc": description_score(row, hand, targets, fires[:, j], train),
            }
        )
    return pd.DataFrame(out, columns=["feature", "description_train", "description_auroc"])
