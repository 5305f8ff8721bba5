"""Which label rows a training epoch sees: every row in stage 1, the high-vote rows in stage 2, and one row per draw
group drawn afresh each epoch (deterministic in seed and epoch). A draw group is an eeg_id (``train.row_draw: eeg``,
the default) or one of its label groups (``group``: the rows of an eeg_id with one vote vector — the organizers
copied one label to neighbouring windows, so each copied label counts once; the 3rd-place solution's selection)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hms.constants import VOTE_COLS
from hms.data.labels import total_votes

DRAW_KEY = "draw_key"  # the column epoch_rows groups by when present (else eeg_id)


def label_groups(rows: pd.DataFrame) -> np.ndarray:
    """An id per row for its (eeg_id, vote vector) group."""
    return rows.groupby(["eeg_id", *VOTE_COLS], sort=False).ngroup().to_numpy()


def with_draw_key(rows: pd.DataFrame, by: str) -> pd.DataFrame:
    """``rows`` with the column :data:`DRAW_KEY`: the eeg_id (``by="eeg"``) or the label group (``"group"``)."""
    if by not in ("eeg", "group"):
        raise ValueError(f"train.row_draw must be 'eeg' or 'group', got {by!r}")
    return rows.assign(**{DRAW_KEY: rows["eeg_id"].to_numpy() if by == "eeg" else label_groups(rows)})


def draw_size(rows: pd.DataFrame) -> int:
    """How many rows an epoch draws: one per draw group."""
    return int((rows[DRAW_KEY] if DRAW_KEY in rows else rows["eeg_id"]).nunique())


def epoch_rows(rows: pd.DataFrame, seed: int, epoch: int) -> pd.DataFrame:
    """One label row per draw group (:data:`DRAW_KEY`, else eeg_id), drawn afresh each epoch (deterministic in seed
    and epoch)."""
    rng = np.random.default_rng([seed, epoch])
    keys = rng.random(len(rows))
    groups = (rows[DRAW_KEY] if DRAW_KEY in rows else rows["eeg_id"]).to_numpy()
    pick = pd.Series(keys, index=rows.index).groupby(groups).idxmax()
    return rows.loc[np.sort(pick.to_numpy())].reset_index(drop=True)


def stage_rows(rows: pd.DataFrame, stage: int, min_votes: int) -> pd.DataFrame:
    """Stage 1 trains on every row; stage 2 on the high-vote rows (total votes >= min_votes)."""
    if stage == 1:
        return rows
    return rows.loc[total_votes(rows) >= min_votes].reset_index(drop=True)
