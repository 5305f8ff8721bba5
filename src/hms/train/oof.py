"""Out-of-fold predictions of a freshly trained fold: every distinct-vote label row of each validation eeg_id through
the family's (unaugmented) training inputs, with hemisphere-swap TTA, averaged per eeg_id weighted by votes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from hms.constants import VOTE_COLS
from hms.data.labels import dedupe_rows, eeg_average, total_votes
from hms.families import ModelFamily, TrainSource
from hms.predict import forward_views
from hms.signal.config import FrontEndConfig


def predict_eegs(
    model: torch.nn.Module,
    family: ModelFamily,
    rows: pd.DataFrame,
    source: TrainSource,
    frontend: FrontEndConfig,
    batch_size: int,
    tta_swap: bool,
    split: str = "train",
) -> pd.DataFrame:
    """eeg_id-level predictions (six probabilities + the embedding ``emb_*``)."""
    rows = dedupe_rows(rows) if split == "train" else rows.reset_index(drop=True)
    ds = family.train_dataset(rows, source, frontend, augment=None, split=split)
    probs, embs = [], []
    for batch in DataLoader(ds, batch_size=batch_size, shuffle=False):
        p, views = forward_views(model, family, batch["inputs"], frontend, tta_swap)
        probs.append(p)
        embs.append(views.mean(axis=1))
    probs_a, embs_a = np.concatenate(probs), np.concatenate(embs)
    w = total_votes(rows).to_numpy(dtype=float) if split == "train" else np.ones(len(rows))
    agg = eeg_average(rows["eeg_id"].to_numpy(), np.concatenate([probs_a, embs_a], axis=1), w)
    agg.columns = [*VOTE_COLS, *(f"emb_{i}" for i in range(embs_a.shape[1]))]
    return agg.reset_index()
