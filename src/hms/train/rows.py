"""Which label rows a training epoch sees: every row in stage 1, the high-vote rows in stage 2, and one row per eeg_id
drawn afresh each epoch (deterministic in seed and epoch)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hms.data.labels import total_votes


def epoch_rows(rows: pd.DataFrame, seed: int, epoch: int) -> pd.DataFrame:
    """One label row per eeg_id, drawn afresh each epoch (deterministic in seed and epoch)."""
    rng = np.random.default_rng([seed, epoch])
    keys = rng.random(len(rows))
    pick = pd.Series(keys, index=rows.index).groupby(rows["eeg_id"].to_numpy()).idxmax()
    return rows.loc[np.sort(pick.to_numpy())].reset_index(drop=True)


def stage_rows(rows: pd.DataFrame, stage: int, min_votes: int) -> pd.DataFrame:
    """Stage 1 trains on every row; stage 2 on the high-vote rows (total votes >= min_votes)."""
    if stage == 1:
        return rows
    return rows.loc[total_votes(rows) >= min_votes].reset_index(drop=True)
